"""The JSON Schemas in schema/ applied to parsed YAML: the one definition of the file formats.

``check_document`` turns every schema violation into a Diagnostic that names the file, line and
column of the offending field, says what was expected, and suggests the closest valid name.
"""

from __future__ import annotations

import json
import math
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


class _Unsupported(Exception):
    """The schema uses more of JSON Schema than ``_compile`` knows."""


_KNOWN_KEYWORDS = frozenset({"$schema", "$id", "$defs", "title", "description", "type", "enum", "pattern", "required", "properties",
                             "additionalProperties", "items", "$ref", "uniqueItems", "minLength", "minItems", "minimum"})
_PYTHON_TYPES = {"string": "str", "object": "dict", "array": "list", "boolean": "bool", "integer": "int", "null": "NoneType"}


def _compile(schema: dict, root: dict):
    """A fast yes/no check for the JSON Schema subset kb uses, or None if the schema uses more.

    Checking 100,000 valid claims with jsonschema takes about 15 s; this check about 1.2 s. It only
    answers "certainly valid"; anything else goes to jsonschema for the full report, so the schema
    file stays the one definition of the format. The check is Python code written from the schema
    (``_Writer``) and compiled once: one function with every test inline, 12-13 us a claim here, where a
    tree of small functions, one per keyword, took 38-45 us. A schema it cannot write a check for (a
    keyword or a value of one it does not know, a bad regex, nesting deeper than Python's compiler
    takes) gets None, never an exception.
    """
    writer = _Writer(root)
    try:
        writer.value(schema, "v", 1, ())
        source = "def check(v):\n" + "\n".join(writer.lines) + "\n    return True\n"
        code = compile(source, "<kb schema check>", "exec")
    except (_Unsupported, re.error, SyntaxError, RecursionError, MemoryError):  # IndentationError is a SyntaxError
        return None
    namespace = {"NoneType": type(None), **writer.constants}
    exec(code, namespace)  # noqa: S102 - code written above from the schema's keywords
    check = namespace["check"]
    check.source = source  # for a reader (and the tests) to see what runs
    return check


def _count(value: Any) -> int:
    """A length limit as written into the check's code (a whole number, or the schema is not for ``_compile``)."""
    if type(value) is not int or value < 0:
        raise _Unsupported
    return value


