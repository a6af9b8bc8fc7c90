"""Logs that reach Loki on Kubernetes (issue 13 point 5): the chart's Alloy DaemonSet runs
deploy/observability/alloy/kubernetes.alloy, whose structlog stages are the compose pipeline's,
reads only its own node's pods of the release, and renders to valid, least-privilege objects.

Alloy cannot run here (no binary in the registries we may use): the pipeline is checked as text
(components declared before use, the same stages as compose), the objects with kubernetes-validate.
"""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
from _deploy_helpers import CHART_DIR
from _helm_helpers import by_kind, kube_versions, pod_templates, render
from _observability_helpers import ALLOY_CONFIG, LOKI_RULES, rules, stream_selectors

K8S_ALLOY = ALLOY_CONFIG.parent / "kubernetes.alloy"
CHART_ALLOY = CHART_DIR / "files" / "alloy" / "kubernetes.alloy"
PUSH_URL = "http://loki-gateway.loki.svc/loki/api/v1/push"
ENABLED = {"logs": {"alloy": {"enabled": True, "lokiPushUrl": PUSH_URL}}}


def code(text: str) -> str:
    return re.sub(r"^\s*//[^\n]*\n", "", text, flags=re.MULTILINE)


def block(text: str, header: str) -> str:
    """The body of the first `header {...}` block (braces balanced)."""
    start = text.index(header)
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    raise AssertionError(f"unbalanced {header}")


def stages(process_body: str) -> list[str]:
    """The `stage.*` blocks of a loki.process body, whitespace-normalised, in order."""
    out = []
    for name in re.findall(r"^\s*(stage\.\w+)\s*\{", process_body, flags=re.MULTILINE):
        body = block(process_body, name) if name != "stage.cri" else ""
        out.append(name + " " + " ".join(body.split()))
        process_body = process_body[process_body.index(name) + len(name) :]
    return out


@pytest.fixture(scope="module")
def alloy_docs(chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart, ENABLED)


def test_the_chart_ships_the_kubernetes_pipeline_byte_for_byte() -> None:
    assert CHART_ALLOY.read_bytes() == K8S_ALLOY.read_bytes(), (
        f"copy {K8S_ALLOY} to {CHART_ALLOY} (Helm reads no file outside the chart)"
    )


def test_the_kubernetes_pipeline_is_wired_and_parses_lines_as_compose_does() -> None:
    text = code(K8S_ALLOY.read_text())
    assert text.count("{") == text.count("}")
    declared = set(re.findall(r'^([a-z_]+\.[a-z_]+)\s+"([a-z_]+)"\s*\{', text, flags=re.MULTILINE))
    references = set(
        re.findall(r"\b([a-z_]+\.[a-z_]+)\.([a-z_]+)\.(?:targets|rules|receiver|output)\b", text)
    )
    assert references and references <= declared, references - declared
    k8s = stages(block(text, 'loki.process "structlog"'))
    compose = stages(block(code(ALLOY_CONFIG.read_text()), 'loki.process "structlog"'))
    assert k8s[0] == "stage.cri ", k8s  # the runtime's framing comes off first
    assert k8s[1:] == compose
    # the labels the Loki rules select on are set here too
    labels = set(re.findall(r'target_label\s*=\s*"(\w+)"', text))
    labels |= set(re.findall(r"(\w+)\s*=", block(text, "stage.labels")))
    for rule in rules(LOKI_RULES):
        for matchers in stream_selectors(rule["expr"]):
            assert set(matchers) <= labels, (rule["alert"], set(matchers) - labels)
    assert 'url = sys.env("LOKI_PUSH_URL")' in text


def test_off_by_default(default_docs: list[dict[str, Any]]) -> None:
    assert not by_kind(default_docs, "DaemonSet")


def test_enabled_without_a_loki_url_fails_with_the_reason(chart: helm.Chart) -> None:
    with pytest.raises(Exception, match="logs.alloy.lokiPushUrl is required"):
        render(chart, {"logs": {"alloy": {"enabled": True}}})


def test_the_rendered_collector_is_valid_and_least_privilege(
    alloy_docs: list[dict[str, Any]],
) -> None:
    (daemonset,) = by_kind(alloy_docs, "DaemonSet").values()
    objects = [daemonset]
    for kind in ("ServiceAccount", "Role", "RoleBinding", "ConfigMap"):
        objects += [
            d for d in by_kind(alloy_docs, kind).values() if "alloy" in d["metadata"]["name"]
        ]
    assert {o["kind"] for o in objects} == {
        "DaemonSet",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
    }
    for doc in objects:
        for version in kube_versions():
            kubernetes_validate.validate(doc, version, strict=True)
    (role,) = [d for d in by_kind(alloy_docs, "Role").values() if "alloy" in d["metadata"]["name"]]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    assert not by_kind(alloy_docs, "ClusterRole")
    pod = daemonset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LOKI_PUSH_URL"]["value"] == PUSH_URL
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/var/log/pods"]["readOnly"] is True and mounts["/etc/alloy"]["readOnly"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (config_map,) = [
        d for d in by_kind(alloy_docs, "ConfigMap").values() if "alloy" in d["metadata"]["name"]
    ]
    assert config_map["data"]["config.alloy"] == K8S_ALLOY.read_text().rstrip("\n")


def test_it_collects_every_service_pod_and_not_itself(alloy_docs: list[dict[str, Any]]) -> None:
    text = code(K8S_ALLOY.read_text())
    selector = re.search(r'label\s*=\s*"([^"]+)"\s*\+\s*sys\.env\("SCIFIKPI_RELEASE"\)', text)
    assert selector, "the discovery selects this release's pods by label"
    wanted = dict(pair.split("=", 1) for pair in (selector.group(1) + "RELEASE").split(","))
    (daemonset,) = by_kind(alloy_docs, "DaemonSet").values()
    release = next(
        e["value"]
        for e in daemonset["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "SCIFIKPI_RELEASE"
    )
    wanted["app.kubernetes.io/instance"] = release
    pods = pod_templates(alloy_docs)
    services = {name: tpl for name, tpl in pods.items() if "alloy" not in name}
    assert len(services) >= 10, sorted(pods)
    for name, template in services.items():
        labels = template["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in wanted.items()), (name, labels)
        assert {"app.kubernetes.io/name", "app.kubernetes.io/component"} <= set(labels), name
    own = daemonset["spec"]["template"]["metadata"]["labels"]
    assert not all(own.get(k) == v for k, v in wanted.items()), "Alloy would tail itself"
