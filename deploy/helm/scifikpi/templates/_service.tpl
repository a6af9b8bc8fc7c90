{{/*
"scifikpi.service": everything one service needs, rendered from its values block.
The services are homogeneous (same image layout, settings, probes, process model), so each one is
this template with different values; templates/services.yaml calls it for every enabled service.
*/}}
{{- define "scifikpi.service" -}}
{{- $ctx := . -}}
{{- $svc := .svc -}}
{{- include "scifikpi.configMap" $ctx }}
{{- include "scifikpi.tonConfigMap" $ctx }}
{{- include "scifikpi.secrets" $ctx }}
{{- if $svc.api.enabled }}
{{- $c := merge (dict "component" "api" "block" $svc.api) $ctx }}
{{- include "scifikpi.deployment" $c }}
{{- include "scifikpi.apiService" $c }}
{{- include "scifikpi.hpa" $c }}
{{- include "scifikpi.pdb" $c }}
{{- end }}
{{- range $component := list "worker" "relay" "scheduler" }}
{{- $block := index $svc $component }}
{{- if $block.enabled }}
{{- $c := merge (dict "component" $component "block" $block) $ctx }}
{{- include "scifikpi.deployment" $c }}
{{- include "scifikpi.hpa" $c }}
{{- include "scifikpi.pdb" $c }}
{{- end }}
{{- end }}
{{- if $svc.migrations.enabled }}
{{- include "scifikpi.migrationsJob" (merge (dict "component" "migrate" "block" $svc.migrations) $ctx) }}
{{- end }}
{{- include "scifikpi.networkPolicies" $ctx }}
{{- include "scifikpi.podMonitor" $ctx }}
{{- include "scifikpi.ingress" $ctx }}
{{- end -}}

{{/* ---------------------------------------------------------------------------------------- */}}
{{- define "scifikpi.configMap" }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "scifikpi.serviceName" . }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
data:
  {{- include "scifikpi.configData" . | nindent 2 }}
{{- end }}

{{/*
TON (nft): the liteserver config. `ton.liteserverConfig.json` renders ConfigMap <svc>-ton;
`existingConfigMap` names one made outside the chart; mainnet without either fails the render
(the settings need a config for mainnet and the image bundles only testnet's).
*/}}
{{- define "scifikpi.tonConfigMap" }}
{{- with .svc.ton }}
{{- $lc := default dict .liteserverConfig }}
{{- if and (eq .network "mainnet") (not $lc.existingConfigMap) (not $lc.json) }}
{{- fail (printf "services.%s.ton.network is mainnet: set ton.liteserverConfig.existingConfigMap or ton.liteserverConfig.json (the TON global config of your liteservers)" $.name) }}
{{- end }}
{{- if and $lc.json (not $lc.existingConfigMap) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "scifikpi.serviceName" $ }}-ton
  labels:
    {{- include "scifikpi.labels" $ | nindent 4 }}
data:
  {{ $lc.key }}: |
    {{- $lc.json | trim | nindent 4 }}
{{- end }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding the liteserver config when this component mounts it ("" = none). */}}
{{- define "scifikpi.tonConfigMapName" -}}
{{- if and .svc.ton (eq (.component | default "") "scheduler") -}}
{{- $lc := default dict .svc.ton.liteserverConfig -}}
{{- if $lc.existingConfigMap -}}
{{- $lc.existingConfigMap -}}
{{- else if $lc.json -}}
{{- printf "%s-ton" (include "scifikpi.serviceName" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Development-only Secrets rendered from values. They are hooks (weight -10) so that they exist
before the migrations hook Job on the very first install; production uses existing Secrets.
*/}}
{{- define "scifikpi.secrets" }}
{{- $hook := dict "helm.sh/hook" "pre-install,pre-upgrade" "helm.sh/hook-weight" "-10" "helm.sh/hook-delete-policy" "before-hook-creation" }}
{{- if and .svc.secrets.create (not .svc.secrets.existingSecret) }}
{{- range .svc.secrets.keys }}
{{- if not (hasKey $.svc.secrets.data .) }}
{{- fail (printf "services.%s.secrets.data needs %s (listed in secrets.keys)" $.name .) }}
{{- end }}
{{- end }}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "scifikpi.appSecretName" . }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
  annotations:
    {{- toYaml $hook | nindent 4 }}
