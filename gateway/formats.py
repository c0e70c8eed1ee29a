"""``format: date-time`` of the OCPP JSON schemas, which the ``ocpp`` package does not check.

Its jsonschema validators run without a format checker, so "yesterday at noon" passes as a
2.0.1 departureTime. Here each (version, action) schema is walked once for the places that
hold a date-time; a payload is then checked only at those places (a few dict lookups per
frame, no second validation pass).

A date-time is RFC 3339 (``2025-03-01T10:00:00Z``, fractions and offsets allowed). A
missing offset is accepted and read as UTC, as ``parse_timestamp`` does: many 1.6 chargers
send such timestamps.
"""

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path

import ocpp

_SCHEMAS = Path(ocpp.__file__).parent
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?")

Path_ = tuple[str, ...]  # property names; "*" steps into every item of an array


def is_date_time(value: object) -> bool:
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        return False
    try:
        # fromisoformat checks the ranges the pattern does not (month 13, February 30);
        # it takes at most 6 fraction digits.
        head, dot, rest = value.partition(".")
        if dot:
            digits = len(rest) - len(rest.lstrip("0123456789"))
            value = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return False
    return True


@cache
def date_time_paths(version: str, action: str) -> tuple[Path_, ...]:
    """Where the request schema of ``action`` says ``format: date-time``."""
    name = action if version == "1.6" else f"{action}Request"
    path = _SCHEMAS / f"v{version.replace('.', '')}" / "schemas" / f"{name}.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return ()
    found: list[Path_] = []
    _walk(schema, schema, (), found, depth=0)
    return tuple(found)


def _walk(node: dict, root: dict, at: Path_, found: list[Path_], depth: int) -> None:
    if depth > 20:  # OCPP schemas are not recursive; this only guards against a surprise
        return
    if "$ref" in node:
        ref = node["$ref"].removeprefix("#/").split("/")
        target = root
        for part in ref:
            target = target[part]
        node = target
    if node.get("format") == "date-time":
        found.append(at)
    for name, child in node.get("properties", {}).items():
        _walk(child, root, (*at, name), found, depth + 1)
    items = node.get("items")
    if isinstance(items, dict):
        _walk(items, root, (*at, "*"), found, depth + 1)


def first_invalid_date_time(version: str, action: str, payload: dict) -> tuple[str, object] | None:
    """(where, value) of the first date-time field that is no RFC 3339 date-time, or None."""
    for path in date_time_paths(version, action):
        for where, value in _values_at(payload, path, ()):
            # A value of another type is the schema's TypeConstraintViolation, not ours.
            if isinstance(value, str) and not is_date_time(value):
                return "/".join(where), value
    return None


def _values_at(node: object, path: Path_, where: tuple[str, ...]):
    if not path:
        yield where, node
        return
    step, rest = path[0], path[1:]
    if step == "*":
        if isinstance(node, list):
            for index, item in enumerate(node):
                yield from _values_at(item, rest, (*where, str(index)))
    elif isinstance(node, dict) and step in node:
        yield from _values_at(node[step], rest, (*where, step))
