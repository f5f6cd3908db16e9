"""kb.schema's quick check: Python code written from the schema (``_compile``) that must say "valid"
exactly when jsonschema does (tests/test_properties.py draws claims for that), and must not claim
to know a schema that uses more than the keywords it writes tests for."""

from __future__ import annotations

import copy

import pytest

from kb.schema import _compile, _fast_check, _validator


def valid(name: str, data) -> bool:
    return not list(_validator(name).iter_errors(data))


CONFIG = {"title": "T", "languages": ["nl", "en"], "style": "apa", "old_source_years": 15}


@pytest.mark.parametrize("change", [
    {}, {"languages": []}, {"languages": ["nl", "nl"]}, {"languages": ["de"]}, {"languages": [["nl"]]},
    {"languages": "nl"}, {"old_source_years": 0}, {"old_source_years": True}, {"old_source_years": 1.5},
    {"old_source_years": float("nan")}, {"title": None}, {"unknown": 1}, {"style": {"a": 1}},
])
def test_the_configuration_check_answers_as_jsonschema(change):
    data = {**CONFIG, **change}
    assert _fast_check("kb")(data) == valid("kb", data)


def a_claim() -> dict:
    return {"id": "c-1", "article": "a", "section": "s", "kind": "mechanism", "text": {"nl": "x", "en": "y"},
            "evidence": [{"ref": "k", "relation": "supports", "cited_in_article": True, "certainty": "low"}],
            "verdict": "supported", "status": "draft", "tags": ["t"], "derived_from": ["b"]}


@pytest.mark.parametrize("path, value", [
    (("kind",), ["mechanism"]), (("kind",), {"a": 1}), (("verdict",), None), (("evidence", 0, "relation"), ["supports"]),
    (("evidence", 0), "k"), (("evidence",), {"ref": "k"}), (("text",), ["x"]), (("text", "nl"), ""), (("id",), "index"),
    (("id",), "Upper"), (("tags",), ["t", "t"]), (("tags",), [1]), (("derived_from",), [["b"]]), (("plain",), {}),
    (("plain",), {"nl": ""}), (("evidence", 0, "cited_in_article"), 1), (("evidence", 0, "extra"), 1),
])
def test_unhashable_and_misplaced_values_give_no_when_invalid_and_never_raise(path, value):
    """A list where a string from a set of options belongs, a string where a list of mappings
    belongs...: the check says no (or yes, where jsonschema does) instead of raising."""
    data = a_claim()
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert _fast_check("claim")(data) == valid("claim", data)
    assert _fast_check("claim")(a_claim()) is True


def _nested(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return schema


@pytest.mark.parametrize("schema", [
    {"type": "string", "format": "date"},  # a keyword it writes no test for
    {"$defs": {"x": {"items": {"$ref": "#/$defs/x"}}}, "items": {"$ref": "#/$defs/x"}},  # refers back to itself
    {"$ref": "other.json#/x"},
    {"$ref": "#/$defs/missing"},
    {"type": "number"},
    {"minLength": 1.5},
    {"minimum": float("inf")},
    {"enum": [1, 2]},
    {"additionalProperties": {"type": "string"}},
    {"additionalProperties": 0},  # not a boolean
    {"uniqueItems": 1},
    {"$defs": {"a": {"properties": {"b": {"type": "integer"}}}, "b": {"type": "string"}},
     "items": {"$ref": "#/$defs/a/properties/b"}},  # a path into a definition, not a definition
    {"items": {"$id": "other", "type": "string"}},  # a schema of its own inside
    {"type": {"a": 1}},
    {"pattern": 5},
    {"pattern": "("},  # not a regular expression
    {"properties": {1: {"type": "string"}}},
    _nested(60),  # deeper than Python's compiler takes the check's code
])
def test_a_schema_beyond_the_subset_gets_no_quick_check(schema):
    assert _compile(copy.deepcopy(schema), schema) is None


def test_the_check_is_one_function_written_from_the_schema():
    source = _fast_check("claim").source
    assert source.startswith("def check(v):") and "'evidence'" in source and "lambda" not in source
