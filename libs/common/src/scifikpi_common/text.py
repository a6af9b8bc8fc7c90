"""Request strings that Postgres can store.

Postgres `text` and `jsonb` cannot hold U+0000: a request string holding it is refused by its
schema (422), not by the INSERT or the lookup (500). `NoNul` goes into any `Annotated[str, ...]`.
"""

from __future__ import annotations

from pydantic import AfterValidator


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


#: a request string that can be stored: no NUL
NoNul = AfterValidator(no_nul)
