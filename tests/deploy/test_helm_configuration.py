"""deploy/helm/scifikpi: each service's configuration in the chart's values.

payments points at the real providers and trusts the gateway's forwarded address; mining and
ledger name their settings' defaults and share one mining-power block; nft runs on testnet by
default, with its metadata under the gateway's host, its custody key and the TON liteserver config
in nft-scheduler only, and mainnet refuses to render without a liteserver config.
"""

from __future__ import annotations

from pathlib import Path

import helm_python as helm
import pytest
from _deploy_helpers import CHART_DIR, MINING_POWER_VARS, load_yaml, settings_from_env
from _helm_helpers import TON_GLOBAL_CONFIG, by_kind, nft_scheduler_pod, pod_templates, render


def test_payments_default_configuration(default_docs: list) -> None:
    """The chart's own defaults point at the real providers over HTTPS and make webhooks work
    behind the gateway; the YooKassa shop id is per environment (production values set it)."""
    from payments.settings import YOOKASSA_PUBLISHED_NETWORKS

    data = by_kind(default_docs, "ConfigMap")["scifikpi-payments"]["data"]
    assert data["PAYMENTS_STRIPE_API_BASE"] == "https://api.stripe.com"
    assert data["PAYMENTS_YOOKASSA_API_BASE"] == "https://api.yookassa.ru/v3"
    assert data["PAYMENTS_HTTP_PORT"] == "8002"
    # Without trusted proxies every YooKassa notification would be judged by the gateway pod's
    # address and refused.
    assert data["PAYMENTS_TRUSTED_PROXIES"]
    allowlist = {n.strip() for n in data["PAYMENTS_YOOKASSA_IP_ALLOWLIST"].split(",")}
    assert allowlist == set(YOOKASSA_PUBLISHED_NETWORKS)
    assert data["PAYMENTS_YOOKASSA_RETURN_URL"].startswith("https://")
    gateway = by_kind(default_docs, "ConfigMap")["scifikpi-gateway"]["data"]
    assert gateway["GATEWAY_UPSTREAM_URLS__PAYMENTS"] == "http://scifikpi-payments-api:8002"


