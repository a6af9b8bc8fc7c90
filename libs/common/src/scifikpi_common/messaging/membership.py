"""How a worker process joins its consumer groups (docs/adr/0011-consumer-groups.md).

Without an instance id a member is dynamic: each restart leaves (SIGTERM) or times out of
(SIGKILL) the group and joins as a new member, and both moves rebalance the whole group. With
`instance_id` set the member is static (KIP-345, `group.instance.id`): a restart rejoins as the
same member and gets its old partitions back without a rebalance, provided it comes back within
`session_timeout_ms`. Each subscriber is its own group member, so its static id is
`<instance_id>.<topic>` (two subscribers of one group must not share an id).

The id must be stable per process slot and unique in the group: the pod name of a StatefulSet
pod, or the host name plus the process role. Two workers of one service on one host need distinct
`CONSUMER_INSTANCE_ID`s, or the broker fences one of them.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Membership:
    """Group membership options of one worker process."""

    instance_id: str | None = None
    #: None keeps aiokafka's 10 s. Kafka lets a static member have a longer one (a slow restart
    #: still avoids the rebalance), but Tansu holds every JoinGroup about 0.6-0.8 x the session
    #: (18 s at 30 s, 8 s at 10 s, measured: ADR 0011), so there a longer one slows every join.
    session_timeout_ms: int | None = None
    heartbeat_interval_ms: int | None = None

    @property
    def static(self) -> bool:
        return self.instance_id is not None

    def options(self, group_id: str, label: str) -> dict[str, Any]:
        """The `broker.subscriber(...)` keyword arguments of the subscriber named `label` (its
        topic, or `all` for a one-subscription consumer)."""
        opts: dict[str, Any] = {"group_id": group_id}
        session = self.session_timeout_ms
        if self.instance_id is not None:
            opts["group_instance_id"] = f"{self.instance_id}.{label}"
        if session is not None:
            opts["session_timeout_ms"] = session
            # a third of the session, as Kafka recommends, unless told otherwise
            opts["heartbeat_interval_ms"] = self.heartbeat_interval_ms or max(session // 3, 100)
        elif self.heartbeat_interval_ms is not None:
            opts["heartbeat_interval_ms"] = self.heartbeat_interval_ms
        return opts


def instance_id_from_env(
    service: str, role: str = "worker", env: Mapping[str, str] | None = None
) -> str | None:
    """The static member id of this process, or None for dynamic membership.

    `<SERVICE>_CONSUMER_INSTANCE_ID`, else `CONSUMER_INSTANCE_ID`; `auto` means `<host
    name>-<role>` (a pod's host name is its pod name). Unset, empty or `dynamic`: dynamic
    membership, the behaviour before ADR 0011, until the rebalance bench has shown static
    membership on Tansu with several members per group (see the ADR).
    """
    env = os.environ if env is None else env
    value = env.get(f"{service.upper()}_CONSUMER_INSTANCE_ID", env.get("CONSUMER_INSTANCE_ID"))
    value = (value or "").strip()
    if not value or value.lower() == "dynamic":
        return None
    if value.lower() == "auto":
        value = f"{socket.gethostname()}-{role}"
    return re.sub(r"[^A-Za-z0-9._-]", "-", value)[:200]
