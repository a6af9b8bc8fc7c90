"""The committed AsyncAPI document is what the event models generate."""

from __future__ import annotations

from pathlib import Path

import yaml
from scifikpi_common.events import ALL_EVENTS
from scifikpi_common.events.asyncapi import build_document
from scifikpi_common.testing.broker import ENVELOPE_FIELDS

DOC = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.yaml"


def test_committed_document_is_current():
    committed = yaml.safe_load(DOC.read_text())
    assert committed == build_document(), (
        "regenerate: uv run python -m scifikpi_common.events.asyncapi > docs/asyncapi.yaml"
    )


def test_every_event_has_a_channel_with_its_envelope():
    doc = build_document()
    assert doc["asyncapi"].startswith("3.")
    for event_type, cls in ALL_EVENTS.items():
        channel = doc["channels"][f"{cls.TOPIC}:{event_type}"]
        assert channel["address"] == cls.TOPIC
    schemas = doc["components"]["schemas"]
    registered = next(v for k, v in schemas.items() if "UserRegistered" in k and "Envelope" in k)
    assert set(registered["properties"]) >= ENVELOPE_FIELDS