type: Opaque
stringData:
  {{- range $k, $v := .svc.secrets.data }}
  {{ $k }}: {{ $v | toString | quote }}
  {{- end }}
{{- end }}
{{- if and .svc.database.enabled .svc.database.password (not .svc.database.credentialsSecret) }}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "scifikpi.dbSecretName" . }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
    cnpg.io/reload: "true"
  annotations:
    {{- toYaml $hook | nindent 4 }}
type: kubernetes.io/basic-auth
stringData:
  username: {{ required (printf "services.%s.database.role is required" .name) .svc.database.role | quote }}
  password: {{ .svc.database.password | quote }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------- */}}
{{/*
Environment that is not in the ConfigMap: database URL from its Secret, the Secret keys the
service cannot run without (a missing one keeps the pod from starting), worker ports.
*/}}
{{- define "scifikpi.extraEnv" -}}
{{- if .svc.database.enabled }}
- name: DB_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "scifikpi.dbSecretName" . }}
      key: username
- name: DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "scifikpi.dbSecretName" . }}
      key: password
# Kubernetes expands $(VAR) from the variables defined above.
- name: DATABASE_URL
  value: {{ printf "postgresql+asyncpg://$(DB_USERNAME):$(DB_PASSWORD)@%s:%v/%s" (include "scifikpi.pgHost" .root) .root.Values.postgres.port .root.Values.postgres.database | quote }}
{{- end }}
{{- $appSecret := include "scifikpi.componentSecretName" . }}
{{- if $appSecret }}
{{- range .svc.secrets.keys }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $appSecret }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- if has .component (list "worker" "relay" "scheduler") }}
- name: {{ include "scifikpi.envPrefix" . }}_METRICS_PORT
  value: {{ .block.metricsPort | quote }}
{{- end }}
{{- if include "scifikpi.tonConfigMapName" . }}
- name: {{ include "scifikpi.envPrefix" . }}_TON_LITESERVER_CONFIG
  value: {{ printf "%s/%s" .svc.ton.liteserverConfig.mountPath .svc.ton.liteserverConfig.key | quote }}
{{- end }}
{{- end -}}