def test_mining_power_is_one_shared_block_for_ledger_and_mining(
    chart: helm.Chart, default_docs: list
) -> None:
    """MINING_R_* are written once (global.sharedEnv.miningPower) and reach exactly the ledger and
    mining ConfigMaps (and their migrations Jobs' inline env), identical; an override moves both."""
    from scifikpi_common.events.mining import MiningPowerSettings

    def power(docs: list) -> dict[str, dict[str, str]]:
        out = {}
        for name, cm in by_kind(docs, "ConfigMap").items():
            found = {k: v for k, v in cm["data"].items() if k in MINING_POWER_VARS}
            if found:
                out[name] = found
        return out

    defaults = {
        v: str(MiningPowerSettings.model_fields[v.lower()].default) for v in MINING_POWER_VARS
    }
    assert power(default_docs) == {"scifikpi-mining": defaults, "scifikpi-ledger": defaults}
    for service in ("mining", "ledger"):
        (container,) = by_kind(default_docs, "Job")[f"scifikpi-{service}-migrate"]["spec"][
            "template"
        ]["spec"]["containers"]
        inline = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        assert {v: inline[v] for v in MINING_POWER_VARS} == defaults
    override = {"MINING_R_PER_USD_MICRO_PER_HOUR": "250000"}
    docs = render(chart, {"global": {"sharedEnv": {"miningPower": override}}})
    assert power(docs) == {
        "scifikpi-mining": {**defaults, **override},
        "scifikpi-ledger": {**defaults, **override},
    }

    # A config change rolls both services' pods (the checksum annotation follows the ConfigMap).
    def checksum(docs: list, name: str) -> str:
        return by_kind(docs, "Deployment")[name]["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]

    for name in ("scifikpi-mining-scheduler", "scifikpi-ledger-api"):
        assert checksum(docs, name) != checksum(default_docs, name), name
    assert checksum(docs, "scifikpi-auth-api") == checksum(default_docs, "scifikpi-auth-api")
    with pytest.raises(helm.HelmError, match="nftPricing"):
        render(chart, {"services": {"ledger": {"sharedEnv": ["miningPower", "nftPricing"]}}})


def test_mining_and_ledger_default_configuration(default_docs: list) -> None:
    """The chart's own values name the documented defaults of the settings, and the gateway
    reaches both APIs."""
    from ledger.settings import LedgerSettings
    from mining.settings import MiningSettings

    configmaps = by_kind(default_docs, "ConfigMap")
    mining = configmaps["scifikpi-mining"]["data"]
    assert mining["MINING_HTTP_PORT"] == "8003"
    for var in ("SESSION_DURATION_S", "PRICE_PER_HOUR_MINOR", "MIN_ACCEL_MINOR", "QUOTE_TTL_S"):
        assert mining[f"MINING_{var}"] == str(MiningSettings.model_fields[var.lower()].default)
    ledger = configmaps["scifikpi-ledger"]["data"]
    assert ledger["LEDGER_HTTP_PORT"] == "8004"
    assert ledger["LEDGER_HOLD_TTL_S"] == str(LedgerSettings.model_fields["hold_ttl_s"].default)
    assert float(ledger["LEDGER_SWEEP_INTERVAL_S"]) == (
        LedgerSettings.model_fields["sweep_interval_s"].default
    )
    gateway = configmaps["scifikpi-gateway"]["data"]
    assert gateway["GATEWAY_UPSTREAM_URLS__MINING"] == "http://scifikpi-mining-api:8003"
    assert gateway["GATEWAY_UPSTREAM_URLS__LEDGER"] == "http://scifikpi-ledger-api:8004"
    # No application Secret and no calls out of the cluster.
    for service in ("mining", "ledger"):
        for name, template in pod_templates(default_docs).items():
            if template["metadata"]["labels"]["app.kubernetes.io/name"] != service:
                continue
            (container,) = template["spec"]["containers"]
            assert not any("secretRef" in s for s in container.get("envFrom", [])), name
    assert not {n for n in by_kind(default_docs, "NetworkPolicy") if n.endswith("-external")} - {
        "scifikpi-payments-external",
        "scifikpi-nft-external",
    }


def test_nft_default_configuration(default_docs: list) -> None:
    """The chart's values: the gateway's ingress host as the metadata base, the settings'
    collection defaults, the gateway reaches nft-api, testnet, the custody key Secret and calls
    out of the cluster in the scheduler only."""
    from nft.settings import NftSettings

    configmaps = by_kind(default_docs, "ConfigMap")
    nft = configmaps["scifikpi-nft"]["data"]
    assert nft["NFT_HTTP_PORT"] == "8005"
    gateway_values = load_yaml(CHART_DIR / "values.yaml")["services"]["gateway"]
    (host,) = [h["host"] for h in gateway_values["ingress"]["hosts"]]
    assert nft["NFT_PUBLIC_BASE_URL"] == f"https://{host}/api/v1"
    for var in ("COLLECTION_NAME", "COLLECTION_DESCRIPTION"):
        assert nft[f"NFT_{var}"] == NftSettings.model_fields[var.lower()].default
    assert "NFT_COLLECTION_IMAGE_URL" not in nft  # optional, left out of collection.json
    assert not set(MINING_POWER_VARS) & set(nft)
    gateway = configmaps["scifikpi-gateway"]["data"]
    assert gateway["GATEWAY_UPSTREAM_URLS__NFT"] == "http://scifikpi-nft-api:8005"
    assert nft["NFT_TON_NETWORK"] == "testnet"
    assert "NFT_TON_LITESERVER_CONFIG" not in nft, "testnet: the config bundled in the image"
    assert "scifikpi-nft-ton" not in by_kind(default_docs, "ConfigMap")
    for name, template in pod_templates(default_docs).items():
        if template["metadata"]["labels"]["app.kubernetes.io/name"] != "nft":
            continue
        (container,) = template["spec"]["containers"]
        signs = template["metadata"]["labels"]["app.kubernetes.io/component"] == "scheduler"
        secret_ref = {"secretRef": {"name": "scifikpi-nft-secrets"}}
        assert (secret_ref in container.get("envFrom", [])) is signs, name
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container.get("env", [])
            if "valueFrom" in e
        }
        if signs:
            assert refs["NFT_CUSTODY_PRIVATE_KEY"] == {
                "name": "scifikpi-nft-secrets",
                "key": "NFT_CUSTODY_PRIVATE_KEY",
            }, name
        else:
            assert "NFT_CUSTODY_PRIVATE_KEY" not in refs, name
        assert not any(
            e["name"] == "NFT_TON_LITESERVER_CONFIG" for e in container.get("env", [])
        ), name
        assert {v["name"] for v in template["spec"]["volumes"]} == {"tmp"}, name
    assert "scifikpi-nft-external" in by_kind(default_docs, "NetworkPolicy")


