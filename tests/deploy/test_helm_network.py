"""deploy/helm/scifikpi: network policies and the ingress.

Every pod is covered by ingress and egress policies; the gateway is reached from the ingress
controller only and the APIs through the gateway (and by Prometheus); egress is limited to the
dependencies; only payments-api/-scheduler reach the payment providers (HTTPS) and only
nft-scheduler the TON liteservers, never the cluster's own ranges; the Ingress routes to the
gateway Service.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import helm_python as helm
from _deploy_helpers import CHART_DIR, load_yaml
from _helm_helpers import (
    CLUSTER_RANGES,
    RELEASE,
    TON_GLOBAL_CONFIG,
    by_kind,
    ingress_peers,
    ip_blocks_admit,
    pod_templates,
    render,
    selects,
)


def test_every_pod_is_covered_by_ingress_and_egress_policies(production_docs: list) -> None:
    policies = by_kind(production_docs, "NetworkPolicy").values()
    for name, template in pod_templates(production_docs).items():
        labels = template["metadata"]["labels"]
        matching = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
        types = {t for p in matching for t in p["spec"]["policyTypes"]}
        assert "Egress" in types, name
        if not name.startswith("Job/"):
            assert "Ingress" in types, name


def test_gateway_is_reachable_from_the_ingress_controller_only(production_docs: list) -> None:
    policies = by_kind(production_docs, "NetworkPolicy")
    gateway = ingress_peers(policies["scifikpi-gateway-api"])
    assert {"kubernetes.io/metadata.name": "ingress-nginx"} in [
        p.get("namespaceSelector", {}).get("matchLabels") for p in gateway
    ]
    assert all("namespaceSelector" in p for p in gateway), (
        "no in-namespace pod may call the gateway directly"
    )
    auth = ingress_peers(policies["scifikpi-auth-api"])
    assert not any(
        p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        == "ingress-nginx"
        for p in auth
    )
    # auth: this release's pods (gateway, JWKS fetches) and Prometheus; nothing else.
    assert {"app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/part-of": "scifikpi"} in [
        p.get("podSelector", {}).get("matchLabels") for p in auth if "namespaceSelector" not in p
    ]
    assert len(auth) == 2
    for service in ("auth", "payments", "mining", "ledger", "nft", "analytics"):
        workers = ingress_peers(policies[f"scifikpi-{service}-workers"])
        assert len(workers) == 1 and workers[0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "monitoring"
        }
        assert policies[f"scifikpi-{service}-workers"]["spec"]["ingress"][0]["ports"] == [
            {"port": "metrics", "protocol": "TCP"}
        ]
    # payments (webhooks included), mining, ledger, nft and analytics (admin figures) are reached
    # through the gateway only, and by Prometheus.
    for service in ("payments", "mining", "ledger", "nft", "analytics"):
        peers = ingress_peers(policies[f"scifikpi-{service}-api"])
        assert len(peers) == 2, service
        assert [
            p.get("podSelector", {}).get("matchLabels")
            for p in peers
            if "namespaceSelector" not in p
        ] == [{"app.kubernetes.io/name": "gateway", "app.kubernetes.io/instance": RELEASE}]
        assert {"kubernetes.io/metadata.name": "monitoring"} in [
            p.get("namespaceSelector", {}).get("matchLabels") for p in peers
        ]


def test_egress_is_limited_to_the_dependencies(production_docs: list) -> None:
    policies = by_kind(production_docs, "NetworkPolicy")

    def ports(policy: dict[str, Any]) -> set[int]:
        return {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}

    auth = policies["scifikpi-auth-egress"]
    assert ports(auth) == {53, 5432, 9092, 6379, 4317, 4318}
    for service in ("payments", "mining", "ledger", "nft", "analytics"):
        assert ports(policies[f"scifikpi-{service}-egress"]) == ports(auth), service
    postgres = next(
        r for r in auth["spec"]["egress"] if {"port": 5432, "protocol": "TCP"} in r.get("ports", [])
    )
    assert postgres["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "scifikpi-pg"}}}]
    gateway = policies["scifikpi-gateway-egress"]
    assert ports(gateway) == {53, 6379, 4317, 4318}, "the gateway has no database and no Kafka"
    # Only this release's API pods are reachable without a port list (upstreams, JWKS).
    unrestricted = [r for r in gateway["spec"]["egress"] if "ports" not in r]
    assert unrestricted == [
        {
            "to": [
                {
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/instance": RELEASE,
                            "app.kubernetes.io/component": "api",
                        }
                    }
                }
            ]
        }
    ]


def test_only_payments_api_and_scheduler_reach_the_providers(production_docs: list) -> None:
    """HTTPS to outside the cluster (provider addresses are not fixed), never to the cluster's
    own ranges or the cloud metadata endpoint; only the pods that call providers get it."""
    policies = by_kind(production_docs, "NetworkPolicy")
    external = {n: p for n, p in policies.items() if n.endswith("-external")}
    assert set(external) == {"scifikpi-payments-external", "scifikpi-nft-external"}
    policy = external["scifikpi-payments-external"]
    assert policy["spec"]["policyTypes"] == ["Egress"]
    (rule,) = policy["spec"]["egress"]
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]
    blocks = [peer["ipBlock"] for peer in rule["to"]]
    assert len(blocks) == len(rule["to"]), "only ipBlock peers"
    v4 = next(b for b in blocks if b["cidr"] == "0.0.0.0/0")
    assert set(CLUSTER_RANGES) <= set(v4["except"])
    for block in blocks:
        net = ipaddress.ip_network(block["cidr"])
        for excluded in block.get("except", []):
            assert ipaddress.ip_network(excluded).subnet_of(net), (excluded, block["cidr"])

    # api.stripe.com / api.yookassa.ru resolve to public addresses; pods, Services, nodes and the
    # metadata endpoint do not pass.
    assert ip_blocks_admit(blocks, "54.187.174.169") and ip_blocks_admit(blocks, "185.71.76.10")
    assert ip_blocks_admit(blocks, "2a02:5180::1")
    for private in ("10.244.1.5", "172.20.0.10", "192.168.1.1", "169.254.169.254", "fd00::1"):
        assert not ip_blocks_admit(blocks, private), private

    selected = {
        name
        for name, template in pod_templates(production_docs).items()
        if selects(policy["spec"]["podSelector"], template["metadata"]["labels"])
    }
    assert selected == {
        "Deployment/scifikpi-payments-api",
        "Deployment/scifikpi-payments-scheduler",
    }


def test_only_the_nft_scheduler_reaches_the_ton_liteservers(
    chart: helm.Chart, production_docs: list
) -> None:
    """ADNL over TCP to liteservers whose addresses and ports are arbitrary: every TCP port (no
    UDP) to networkPolicy.internet, never the cluster's ranges, for nft-scheduler pods only;
    narrowing `to`/`ports` from values works."""
    policy = by_kind(production_docs, "NetworkPolicy")["scifikpi-nft-external"]
    assert policy["spec"]["policyTypes"] == ["Egress"]
    (rule,) = policy["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP"}], "every TCP port, nothing else"
    internet = load_yaml(CHART_DIR / "values.yaml")["networkPolicy"]["internet"]
    assert rule["to"] == internet
    blocks = [peer["ipBlock"] for peer in rule["to"]]

    # A public liteserver (the int32 `ip` of a global config, as an address) passes; pods,
    # Services, nodes and the metadata endpoint do not.
    assert ip_blocks_admit(
        blocks, str(ipaddress.ip_address(TON_GLOBAL_CONFIG["liteservers"][0]["ip"] % 2**32))
    )
    for private in ("10.244.1.5", "172.20.0.10", "192.168.1.1", "169.254.169.254", "fd00::1"):
        assert not ip_blocks_admit(blocks, private), private
    selected = {
        name
        for name, template in pod_templates(production_docs).items()
        if selects(policy["spec"]["podSelector"], template["metadata"]["labels"])
    }
    assert selected == {"Deployment/scifikpi-nft-scheduler"}
    # Private liteservers: their addresses and ports only.
    narrowed = render(
        chart,
        {
            "services": {
                "nft": {
                    "externalEgress": {
                        "anyPort": False,
                        "ports": [19949, 30001],
                        "to": [{"ipBlock": {"cidr": "203.0.113.0/28"}}],
                    }
                }
            }
        },
    )
    (rule,) = by_kind(narrowed, "NetworkPolicy")["scifikpi-nft-external"]["spec"]["egress"]
    assert rule == {
        "to": [{"ipBlock": {"cidr": "203.0.113.0/28"}}],
        "ports": [{"port": 19949, "protocol": "TCP"}, {"port": 30001, "protocol": "TCP"}],
    }


def test_ingress_routes_to_the_gateway_service(production_docs: list) -> None:
    (ingress,) = by_kind(production_docs, "Ingress").values()
    services = by_kind(production_docs, "Service")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"][0]["hosts"] == ["api.scifikpi.com"]
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "scifikpi-gateway-api"
            assert backend["port"]["name"] in {
                p["name"] for p in services[backend["name"]]["spec"]["ports"]
            }