class _Writer:
    """Writes the statements of a check: for each value, the tests of its schema, each a line that
    returns False when the value fails it. Constants (enum sets, regexes, key sets) are named C0, C1...
    Every test has the meaning JSON Schema gives its keyword for the values YAML gives (a test about
    strings passes any value that is not one, and so on), so that the check answers exactly as
    jsonschema does on whether a document is valid (tests/test_properties.py compares them)."""

    def __init__(self, root: dict) -> None:
        self.root, self.lines, self.constants, self.names = root, [], {}, 0

    def constant(self, value: Any) -> str:
        name = f"C{len(self.constants)}"
        self.constants[name] = value
        return name

    def variable(self) -> str:
        self.names += 1
        return f"v{self.names}"

    def line(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def value(self, schema: dict, var: str, indent: int, refs: tuple) -> None:
        if not isinstance(schema, dict) or set(schema) - _KNOWN_KEYWORDS:
            raise _Unsupported
        if ("$id" in schema or "$schema" in schema or "$defs" in schema) and schema is not self.root:
            raise _Unsupported  # a schema of its own within this one: references would mean something else in it
        if "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str) or len(schema) > 1 or ref in refs:
                raise _Unsupported  # another kind of reference, or one that refers back to itself
            prefix, _, name = ref.partition("#/$defs/")
            if prefix or not name or any(c in name for c in "/~%"):
                raise _Unsupported  # only a definition of this schema's own, named plainly
            defs = self.root.get("$defs")
            target = defs.get(name) if isinstance(defs, dict) else None
            if target is None:
                raise _Unsupported
            self.value(target, var, indent, refs + (ref,))
            return
        known, no_bool = None, ""  # the one Python type the value has once its "type" test passed
        types = schema.get("type")
        if types is not None:
            names = types if isinstance(types, list) else [types]
            if not names or any(not isinstance(name, str) or name not in _PYTHON_TYPES for name in names):
                raise _Unsupported
            python = sorted({_PYTHON_TYPES[name] for name in names})
            # bool is an int to isinstance, not to JSON Schema
            no_bool = f" or type({var}) is bool" if "integer" in names and "boolean" not in names else ""
            shown = python[0] if len(python) == 1 else "(" + ", ".join(python) + ")"
            self.line(indent, f"if not isinstance({var}, {shown}){no_bool}: return False")
            known = python[0] if len(python) == 1 else None

        def when(kind: str) -> str:
            """The guard of a test that applies only to values of one kind (none: the type test made sure)."""
            return "" if known == kind else f"isinstance({var}, {kind}) and "

        if "enum" in schema:
            options = schema["enum"]
            if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
                raise _Unsupported
            kind = "" if known == "str" else f"not isinstance({var}, str) or "  # first: a list cannot be looked up in a set
            self.line(indent, f"if {kind}{var} not in {self.constant(frozenset(options))}: return False")
        if "pattern" in schema:
            if not isinstance(schema["pattern"], str):
                raise _Unsupported
            search = self.constant(_compile_ecma(schema["pattern"]).search)
            self.line(indent, f"if {when('str')}{search}({var}) is None: return False")
        if "minLength" in schema:
            self.line(indent, f"if {when('str')}len({var}) < {_count(schema['minLength'])}: return False")
        if "minItems" in schema:
            self.line(indent, f"if {when('list')}len({var}) < {_count(schema['minItems'])}: return False")
        if "minimum" in schema:
            minimum = schema["minimum"]
            if type(minimum) not in (int, float) or not math.isfinite(minimum):
                raise _Unsupported
            number = "" if known == "int" and no_bool else f"isinstance({var}, (int, float)) and not isinstance({var}, bool) and "
            self.line(indent, f"if {number}not {var} >= {minimum!r}: return False")
        if type(schema.get("uniqueItems", False)) is not bool:
            raise _Unsupported
        if schema.get("uniqueItems"):  # kb's unique lists hold strings; a list of anything else goes to jsonschema
            self.line(indent, f"if {when('list')}(not all(isinstance(x, str) for x in {var}) or len(set({var})) != len({var})): return False")
        if "items" in schema:
            item = self.variable()
            inner = indent
            if known != "list":
                self.line(indent, f"if isinstance({var}, list):")
                inner += 1
            self.line(inner, f"for {item} in {var}:")
            self.block(schema["items"], item, inner + 1, refs)
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            self.mapping(schema, var, indent, refs, known == "dict")

    def block(self, schema: dict, var: str, indent: int, refs: tuple) -> None:
        """The tests of ``schema`` as a block of their own (a ``pass`` if there are none)."""
        before = len(self.lines)
        self.value(schema, var, indent, refs)
        if len(self.lines) == before:
            self.line(indent, "pass")

    def mapping(self, schema: dict, var: str, indent: int, refs: tuple, known: bool) -> None:
        extra, properties, required = schema.get("additionalProperties", True), schema.get("properties", {}), schema.get("required", [])
        if type(extra) is not bool or not isinstance(properties, dict) or not isinstance(required, list):
            raise _Unsupported
        if not all(type(name) is str for name in [*properties, *required]):
            raise _Unsupported
        if not known:
            self.line(indent, f"if isinstance({var}, dict):")
            indent += 1
            self.line(indent, "pass")
        if required:
            self.line(indent, f"if not {self.constant(frozenset(required))} <= {var}.keys(): return False")
        if extra is False:
            self.line(indent, f"if not {self.constant(frozenset(properties))}.issuperset({var}): return False")
        missing = self.constant(object())
        for name, sub in properties.items():
            item = self.variable()
            self.line(indent, f"{item} = {var}.get({name!r}, {missing})")
            self.line(indent, f"if {item} is not {missing}:")
            self.block(sub, item, indent + 1, refs)


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
        if error.validator_value == "\\S":  # text that is only white space (minLength 1 lets "   " through)
            return [diag("bad-value", f"{name} must not be empty", "white space alone is not a text")]
        if "a-z0-9" in error.validator_value and (field_path[:1] in (("id",), ("derived_from",))):
            return [diag("bad-id", f"invalid claim id {error.instance!r}" + (f" in {name}" if field_path != ("id",) else ""),
                         "a claim id is also a file name: lower-case letters, digits and hyphens only, no '/' or '..', "
                         "and not 'index' (the site's claims index is claims/index.html)")]
        hint = None
        if error.validator_value.startswith("^[a-z]{2,3}(-"):  # kb.yaml review_language
            hint = "write a language tag, such as en, nl or pt-BR"
        elif "a-z0-9" in error.validator_value:
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
