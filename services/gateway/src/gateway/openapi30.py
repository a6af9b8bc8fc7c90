"""An OpenAPI 3.0 view of the merged 3.1 document, for the bundled Swagger UI.

The `swagger-ui-bundle` package ships Swagger UI 4.x, which refuses to render any document whose
`openapi` is not 3.0.x, while FastAPI (pydantic 2) writes 3.1. `/openapi.json` stays the faithful
3.1 document; `/docs` loads this translation of the few 3.1 JSON-Schema forms FastAPI emits
(`anyOf` with `null`, type lists, `const`, `examples` arrays, numeric exclusive bounds).
"""

from __future__ import annotations

import copy
from typing import Any

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_SINGLE = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
)


#: 3.1 keywords 3.0 does not know, dropped once translated
_DROPPED = ("$schema", "$id", "$defs", "prefixItems", "if", "then", "else", "dependentSchemas")


def _schema(node: Any) -> None:
    """Translates one schema in place, its subschemas first."""
    if not isinstance(node, dict):
        return
    for sub in _subschemas(node):
        _schema(sub)
    _type_list(node)
    for key in ("anyOf", "oneOf"):
        _null_option(node, key)
    _single_examples(node)
    _exclusive_bounds(node)
    _binary(node)
    for key in _DROPPED:
        node.pop(key, None)


def _subschemas(node: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    for key in _SCHEMA_MAPS:
        found.extend((node.get(key) or {}).values())
    for key in _SCHEMA_LISTS:
        found.extend(node.get(key) or [])
    found.extend(node.get(key) for key in _SCHEMA_SINGLE)
    return found


def _type_list(node: dict[str, Any]) -> None:
    """`"type": ["string", "null"]` -> `"type": "string", "nullable": true` (several: anyOf)."""
    types = node.get("type")
    if not isinstance(types, list):
        return
    rest = [t for t in types if t != "null"]
    if len(rest) < len(types):
        node["nullable"] = True
    if len(rest) == 1:
        node["type"] = rest[0]
        return
    node.pop("type")
    if rest:
        node["anyOf"] = [{"type": t} for t in rest]


def _null_option(node: dict[str, Any], key: str) -> None:
    """`anyOf`/`oneOf` with a `{"type": "null"}` option -> `nullable` and the other options."""
    options = node.get(key)
    if not isinstance(options, list):
        return
    rest = [o for o in options if o != {"type": "null"}]
    if len(rest) == len(options):
        return
    node["nullable"] = True
    if len(rest) > 1:
        node[key] = rest
        return
    node.pop(key)
    only = rest[0]
    if "$ref" in only:  # siblings of $ref are ignored in 3.0: wrap it
        node["allOf"] = [only]
    else:
        for k, v in only.items():
            node.setdefault(k, v)


def _single_examples(node: dict[str, Any]) -> None:
    """`const` -> a one-value `enum`; an `examples` array -> its first as `example`."""
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list):
        examples = node.pop("examples")
        if examples:
            node.setdefault("example", examples[0])


def _exclusive_bounds(node: dict[str, Any]) -> None:
    """Numeric `exclusiveMinimum: 0` -> `minimum: 0, exclusiveMinimum: true` (3.0's booleans)."""
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            node[plain] = value
            node[bound] = True


def _binary(node: dict[str, Any]) -> None:
    """Binary content (`contentMediaType`/`contentEncoding`) -> `format: binary`."""
    if node.get("contentMediaType") == "application/octet-stream" or "contentEncoding" in node:
        node.pop("contentMediaType", None)
        node.pop("contentEncoding", None)
        node["type"], node["format"] = "string", "binary"


def _document(node: Any) -> None:
    """Finds every `schema` object outside components.schemas (parameters, bodies, headers)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema":
                _schema(value)
            else:
                _document(value)
    elif isinstance(node, list):
        for value in node:
            _document(value)


def to_openapi30(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["openapi"] = "3.0.3"
    out.pop("webhooks", None)
    out.pop("jsonSchemaDialect", None)
    out.get("info", {}).pop("summary", None)
    out.get("info", {}).get("license", {}).pop("identifier", None)
    components = out.get("components", {})
    for schema in components.get("schemas", {}).values():
        _schema(schema)
    _document(out.get("paths", {}))
    for section in ("parameters", "requestBodies", "responses", "headers"):
        _document(components.get(section, {}))
    return out
