"""The JSON Schemas in schema/ applied to parsed YAML: the one definition of the file formats.

``check_document`` turns every schema violation into a Diagnostic that names the file, line and
column of the offending field, says what was expected, and suggests the closest valid name.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema

from .errors import Diagnostic, Severity, did_you_mean
from .resources import resource_dir
from .yamlsafe import location

__all__ = ["check_document", "load_schema"]

_TYPE_NAMES = {
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "null": "nothing",
}


@cache
def load_schema(name: str) -> dict:
    """The schema ``schema/<name>.schema.json``."""
    return json.loads((resource_dir("schema") / f"{name}.schema.json").read_text(encoding="utf-8"))


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema(name))


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _field_name(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the file"


def check_document(data: Any, positions: dict, path: str, schema_name: str) -> list[Diagnostic]:
    """All schema violations of one parsed document, most specific first, one per field."""
    diagnostics: list[Diagnostic] = []
    seen: set[tuple] = set()
    errors = sorted(_validator(schema_name).iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    for error in errors:
        field_path = tuple(error.absolute_path)
        for diagnostic in _translate(error, field_path, positions, path):
            key = (diagnostic.location, diagnostic.code, diagnostic.message)
            if key not in seen:
                seen.add(key)
                diagnostics.append(diagnostic)
    return diagnostics


def _translate(error: jsonschema.ValidationError, field_path: tuple, positions: dict, path: str) -> list[Diagnostic]:
    name = _field_name(field_path)
    where = location(path, positions, field_path)

    def diag(code: str, message: str, hint: str | None = None, at=where) -> Diagnostic:
        return Diagnostic(Severity.ERROR, code, message, at, hint)

    kind = error.validator
    if kind == "additionalProperties":
        allowed = error.schema.get("properties", {})
        return [
            diag(
                "unknown-field",
                f"unknown field {extra!r} in {name}",
                did_you_mean(extra, allowed) or f"expected one of: {', '.join(allowed)}",
                location(path, positions, field_path + (extra,)),
            )
            for extra in error.instance
            if extra not in allowed
        ]
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [diag("missing-field", f"missing required field {missing!r} in {name}")]
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in (expected if isinstance(expected, list) else [expected]))
        return [diag("wrong-type", f"expected {expected} for {name}, found {_describe(error.instance)}")]
    if kind == "enum":
        options = [str(o) for o in error.validator_value]
        return [
            diag(
                "bad-value",
                f"{error.instance!r} is not a valid value for {name}; expected one of: {', '.join(options)}",
                did_you_mean(str(error.instance), options),
            )
        ]
    if kind == "pattern":
        return [
            diag(
                "bad-value",
                f"{error.instance!r} is not a valid value for {name}",
                "use lower-case letters, digits and hyphens" if "a-z0-9" in error.validator_value else None,
            )
        ]
    if kind == "uniqueItems":
        return [diag("bad-value", f"{name} lists the same value twice")]
    if kind == "minLength":
        return [diag("bad-value", f"{name} must not be empty")]
    return [diag("bad-value", f"{name}: {error.message}")]
