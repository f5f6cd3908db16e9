"""The JSON Schemas in schema/ applied to parsed YAML: the one definition of the file formats.

``check_document`` turns every schema violation into a Diagnostic that names the file, line and
column of the offending field, says what was expected, and suggests the closest valid name.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any


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
    import jsonschema  # only for documents the fast check did not pass: keeps `kb check` start-up short

    def pattern(validator, regex, instance, schema):
        if validator.is_type(instance, "string") and not ecma_search(regex, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {regex!r}")

    # JSON Schema patterns are ECMA-262 regexes, where a final `$` is the end of the text; in
    # Python it also matches before a final newline ("pijn\n"). Both checks use ecma_search.
    validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern})
    return validator(load_schema(name))


@cache
def _compile_ecma(regex: str) -> re.Pattern:
    if regex.endswith("$") and not regex.endswith("\\$"):
        regex = regex[:-1] + r"\Z"
    return re.compile(regex)


def ecma_search(regex: str, text: str) -> bool:
    """Whether ``text`` matches the schema ``regex`` as JSON Schema means it (a final ``$`` ends the text)."""
    return _compile_ecma(regex).search(text) is not None


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


def _compile(schema: dict, root: dict):
    """A fast yes/no check for the JSON Schema subset kb uses, or None if the schema uses more.

    Checking 100,000 valid claims with jsonschema takes about 15 s; this check takes a tenth of that.
    It only answers "certainly valid"; anything else goes to jsonschema for the full report, so the
    schema file stays the one definition of the format.
    """
    known = {"$schema", "$id", "$defs", "title", "description", "type", "enum", "pattern", "required", "properties",
             "additionalProperties", "items", "$ref", "uniqueItems", "minLength", "minItems", "minimum"}
    if set(schema) - known:
        return None
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/") or len(schema) > 1:
            return None
        return _compile(root["$defs"][ref.rsplit("/", 1)[1]], root)
    checks = []
    types = schema.get("type")
    if types is not None:
        python_types = {"string": str, "object": dict, "array": list, "boolean": bool, "integer": int, "null": type(None)}
        names = types if isinstance(types, list) else [types]
        if any(name not in python_types for name in names):
            return None
        allowed = tuple(python_types[name] for name in names)
        no_bool = "boolean" not in names

        def check_type(value, allowed=allowed, no_bool=no_bool):
            return isinstance(value, allowed) and not (no_bool and isinstance(value, bool))

        checks.append(check_type)
    if "enum" in schema:
        options = schema["enum"]
        if not all(isinstance(o, str) for o in options):
            return None
        option_set = frozenset(options)
        checks.append(lambda value: isinstance(value, str) and value in option_set)
    if "pattern" in schema:
        match = _compile_ecma(schema["pattern"]).search
        checks.append(lambda value: not isinstance(value, str) or match(value) is not None)
    if "minLength" in schema:
        low = schema["minLength"]
        checks.append(lambda value: not isinstance(value, str) or len(value) >= low)
    if "minItems" in schema:
        low_items = schema["minItems"]
        checks.append(lambda value: not isinstance(value, list) or len(value) >= low_items)
    if "minimum" in schema:
        minimum = schema["minimum"]
        checks.append(lambda value: isinstance(value, bool) or not isinstance(value, (int, float)) or value >= minimum)
    if schema.get("uniqueItems"):
        checks.append(lambda value: not isinstance(value, list) or all(isinstance(v, str) for v in value) and len(set(value)) == len(value))
    if "items" in schema:
        item_check = _compile(schema["items"], root)
        if item_check is None:
            return None
        checks.append(lambda value: not isinstance(value, list) or all(item_check(v) for v in value))
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        extra = schema.get("additionalProperties", True)
        if extra not in (True, False):
            return None
        props = {}
        for name, sub in schema.get("properties", {}).items():
            props[name] = _compile(sub, root)
            if props[name] is None:
                return None
        required = tuple(schema.get("required", ()))

        def check_object(value, props=props, required=required, extra=extra):
            if not isinstance(value, dict):
                return True
            for name in required:
                if name not in value:
                    return False
            for name, item in value.items():
                check = props.get(name)
                if check is None:
                    if not extra:
                        return False
                elif not check(item):
                    return False
            return True

        checks.append(check_object)
    return lambda value: all(check(value) for check in checks)


@cache
def _fast_check(name: str):
    schema = load_schema(name)
    return _compile(schema, schema)


def check_document(data: Any, positions: dict, path: str, schema_name: str) -> list[Diagnostic]:
    """All schema violations of one parsed document, most specific first, one per field."""
    fast = _fast_check(schema_name)
    if fast is not None and fast(data):
        return []
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
    # "unknown field 'verdikt'; did you mean 'verdict'?" already explains "missing required field 'verdict'"
    suggested = {(_where(d.message), d.hint) for d in diagnostics if d.code == "unknown-field"}
    return [d for d in diagnostics
            if d.code != "missing-field" or (_where(d.message), f"did you mean {_quoted(d.message)!r}?") not in suggested]


def _quoted(message: str) -> str:
    """The first quoted name in a message: "missing required field 'status' in evidence[0]" -> "status"."""
    parts = message.split("'", 2)
    return parts[1] if len(parts) == 3 else ""


def _where(message: str) -> str:
    """What follows the quoted name: "... 'status' in evidence[0]" -> " in evidence[0]"."""
    parts = message.split("'", 2)
    return parts[2] if len(parts) == 3 else ""


def _value(value: Any) -> str:
    """How a found value is shown: short scalars with their value, containers by kind."""
    if isinstance(value, bool):
        return f"the value {str(value).lower()}"
    if isinstance(value, str) and len(value) <= 40:
        return f"the string {value!r}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"the number {value!r}"
    return _describe(value)


def _translate(error: jsonschema.ValidationError, field_path: tuple, positions: dict, path: str) -> list[Diagnostic]:
    name = _field_name(field_path)
    inside = f" in {name}" if field_path else ""
    where = location(path, positions, field_path)

    def diag(code: str, message: str, hint: str | None = None, at=where) -> Diagnostic:
        return Diagnostic(Severity.ERROR, code, message, at, hint)

    kind = error.validator
    if kind == "additionalProperties":
        allowed = error.schema.get("properties", {})
        return [
            diag(
                "unknown-field",
                f"unknown field {extra!r}{inside}",
                did_you_mean(extra, allowed) or f"expected one of: {', '.join(allowed)}",
                location(path, positions, field_path + (extra,)),
            )
            for extra in error.instance
            if extra not in allowed
        ]
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [diag("missing-field", f"missing required field {missing!r}{inside}")]
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in (expected if isinstance(expected, list) else [expected]))
        hint = None
        if expected == "true or false" and isinstance(error.instance, str):
            hint = "write true or false without quotes"
        elif expected == "a string" and isinstance(error.instance, (bool, int, float)):
            hint = "put the value in quotes: YAML reads yes, no, on, off and numbers without quotes as other types"
        elif expected == "a list" and isinstance(error.instance, (str, dict)):
            hint = "write a list as [a, b] or as lines starting with '- '"
        if not field_path:
            return [diag("wrong-type", f"the file must hold a mapping (lines of field: value), found {_value(error.instance)}",
                         "see docs/format.md for a full example")]
        return [diag("wrong-type", f"expected {expected} for {name}, found {_value(error.instance)}", hint)]
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
        if "a-z0-9" in error.validator_value and (field_path[:1] in (("id",), ("derived_from",))):
            return [diag("bad-id", f"invalid claim id {error.instance!r}" + (f" in {name}" if field_path != ("id",) else ""),
                         "a claim id is also a file name: lower-case letters, digits and hyphens only, no '/' or '..', "
                         "and not 'index' (the site's claims index is claims/index.html)")]
        hint = None
        if "a-z0-9" in error.validator_value:
            hint = "use lower-case letters, digits and hyphens"
        elif "[0-9]{4}-[0-9]{2}-[0-9]{2}" in error.validator_value:
            hint = "write the date as YYYY-MM-DD"
        return [diag("bad-value", f"{error.instance!r} is not a valid value for {name}", hint)]
    if kind == "uniqueItems":
        return [diag("bad-value", f"{name} lists the same value twice")]
    if kind == "minLength":
        return [diag("bad-value", f"{name} must not be empty")]
    if kind == "minItems":
        return [diag("bad-value", f"{name} must list at least {error.validator_value} value(s)")]
    return [diag("bad-value", f"{name}: {error.message}")]