def test_nft_scheduler_mounts_the_liteserver_config(
    chart: helm.Chart, production_docs: list, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The TON global config: an existing ConfigMap (production) or one rendered from values,
    mounted read-only into nft-scheduler only, NFT_TON_LITESERVER_CONFIG pointing at it; its
    content rolls the scheduler; the file is one the nft service's loader accepts."""
    import json

    from nft.settings import NftSettings
    from nft.ton.lite import load_liteserver_config

    template = nft_scheduler_pod(production_docs)
    (container,) = template["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NFT_TON_LITESERVER_CONFIG"] == "/etc/scifikpi/ton/global.config.json"
    (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == "ton-config"]
    assert volume["configMap"] == {
        "name": "scifikpi-ton-mainnet",
        "items": [{"key": "global.config.json", "path": "global.config.json"}],
    }
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "ton-config"]
    assert mount == {"name": "ton-config", "mountPath": "/etc/scifikpi/ton", "readOnly": True}
    assert "scifikpi-nft-ton" not in by_kind(production_docs, "ConfigMap")
    assert by_kind(production_docs, "ConfigMap")["scifikpi-nft"]["data"]["NFT_TON_NETWORK"] == (
        "mainnet"
    )

    text = json.dumps(TON_GLOBAL_CONFIG, indent=2)
    values = {
        "services": {"nft": {"ton": {"network": "mainnet", "liteserverConfig": {"json": text}}}}
    }
    docs = render(chart, values)
    rendered = by_kind(docs, "ConfigMap")["scifikpi-nft-ton"]["data"]["global.config.json"]
    assert json.loads(rendered) == TON_GLOBAL_CONFIG
    template = nft_scheduler_pod(docs)
    (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == "ton-config"]
    assert volume["configMap"]["name"] == "scifikpi-nft-ton"
    annotations = template["metadata"]["annotations"]
    other = render(
        chart,
        {"services": {"nft": {"ton": {"network": "mainnet", "liteserverConfig": {"json": "{}"}}}}},
    )
    assert (
        annotations["checksum/ton-config"]
        != (nft_scheduler_pod(other)["metadata"]["annotations"]["checksum/ton-config"])
    )
    # Only the scheduler (and nft-admin in its pod) reaches the chain.
    for component in ("api", "worker", "relay"):
        pod = by_kind(docs, "Deployment")[f"scifikpi-nft-{component}"]["spec"]["template"]
        assert {v["name"] for v in pod["spec"]["volumes"]} == {"tmp"}, component
    # What the pod reads at mountPath/key is a config the service's loader accepts.
    path = tmp_path / "global.config.json"
    path.write_text(rendered)
    env = {"NFT_TON_NETWORK": "mainnet", "NFT_TON_LITESERVER_CONFIG": str(path)}
    settings = settings_from_env(monkeypatch, env, NftSettings)
    assert load_liteserver_config(settings)["liteservers"] == TON_GLOBAL_CONFIG["liteservers"]


def test_nft_mainnet_without_liteserver_config_fails_the_render(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmError, match="liteserverConfig"):
        render(chart, {"services": {"nft": {"ton": {"network": "mainnet"}}}})
    # local (test clusters): no config, no failure; the network reaches every nft process.
    docs = render(chart, {"services": {"nft": {"ton": {"network": "local"}}}})
    assert by_kind(docs, "ConfigMap")["scifikpi-nft"]["data"]["NFT_TON_NETWORK"] == "local"
    (container,) = by_kind(docs, "Job")["scifikpi-nft-migrate"]["spec"]["template"]["spec"][
        "containers"
    ]
    assert {"name": "NFT_TON_NETWORK", "value": "local"} in container["env"]