{{- define "scifikpi.podAnnotations" -}}
{{- if .root.Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/path: /metrics
prometheus.io/port: {{ ternary .svc.port .block.metricsPort (eq .component "api") | quote }}
{{- end }}
{{- with .svc.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The container and pod shared by Deployments and the migrations Job. */}}
{{- define "scifikpi.podSpec" -}}
{{- $root := .root -}}
{{- $appSecret := include "scifikpi.componentSecretName" . -}}
{{- $tonConfig := include "scifikpi.tonConfigMapName" . -}}
automountServiceAccountToken: false
{{- with $root.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- if ne .component "migrate" }}
terminationGracePeriodSeconds: {{ .block.terminationGracePeriodSeconds }}
{{- end }}
{{- with .svc.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if eq .component "api" }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "scifikpi.selectorLabels" . | nindent 8 }}
{{- end }}
containers:
  - name: {{ .component }}
    image: {{ include "scifikpi.image" . | quote }}
    imagePullPolicy: {{ $root.Values.global.image.pullPolicy }}
    command:
      {{- toYaml (required (printf "services.%s.%s.command is required" .name .component) .block.command) | nindent 6 }}
    {{- if eq .component "api" }}
    ports:
      - name: http
        containerPort: {{ .svc.port }}
        protocol: TCP
    {{- else if ne .component "migrate" }}
    ports:
      - name: metrics
        containerPort: {{ .block.metricsPort }}
        protocol: TCP
    {{- end }}
    {{- if or (ne .component "migrate") $appSecret }}
    envFrom:
      {{- if ne .component "migrate" }}
      - configMapRef:
          name: {{ include "scifikpi.serviceName" . }}
      {{- end }}
      {{- with $appSecret }}
      - secretRef:
          name: {{ . }}
      {{- end }}
    {{- end }}
    {{- $env := include "scifikpi.extraEnv" . | trim }}
    {{- if or $env (eq .component "migrate") }}
    env:
      {{- if eq .component "migrate" }}
      {{- /* A pre-install hook runs before the ConfigMap exists: same values, inline. */}}
      {{- range $k, $v := fromYaml (include "scifikpi.configData" .) }}
      - name: {{ $k }}
        value: {{ $v | toString | quote }}
      {{- end }}
      {{- end }}
      {{- with $env }}
      {{- . | nindent 6 }}
      {{- end }}
    {{- end }}
    {{- if eq .component "api" }}
    {{- $p := .block.probes }}
    startupProbe:
      httpGet:
        path: {{ $p.startup.path }}
        port: http
      periodSeconds: {{ $p.startup.periodSeconds }}
      failureThreshold: {{ $p.startup.failureThreshold }}
    livenessProbe:
      httpGet:
        path: {{ $p.liveness.path }}
        port: http
      periodSeconds: {{ $p.liveness.periodSeconds }}
      timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
      failureThreshold: {{ $p.liveness.failureThreshold }}
    readinessProbe:
      httpGet:
        path: {{ $p.readiness.path }}
        port: http
      periodSeconds: {{ $p.readiness.periodSeconds }}
      timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
      failureThreshold: {{ $p.readiness.failureThreshold }}
    {{- if .block.preStopSleepSeconds }}
    lifecycle:
      # Keep serving while the endpoint is removed from Services and the ingress.
      preStop:
        exec:
          command: ["python", "-c", "import time; time.sleep({{ .block.preStopSleepSeconds }})"]
    {{- end }}
    {{- else if ne .component "migrate" }}
    # Workers, relays and schedulers serve only /metrics on this port; it accepting connections
    # means the process and its event loop are alive. Their health beyond that shows in consumer
    # lag / outbox age / provider event age alerts.
    startupProbe:
      tcpSocket:
        port: metrics
      periodSeconds: 2
      failureThreshold: 30
    livenessProbe:
      tcpSocket:
        port: metrics
      periodSeconds: 15
      timeoutSeconds: 3
      failureThreshold: 4
    readinessProbe:
      tcpSocket:
        port: metrics
      periodSeconds: 10
      timeoutSeconds: 3
    {{- end }}
    resources:
      {{- toYaml .block.resources | nindent 6 }}
    securityContext:
      {{- toYaml $root.Values.containerSecurityContext | nindent 6 }}
    volumeMounts:
      # The root filesystem is read-only; libraries that need scratch space get /tmp.
      - name: tmp
        mountPath: /tmp
      {{- if $tonConfig }}
      # The TON global config (liteservers), read once at start: a change needs a restart.
      - name: ton-config
        mountPath: {{ .svc.ton.liteserverConfig.mountPath }}
        readOnly: true
      {{- end }}
volumes:
  - name: tmp
    emptyDir:
      medium: Memory
      sizeLimit: 64Mi
  {{- with $tonConfig }}
  - name: ton-config
    configMap:
      name: {{ . }}
      items:
        - key: {{ $.svc.ton.liteserverConfig.key }}
          path: {{ $.svc.ton.liteserverConfig.key }}
  {{- end }}
{{- end -}}

{{/* ---------------------------------------------------------------------------------------- */}}
{{- define "scifikpi.deployment" }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "scifikpi.componentName" . }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
spec:
  {{- if not .block.autoscaling.enabled }}
  replicas: {{ .block.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "scifikpi.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "scifikpi.labels" . | nindent 8 }}
      annotations:
        # Roll the pods when their configuration changes.
        checksum/config: {{ include "scifikpi.configData" . | sha256sum }}
        {{- if include "scifikpi.tonConfigMapName" . }}
        {{- with .svc.ton.liteserverConfig.json }}
        checksum/ton-config: {{ . | sha256sum }}
        {{- end }}
        {{- end }}
        {{- with include "scifikpi.podAnnotations" . | trim }}
        {{- . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "scifikpi.podSpec" . | nindent 6 }}
{{- end }}

{{- define "scifikpi.apiService" }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "scifikpi.componentName" . }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "scifikpi.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .svc.port }}
      targetPort: http
      protocol: TCP
{{- end }}

{{- define "scifikpi.hpa" }}
{{- if .block.autoscaling.enabled }}
{{- $a := .block.autoscaling }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "scifikpi.componentName" . }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "scifikpi.componentName" . }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
{{- end }}
{{- end }}

{{- define "scifikpi.pdb" }}
{{- if .block.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "scifikpi.componentName" . }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
spec:
  {{- if hasKey .block.pdb "minAvailable" }}
  minAvailable: {{ .block.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .block.pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "scifikpi.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/*
Migrations run once per release, before the new pods. With an external database that is
pre-install,pre-upgrade. When this chart creates the CloudNativePG Cluster, the database does not
exist before install, so the first run is post-install (the API pods wait on /readyz meanwhile;
the Job retries until the cluster accepts connections). Migrations must stay backward compatible
with the running version (expand, then contract in a later release).
*/}}
{{- define "scifikpi.migrationsJob" }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "scifikpi.componentName" . }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
  annotations:
    helm.sh/hook: {{ ternary "post-install,pre-upgrade" "pre-install,pre-upgrade" .root.Values.postgres.cnpg.enabled }}
    helm.sh/hook-weight: "0"
    # Keep the last run (and its logs) until the next one replaces it.
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  backoffLimit: {{ .block.backoffLimit }}
  activeDeadlineSeconds: {{ .block.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        {{- include "scifikpi.labels" . | nindent 8 }}
    spec:
      restartPolicy: Never
      {{- include "scifikpi.podSpec" . | nindent 6 }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------- */}}
{{/*
Ingress side: a service's API accepts the gateway, Prometheus and (gateway) the ingress controller
(auth also every pod of the release: the JWKS). Workers, relays and schedulers accept only
Prometheus.
Egress side: DNS, Postgres, Kafka, Redis, OTLP and the release's APIs, nothing else; with
`externalEgress`, the listed components also reach outside the cluster on the listed ports.
*/}}
{{- define "scifikpi.networkPolicies" }}
{{- $root := .root }}
{{- $np := $root.Values.networkPolicy }}
{{- if $np.enabled }}

{{- if .svc.api.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "scifikpi.componentName" (merge (dict "component" "api") .) }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "scifikpi.selectorLabels" (merge (dict "component" "api") .) | nindent 6 }}
  policyTypes: [Ingress]
  ingress:
    - from:
        {{- if .svc.public }}
        - namespaceSelector:
            {{- toYaml $np.ingressController.namespaceSelector | nindent 12 }}
          podSelector:
            {{- toYaml $np.ingressController.podSelector | nindent 12 }}
        {{- end }}
        {{- if .svc.allowFromAllServices }}
        - podSelector:
            matchLabels:
              app.kubernetes.io/instance: {{ $root.Release.Name }}
              app.kubernetes.io/part-of: scifikpi
        {{- else if ne .name "gateway" }}
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: gateway
              app.kubernetes.io/instance: {{ $root.Release.Name }}
        {{- end }}
        - namespaceSelector:
            {{- toYaml $np.prometheus.namespaceSelector | nindent 12 }}
          podSelector:
            {{- toYaml $np.prometheus.podSelector | nindent 12 }}
      ports:
        - port: http
          protocol: TCP
{{- end }}
{{- if or .svc.worker.enabled .svc.relay.enabled .svc.scheduler.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "scifikpi.componentName" (merge (dict "component" "workers") .) }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "scifikpi.selectorLabels" . | nindent 6 }}
    matchExpressions:
      - key: app.kubernetes.io/component
        operator: In
        values: [worker, relay, scheduler]
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector:
            {{- toYaml $np.prometheus.namespaceSelector | nindent 12 }}
          podSelector:
            {{- toYaml $np.prometheus.podSelector | nindent 12 }}
      ports:
        - port: metrics
          protocol: TCP
{{- end }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "scifikpi.componentName" (merge (dict "component" "egress") .) }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
spec:
  # Every pod of the service: API, worker, relay and the migrations Job.
  podSelector:
    matchLabels:
      {{- include "scifikpi.selectorLabels" . | nindent 6 }}
  policyTypes: [Egress]
  egress:
    - to:
        - namespaceSelector:
            {{- toYaml $np.dns.namespaceSelector | nindent 12 }}
          podSelector:
            {{- toYaml $np.dns.podSelector | nindent 12 }}
      ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    # The release's APIs (the gateway's upstreams; every service's JWKS fetch from auth).
    - to:
        - podSelector:
            matchLabels:
              app.kubernetes.io/instance: {{ $root.Release.Name }}
              app.kubernetes.io/component: api
    {{- if .svc.database.enabled }}
    - to:
        {{- if $root.Values.postgres.cnpg.enabled }}
        - podSelector:
            matchLabels:
              cnpg.io/cluster: {{ include "scifikpi.pgClusterName" $root }}
        {{- else }}
        {{- toYaml (required "networkPolicy.postgres.to is required with an external database" $np.postgres.to) | nindent 8 }}
        {{- end }}
      ports:
        {{- range $np.postgres.ports }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- if .svc.kafka }}
    - to:
        {{- toYaml $np.kafka.to | nindent 8 }}
      ports:
        {{- range $np.kafka.ports }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- if $root.Values.redis.url }}
    - to:
        {{- toYaml $np.redis.to | nindent 8 }}
      ports:
        {{- range $np.redis.ports }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- if $root.Values.global.otlpEndpoint }}
    - to:
        {{- toYaml $np.otlp.to | nindent 8 }}
      ports:
        {{- range $np.otlp.ports }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- $ext := .svc.externalEgress }}
{{- if $ext.enabled }}
---
# Outside the cluster (payment providers: HTTPS; TON liteservers: ADNL over TCP; addresses not
# fixed). Policies add up: these pods keep the egress above, plus this.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "scifikpi.componentName" (merge (dict "component" "external") .) }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "scifikpi.selectorLabels" . | nindent 6 }}
    matchExpressions:
      - key: app.kubernetes.io/component
        operator: In
        values:
          {{- toYaml (required (printf "services.%s.externalEgress.components is required" .name) $ext.components) | nindent 10 }}
  policyTypes: [Egress]
  egress:
    - to:
        {{- toYaml (required "networkPolicy.internet is required for externalEgress" (default $np.internet $ext.to)) | nindent 8 }}
      ports:
        {{- if $ext.anyPort }}
        # Every TCP port (no `port`): the peers' ports are not fixed.
        - protocol: TCP
        {{- else }}
        {{- range $ext.ports }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
        {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------------------------------- */}}
{{- define "scifikpi.podMonitor" }}
{{- $pm := .root.Values.metrics.podMonitor }}
{{- if $pm.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ include "scifikpi.serviceName" . }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
    {{- with $pm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "scifikpi.selectorLabels" . | nindent 6 }}
  podMetricsEndpoints:
    # API pods name their port "http", worker, relay and scheduler pods "metrics"; each pod
    # matches one. `process` (<service>-<component>, e.g. ledger-scheduler) as in the compose and
    # annotation-based scrape configs: the alerts on a missing scheduler select it.
    {{- range $port := list "http" "metrics" }}
    - port: {{ $port }}
      path: /metrics
      interval: {{ $pm.interval }}
      relabelings:
        - sourceLabels:
            - __meta_kubernetes_pod_label_app_kubernetes_io_name
            - __meta_kubernetes_pod_label_app_kubernetes_io_component
          separator: "-"
          targetLabel: process
    {{- end }}
{{- end }}
{{- end }}

{{- define "scifikpi.ingress" }}
{{- $ing := .svc.ingress }}
{{- if and $ing.enabled .svc.api.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "scifikpi.serviceName" . }}
  labels:
    {{- include "scifikpi.labels" . | nindent 4 }}
  {{- with $ing.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $ing.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with $ing.tls }}
  tls:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  rules:
    {{- $backend := include "scifikpi.componentName" (merge (dict "component" "api") .) }}
    {{- range required (printf "services.%s.ingress.hosts is required" .name) $ing.hosts }}
    - host: {{ .host | quote }}
      http:
        paths:
          {{- range .paths }}
          - path: {{ .path }}
            pathType: {{ .pathType }}
            backend:
              service:
                name: {{ $backend }}
                port:
                  name: http
          {{- end }}
    {{- end }}
{{- end }}
{{- end }}
