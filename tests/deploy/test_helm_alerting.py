"""Alerts that reach someone (issue 13 point 4): the chart's PrometheusRule carries exactly the
rule groups the compose stack mounts, and its generated alertmanager.yaml passes `amtool
check-config` and routes/inhibits by severity and service as docs/runbooks/alerting.md says.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from _deploy_helpers import CHART_DIR, load_yaml
from _helm_helpers import render
from _observability_helpers import ALERT_RULES, PROMETHEUS_K8S_CONFIG, promtool

#: the chart's defaults (values.yaml): alerting off
DEFAULTS: dict[str, Any] = {}
CHART_RULES = CHART_DIR / "files" / "prometheus-rules"
MOUNT = "/etc/alertmanager/secrets"
ENABLED: dict[str, Any] = {
    "alerting": {
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus"}},
        "alertmanager": {
            "enabled": True,
            "slack": {"enabled": True, "apiUrl": {"secretName": "am-slack", "key": "url"}},
            "email": {
                "enabled": True,
                "to": "oncall@example.org",
                "from": "alertmanager@example.org",
                "smarthost": "smtp.example.org:587",
                "authUsername": "alertmanager",
                "authPassword": {"secretName": "am-smtp", "key": "password"},
            },
            "pagerduty": {"enabled": True, "routingKey": {"secretName": "am-pd", "key": "key"}},
            "webhook": {
                "enabled": True,
                "url": "https://hooks.example.org/alerts",
                "bearerToken": {"secretName": "am-hook", "key": "token"},
            },
        },
    }
}


def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.skip("amtool not installed (Debian package `prometheus-alertmanager`)")
    return path


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Values as `helm -f a -f b` merges them (maps deep, the later wins)."""
    out: dict[str, Any] = {}

    def into(dst: dict[str, Any], src: dict[str, Any]) -> None:
        for k, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                into(dst[k], v)
            else:
                dst[k] = copy.deepcopy(v)

    for layer in layers:
        into(out, layer)
    return out


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def alerting_docs(chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart, merged(DEFAULTS, ENABLED))


