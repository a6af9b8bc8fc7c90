"""deploy/helm/scifikpi: the chart's backups are what the restore drill ran and proved.

`make restore-drill` (tools/src/scifikpi_tools/restore) archives WAL and takes base backups with
barman-cloud (what the Barman Cloud plugin runs) to `<destinationPath>/<serverName>/base/...` and
`/wals/...`, gzip for both, on PostgreSQL 15, and restores from there. These checks keep the
chart's Cluster and ObjectStore on the same tool, layout, compression and major version, so the
drill's figures (docs/runbooks/restore.md) stay about the deployed configuration.
"""

from __future__ import annotations

from typing import Any

import pytest
from _helm_helpers import by_kind
from scifikpi_tools.restore import barman, cluster

PLUGIN = "barman-cloud.cloudnative-pg.io"


def _backup_objects(docs: list[dict[str, Any]]) -> tuple[dict, dict, dict]:
    (pg,) = by_kind(docs, "Cluster").values()
    (store,) = by_kind(docs, "ObjectStore").values()
    (scheduled,) = by_kind(docs, "ScheduledBackup").values()
    return pg, store, scheduled


@pytest.mark.parametrize("variant", ["default_docs", "production_docs"])
def test_wal_archiving_and_backups_go_where_the_drill_restores_from(
    variant: str, request: pytest.FixtureRequest
) -> None:
    pg, store, scheduled = _backup_objects(request.getfixturevalue(variant))
    (plugin,) = [p for p in pg["spec"]["plugins"] if p["name"] == PLUGIN]
    assert plugin["isWALArchiver"] is True
    # one folder per server under destinationPath, named like the drill's
    assert plugin["parameters"]["serverName"] == pg["metadata"]["name"] == barman.SERVER_NAME
    assert plugin["parameters"]["barmanObjectName"] == store["metadata"]["name"]
    config = store["spec"]["configuration"]
    # the plugin wants the ObjectStore's own serverName empty (the Cluster's parameter rules)
    assert "serverName" not in config
    assert config["destinationPath"].startswith("s3://")
    assert config["wal"]["compression"] == config["data"]["compression"] == barman.COMPRESSION
    assert scheduled["spec"]["method"] == "plugin"
    assert scheduled["spec"]["pluginConfiguration"]["name"] == PLUGIN
    assert scheduled["spec"]["immediate"] is True  # PITR from the first day


def test_the_default_destination_is_the_drills(default_docs: list) -> None:
    _, store, _ = _backup_objects(default_docs)
    assert store["spec"]["configuration"]["destinationPath"] == (
        f"s3://{barman.BUCKET}/{barman.PREFIX}"
    )


@pytest.mark.parametrize("variant", ["default_docs", "production_docs"])
def test_postgres_major_version_is_the_drills(variant: str, request: pytest.FixtureRequest):
    pg, _, _ = _backup_objects(request.getfixturevalue(variant))
    assert pg["spec"]["imageName"].rsplit(":", 1)[1].split(".")[0] == str(cluster.PG_MAJOR)
