"""The envelope every Kafka message carries, and the base class of event payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field

from scifikpi_common.clock import utcnow
from scifikpi_common.ids import new_id

#: Kafka header names (values are UTF-8 bytes).
HEADER_EVENT_ID = "event_id"
HEADER_EVENT_TYPE = "event_type"
HEADER_CONTENT_TYPE = "content-type"


class Event(BaseModel):
    """A fact one service tells the others. Subclasses fix topic, type and schema version.

    Consumers read tolerantly (`extra="ignore"`) so producers can add optional fields.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    TOPIC: ClassVar[str]
    EVENT_TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    user_id: UUID = Field(description="The user the event is about; also the Kafka key.")

    @property
    def key(self) -> str:
        """Partition key: one user's events stay in order."""
        return str(self.user_id)


P = TypeVar("P")


class Envelope(BaseModel, Generic[P]):
    """What travels on every topic: routing and dedupe metadata around the payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID = Field(description="UUIDv7, unique per event; consumers dedupe on it.")
    event_type: str = Field(examples=["UserRegistered"])
    schema_version: int = Field(ge=1)
    occurred_at: datetime = Field(
        description="When the producing transaction made the change (UTC)."
    )
    producer: str = Field(description="The service that published it.", examples=["auth"])
    key: str = Field(description="The Kafka key: the user id (the item id for `nft.catalog.v1`).")
    payload: P

    @classmethod
    def wrap(cls, event: Event, *, producer: str) -> Envelope[dict[str, Any]]:
        return Envelope[dict[str, Any]](
            event_id=new_id(),
            event_type=event.EVENT_TYPE,
            schema_version=event.SCHEMA_VERSION,
            occurred_at=utcnow(),
            producer=producer,
            key=event.key,
            payload=event.model_dump(mode="json"),
        )

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


def parse_envelope(raw: bytes) -> Envelope[dict[str, Any]]:
    """Parse a message body; raises `pydantic.ValidationError` (a poison message) if malformed."""
    return Envelope[dict[str, Any]].model_validate_json(raw)
