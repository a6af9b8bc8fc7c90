"""What every nft router shares: the settings of the running app, and where a created resource
can be read as the client called us (behind the gateway: `/api/v1`)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request

from nft.settings import NftSettings

_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")


def get_settings(request: Request) -> NftSettings:
    settings: NftSettings = request.app.state.settings
    return settings


Settings = Annotated[NftSettings, Depends(get_settings)]


def location(request: Request, path: str) -> str:
    """`path` behind the prefix the gateway forwarded (`X-Forwarded-Prefix`), if it is sane."""
    prefix = request.headers.get("x-forwarded-prefix", "")
    return f"{prefix if _PREFIX.match(prefix) else ''}{path}"
