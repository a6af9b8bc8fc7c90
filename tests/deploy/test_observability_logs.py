"""deploy/observability: logs (Loki and Alloy).

Loki rules select only labels the Alloy pipeline sets and structlog levels that exist; the Loki
config fits the compose stack (tenant rules directory, Alertmanager); the Alloy pipeline's
components reference only components it declares and push to compose's Loki.
"""

from __future__ import annotations

import re
from typing import Any

from _deploy_helpers import load_yaml
from _observability_helpers import (
    ALLOY_CONFIG,
    LOKI_CONFIG,
    LOKI_RULES,
    SEVERITIES,
    STRUCTLOG_LEVELS,
    alloy_labels,
    rules,
    stream_selectors,
)


def test_loki_rules_use_labels_that_alloy_sets() -> None:
    labels = alloy_labels()
    assert {"service", "level", "container"} <= labels
    loki_rules = rules(LOKI_RULES)
    assert loki_rules
    for rule in loki_rules:
        assert "alert" in rule and rule["labels"]["severity"] in SEVERITIES
        selectors = stream_selectors(rule["expr"])
        assert selectors, rule["alert"]
        for matchers in selectors:
            assert set(matchers) <= labels, (
                f"{rule['alert']}: {set(matchers) - labels} is never set by Alloy"
            )
            for level in re.split(r"\|", matchers.get("level", "")):
                assert not level or level in STRUCTLOG_LEVELS, level
        assert re.search(r"\b(rate|count_over_time|sum)\b", rule["expr"])
    assert any("error" in r["expr"] for r in loki_rules), "an error-rate rule per service"


def test_loki_config_fits_the_compose_stack(compose: dict[str, Any]) -> None:
    config = load_yaml(LOKI_CONFIG)
    assert config["auth_enabled"] is False
    (schema,) = config["schema_config"]["configs"]
    assert (schema["store"], schema["schema"]) == ("tsdb", "v13")
    ruler = config["ruler"]
    rules_dir = ruler["storage"]["local"]["directory"]
    loki = compose["services"]["loki"]
    # Without auth the tenant is "fake": rules live in <directory>/fake/.
    assert f"./deploy/observability/loki/rules:{rules_dir}/fake:ro" in loki["volumes"]
    assert "-config.file=/etc/loki/loki.yml" in loki["command"]
    assert ruler["alertmanager_url"].split("//", 1)[1].split(":")[0] in compose["services"]
    assert config["server"]["http_listen_port"] == 3100


def test_alloy_pipeline_references_declared_components_and_pushes_to_loki() -> None:
    text = ALLOY_CONFIG.read_text()
    code = re.sub(r"^\s*//[^\n]*", "", text, flags=re.MULTILINE)  # whole-line comments
    assert code.count("{") == code.count("}")
    declared = set(re.findall(r'^([a-z_]+\.[a-z_]+)\s+"([a-z_]+)"\s*\{', code, flags=re.MULTILINE))
    assert declared
    references = set(
        re.findall(r"\b([a-z_]+\.[a-z_]+)\.([a-z_]+)\.(?:targets|rules|receiver)\b", code)
    )
    assert references and references <= declared, references - declared
    assert 'url = "http://loki:3100/loki/api/v1/push"' in code
    assert "com.docker.compose.project=scifikpi" in code
