{{/*
Names, labels and the per-service values every template shares.
Templates that render one service take a context dict:
  root       the chart's top-level context ($)
  name       the service key under .Values.services (auth, gateway, ...)
  svc        that service's values merged over .Values.serviceDefaults
  component  api | worker | relay | migrate (where it applies)
*/}}

{{- define "scifikpi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scifikpi.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<service>" */}}
{{- define "scifikpi.serviceName" -}}
{{- printf "%s-%s" (include "scifikpi.fullname" .root) .name | trunc 55 | trimSuffix "-" -}}
{{- end -}}

{{/* "<fullname>-<service>-<component>" */}}
{{- define "scifikpi.componentName" -}}
{{- printf "%s-%s" (include "scifikpi.serviceName" .) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scifikpi.chartLabel" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scifikpi.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "scifikpi.labels" -}}
helm.sh/chart: {{ include "scifikpi.chartLabel" .root }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: scifikpi
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "scifikpi.selectorLabels" . }}
{{- end -}}

{{/* Labels for release-wide objects (no service). */}}
{{- define "scifikpi.commonLabels" -}}
helm.sh/chart: {{ include "scifikpi.chartLabel" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scifikpi
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* A service's values: serviceDefaults deep-merged with its own block (the block wins). */}}
{{- define "scifikpi.serviceValues" -}}
{{- $defaults := deepCopy .root.Values.serviceDefaults -}}
{{- $own := deepCopy (default dict (index .root.Values.services .name)) -}}
{{- mustMergeOverwrite $defaults $own | toYaml -}}
{{- end -}}

{{- define "scifikpi.envPrefix" -}}
{{- default (.name | upper | replace "-" "_") .svc.envPrefix -}}
{{- end -}}

{{- define "scifikpi.image" -}}
{{- $img := .svc.image -}}
{{- $g := .root.Values.global.image -}}
{{- $repo := default .name $img.repository -}}
{{- $ref := ternary $repo (printf "%s/%s" $g.registry $repo) (empty $g.registry) -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $ref $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (default (default .root.Chart.AppVersion $g.tag) $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* The CloudNativePG cluster's name. */}}
{{- define "scifikpi.pgClusterName" -}}
{{- printf "%s-pg" (include "scifikpi.fullname" .) | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "scifikpi.pgHost" -}}
{{- if .Values.postgres.cnpg.enabled -}}
{{- printf "%s-rw" (include "scifikpi.pgClusterName" .) -}}
{{- else -}}
{{- required "postgres.external.host is required when postgres.cnpg.enabled is false" .Values.postgres.external.host -}}
{{- end -}}
{{- end -}}

{{- define "scifikpi.dbSecretName" -}}
{{- default (printf "%s-db" (include "scifikpi.serviceName" .)) .svc.database.credentialsSecret -}}
{{- end -}}

{{/* The Secret a service reads through envFrom and `secrets.keys` ("" = none). */}}
{{- define "scifikpi.appSecretName" -}}
{{- if .svc.secrets.existingSecret -}}
{{- .svc.secrets.existingSecret -}}
{{- else if or .svc.secrets.create .svc.secrets.required .svc.secrets.keys -}}
{{- printf "%s-secrets" (include "scifikpi.serviceName" .) -}}
{{- end -}}
{{- end -}}

{{/* The app Secret as this component sees it: none when `secrets.components` lists others only
(a key only some processes need, e.g. the nft custody key for nft-scheduler). */}}
{{- define "scifikpi.componentSecretName" -}}
{{- if or (not .svc.secrets.components) (has .component (.svc.secrets.components | default list)) -}}
{{- include "scifikpi.appSecretName" . -}}
{{- end -}}
{{- end -}}

{{/* The auth API's JWKS endpoint unless global.jwksUrl overrides it. */}}
{{- define "scifikpi.jwksUrl" -}}
{{- if .Values.global.jwksUrl -}}
{{- .Values.global.jwksUrl -}}
{{- else -}}
{{- $auth := fromYaml (include "scifikpi.serviceValues" (dict "root" . "name" "auth")) -}}
{{- printf "http://%s-auth-api:%v/.well-known/jwks.json" (include "scifikpi.fullname" .) $auth.port -}}
{{- end -}}
{{- end -}}

{{/*
The service's plain configuration (a YAML map): its ConfigMap, and the migrations Job's inline
env (a pre-install hook runs before the ConfigMap exists). Names follow the pydantic-settings
variables: shared ones unprefixed, the service's own with its prefix. Order: global.env, then the
global.sharedEnv groups the service lists, then its own env (a later key wins).
*/}}
{{- define "scifikpi.configData" -}}
{{- $root := .root -}}
{{- $g := $root.Values.global -}}
{{- $prefix := include "scifikpi.envPrefix" . -}}
ENVIRONMENT: {{ $g.environment | quote }}
LOG_LEVEL: {{ $g.logLevel | quote }}
LOG_FORMAT: {{ $g.logFormat | quote }}
JWKS_URL: {{ include "scifikpi.jwksUrl" $root | quote }}
JWT_ISSUER: {{ $g.jwt.issuer | quote }}
JWT_AUDIENCE: {{ $g.jwt.audience | quote }}
FX_RATES: {{ $g.fxRates | toJson | quote }}
{{- if .svc.kafka }}
KAFKA_BOOTSTRAP_SERVERS: {{ $root.Values.kafka.bootstrapServers | quote }}
{{- end }}
{{- with $root.Values.redis.url }}
REDIS_URL: {{ . | quote }}
{{- end }}
{{- with $g.otlpEndpoint }}
OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{ $prefix }}_HTTP_HOST: "0.0.0.0"
{{ $prefix }}_HTTP_PORT: {{ .svc.port | quote }}
{{- with .svc.ton }}
{{ $prefix }}_TON_NETWORK: {{ .network | quote }}
{{- end }}
{{- range $upstream := .svc.upstreams }}
{{- $up := fromYaml (include "scifikpi.serviceValues" (dict "root" $root "name" $upstream)) }}
{{ $prefix }}_UPSTREAM_URLS__{{ $upstream | upper | replace "-" "_" }}: {{ printf "http://%s-%s-api:%v" (include "scifikpi.fullname" $root) $upstream $up.port | quote }}
{{- end }}
{{- range $k, $v := $g.env }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- range $group := .svc.sharedEnv }}
{{- if not (hasKey (default dict $g.sharedEnv) $group) }}
{{- fail (printf "services.%s.sharedEnv names %s, which global.sharedEnv does not define" $.name $group) }}
{{- end }}
{{- range $k, $v := index $g.sharedEnv $group }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}
{{- range $k, $v := .svc.env }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end -}}