@pytest.fixture(scope="module")
def am_config(
    alerting_docs: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    (secret,) = [
        d
        for d in alerting_docs
        if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-alertmanager")
    ]
    path = tmp_path_factory.mktemp("am") / "alertmanager.yaml"
    path.write_text(secret["stringData"]["alertmanager.yaml"])
    return path


def test_disabled_by_default_renders_nothing(chart: helm.Chart) -> None:
    docs = render(chart, DEFAULTS)
    assert not [d for d in docs if d["kind"] == "PrometheusRule"]
    assert not [d for d in docs if d["metadata"]["name"].endswith("-alertmanager")]


def test_chart_rules_are_the_compose_rules(alerting_docs: list[dict[str, Any]]) -> None:
    """The copy in the chart is byte-identical, and the rendered groups equal the file's."""
    assert sorted(p.name for p in CHART_RULES.iterdir()) == sorted(
        p.name for p in ALERT_RULES.parent.glob("*.yml")
    )
    for source in ALERT_RULES.parent.glob("*.yml"):
        assert (CHART_RULES / source.name).read_bytes() == source.read_bytes(), source.name
    (rule,) = [d for d in alerting_docs if d["kind"] == "PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus"
    assert rule["spec"]["groups"] == load_yaml(ALERT_RULES)["groups"]
    # Structure the operator's CRD requires (its schema is not bundled by kubernetes-validate).
    for group in rule["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"} and group["rules"]
        for r in group["rules"]:
            assert ("alert" in r) != ("record" in r) and isinstance(r["expr"], str), r


def test_rendered_rules_pass_promtool(alerting_docs: list[dict[str, Any]], tmp_path: Path) -> None:
    tool = promtool()
    (rule,) = [d for d in alerting_docs if d["kind"] == "PrometheusRule"]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    subprocess.run([tool, "check", "rules", str(path)], check=True, capture_output=True)


def test_alertmanager_config_passes_amtool(am_config: Path) -> None:
    out = subprocess.run([amtool(), "check-config", str(am_config)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 receivers" in out.stdout and "2 inhibit rules" in out.stdout, out.stdout


def test_secrets_by_reference_only(am_config: Path, alerting_docs: list[dict[str, Any]]) -> None:
    config = yaml.safe_load(am_config.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["critical"]["pagerduty_configs"][0]["routing_key_file"] == f"{MOUNT}/am-pd/key"
    assert receivers["critical"]["slack_configs"][0]["api_url_file"] == f"{MOUNT}/am-slack/url"
    assert (
        receivers["warning"]["email_configs"][0]["auth_password_file"]
        == f"{MOUNT}/am-smtp/password"
    )
    hook = receivers["default"]["webhook_configs"][0]
    assert hook["http_config"]["authorization"]["credentials_file"] == f"{MOUNT}/am-hook/token"
    text = am_config.read_text()
    for inline in ("api_url:", "routing_key:", "auth_password:", "service_key:", "credentials:"):
        assert inline not in text
    (secret,) = [d for d in alerting_docs if d["metadata"]["name"].endswith("-alertmanager")]
    assert (
        secret["metadata"]["annotations"]["scifikpi.io/alertmanager-secrets"]
        == "am-hook,am-pd,am-slack,am-smtp"
    )


def test_missing_secret_reference_fails(chart: helm.Chart) -> None:
    values = merged(
        DEFAULTS,
        ENABLED,
        {"alerting": {"alertmanager": {"pagerduty": {"routingKey": {"secretName": ""}}}}},
    )
    with pytest.raises(Exception, match="pagerduty.routingKey"):
        render(chart, values)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            {"severity": "critical", "service": "payments", "alertname": "HttpErrorRateHigh"},
            "critical",
        ),
        (
            {"severity": "warning", "service": "ledger", "alertname": "LedgerHoldSweeperDown"},
            "warning",
        ),
        ({"alertname": "Watchdog"}, "default"),
        ({"severity": "info", "service": "auth"}, "default"),
    ],
)
def test_routing_by_severity(am_config: Path, labels: dict[str, str], receivers: str) -> None:
    args = [f"{k}={v}" for k, v in labels.items()]
    out = subprocess.run(
        [
            amtool(),
            "config",
            "routes",
            "test",
            f"--config.file={am_config}",
            f"--verify.receivers={receivers}",
            *args,
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_receivers_carry_the_integrations(am_config: Path) -> None:
    """critical pages (PagerDuty) and chats (Slack); warning chats and mails; rest -> webhook."""
    receivers = {
        r["name"]: set(r) - {"name"} for r in yaml.safe_load(am_config.read_text())["receivers"]
    }
    assert receivers == {
        "critical": {"pagerduty_configs", "slack_configs"},
        "warning": {"slack_configs", "email_configs"},
        "default": {"webhook_configs"},
    }


def test_inhibition_by_service(am_config: Path) -> None:
    """A critical alert mutes warnings of its service; a down target mutes that service's others.

    Both need `service` on both sides: an inhibit rule's `equal` treats two missing labels as
    equal, so without `service=~".+"` one unlabelled alert would mute every unlabelled one.
    """
    rules = yaml.safe_load(am_config.read_text())["inhibit_rules"]
    assert all(r["equal"] == ["service"] for r in rules)
    down = [r for r in rules if 'alertname="ServiceTargetDown"' in r["source_matchers"]]
    assert (
        down
        and 'service=~".+"' in down[0]["source_matchers"]
        and 'service=~".+"' in down[0]["target_matchers"]
    )
    names = {r["alert"] for r in _alerts()}
    assert "ServiceTargetDown" in names


def _alerts() -> list[dict[str, Any]]:
    return [r for g in load_yaml(ALERT_RULES)["groups"] for r in g["rules"] if "alert" in r]


def test_kubernetes_scrape_config_is_valid(tmp_path: Path) -> None:
    """promtool checks the Kubernetes scrape config (its rule_files glob points at the cluster).

    Debian builds Prometheus without Kubernetes discovery, so its promtool rejects the field:
    then the pod role is checked here and promtool validates the rest (relabelling included)
    with the discovery swapped for an empty static target list.
    """
    tool = promtool()
    config = load_yaml(PROMETHEUS_K8S_CONFIG)
    config["rule_files"] = [str(ALERT_RULES)]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    out = subprocess.run([tool, "check", "config", str(path)], capture_output=True, text=True)
    if "kubernetes_sd_configs not found" in out.stdout + out.stderr:
        for job in config["scrape_configs"]:
            sd = job.pop("kubernetes_sd_configs", None)
            if sd is not None:
                assert [c["role"] for c in sd] == ["pod"], job["job_name"]
                job["static_configs"] = [{"targets": []}]
        path.write_text(yaml.safe_dump(config))
        out = subprocess.run([tool, "check", "config", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr
