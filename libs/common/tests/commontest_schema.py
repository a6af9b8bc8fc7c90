"""A throwaway 'service' schema (`commontest`) with an outbox and inbox, to test the plumbing."""

from __future__ import annotations

from typing import ClassVar

from scifikpi_common.db import make_metadata
from scifikpi_common.events.base import Event
from scifikpi_common.inbox import inbox_table
from scifikpi_common.outbox import Outbox, outbox_table
from sqlalchemy import Column, Integer, Table, Text

SCHEMA = "commontest"
metadata = make_metadata(SCHEMA)
outbox = Outbox(outbox_table(metadata), producer="commontest")
inbox = inbox_table(metadata)
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("note", Text))

TEST_TOPIC = "commontest.thing.v1"


class ThingHappened(Event):
    TOPIC: ClassVar[str] = TEST_TOPIC
    EVENT_TYPE: ClassVar[str] = "ThingHappened"

    seq: int


class ThingRenamed(Event):
    """A second event type on the same topic, for handlers that project the whole topic."""

    TOPIC: ClassVar[str] = TEST_TOPIC
    EVENT_TYPE: ClassVar[str] = "ThingRenamed"

    seq: int
    note: str
