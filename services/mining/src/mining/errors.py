"""Problems the mining API answers, each with a stable `urn:scifikpi:problem:<slug>` type.

No framework imports: domain code raises these and `scifikpi_common.problems` renders them.
"""

from __future__ import annotations

from scifikpi_common.errors import Conflict, Forbidden, ValidationFailed


class AccountNotActive(Forbidden):
    slug, title = "account-not-active", "The account is not active yet"


class MiningSessionActive(Conflict):
    slug, title = "mining-session-active", "A mining session is already running"


class NoActiveSession(ValidationFailed):
    slug, title = "no-active-mining-session", "There is no running mining session"


class AccelerationExceedsRemaining(ValidationFailed):
    slug, title = (
        "acceleration-exceeds-remaining",
        "More seconds than the session has left",
    )


class InvalidAccelerationSeconds(ValidationFailed):
    slug, title = "acceleration-seconds-invalid", "Acceleration seconds must be a positive integer"


class InvalidCursor(ValidationFailed):
    slug, title = "invalid-cursor", "The page cursor is not valid"
