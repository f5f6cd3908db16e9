"""Safe YAML reading with positions: text -> plain data plus the line and column of every field.

PyYAML's libyaml-backed parser composes the node tree; this module turns nodes into plain
Python values itself, so that it can

* refuse every tag that is not plain data (``!!python/object`` and friends are never constructed),
* reject duplicate keys (PyYAML keeps the last one silently),
* bound alias expansion (a "billion laughs" file fails fast instead of eating memory),
* record the 1-based line and column of each key and item, for messages that point at the field.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import Location

try:  # libyaml is 7x faster; fall back to the pure-Python parser where it is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = ["YamlProblem", "MAX_BYTES", "MAX_NODES", "parse_yaml"]

#: Files larger than this are refused before parsing (a claim file is a few kilobytes).
MAX_BYTES = 1_000_000
#: Values built from one file, counting each alias expansion; bounds alias bombs.
MAX_NODES = 50_000

_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",  # kept as the text written, e.g. "2026-11-25"
}
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_constructor = yaml.constructor.SafeConstructor()


class YamlProblem(Exception):
    """A file that is not acceptable YAML. ``code`` is the diagnostic code."""

    def __init__(self, code: str, message: str, line: int = 0, column: int = 0, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.line, self.column, self.hint = code, message, line, column, hint


def _short(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def _bad_tag(node: yaml.Node) -> YamlProblem:
    line, column = _pos(node)
    return YamlProblem("yaml-tag", f"tag {_short(node.tag)!r} is not allowed; only plain YAML data is read", line, column)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def decode(raw: bytes) -> tuple[str, bool]:
    """Bytes -> text. Returns (text, had_bom); raises YamlProblem for non-UTF-8 or oversize input."""
    if len(raw) > MAX_BYTES:
        raise YamlProblem("file-too-large", f"file is {len(raw):,} bytes; the limit is {MAX_BYTES:,}")
    bom = raw.startswith(b"\xef\xbb\xbf")
    if bom:
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlProblem(
            "encoding", f"invalid UTF-8 byte 0x{raw[exc.start]:02x}", line, column, "save the file as UTF-8"
        ) from None
    return text, bom


def parse_yaml(text: str) -> tuple[Any, dict[tuple, tuple[int, int]]]:
    """Parse one YAML document into plain data and a map of path -> (line, column).

    A path is a tuple of keys and list indexes, e.g. ``("evidence", 0, "ref")``; the position of a
    mapping entry is that of its key. An empty document gives ``(None, {})``.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = exc.problem or str(exc)
        hint = None
        lines = text.splitlines()
        bad_line = lines[line - 1] if 0 < line <= len(lines) else ""
        if "\t" in bad_line[: max(column, 1)] or "'\\t'" in problem:
            problem, hint = "tab character where YAML expects indentation or a value", "indent with spaces, not tabs"
        elif exc.context:
            problem = f"{problem} ({exc.context})"
        raise YamlProblem("yaml-syntax", f"YAML syntax error: {problem}", line, column, hint) from None
    except yaml.YAMLError as exc:  # e.g. a reader error for control characters
        raise YamlProblem("yaml-syntax", f"YAML syntax error: {exc}") from None
    finally:
        loader.dispose()
    if node is None:
        return None, {}
    positions: dict[tuple, tuple[int, int]] = {(): _pos(node)}
    budget = [MAX_NODES]
    return _build(node, (), positions, budget, 0), positions


def _build(node: yaml.Node, path: tuple, positions: dict, budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or depth > 100:
        line, column = _pos(node)
        raise YamlProblem(
            "yaml-too-complex",
            f"document expands to more than {MAX_NODES:,} values or 100 levels (aliases?)",
            line,
            column,
            "write the values out instead of using anchors and aliases",
        )
    if isinstance(node, yaml.ScalarNode):
        if node.tag not in _SCALAR_TAGS:
            raise _bad_tag(node)
        if node.tag in (_STR, "tag:yaml.org,2002:timestamp"):
            return node.value
        try:
            return _constructor.construct_object(node, deep=True)
        except (ValueError, yaml.YAMLError):
            line, column = _pos(node)
            raise YamlProblem("yaml-syntax", f"cannot read value {node.value!r}", line, column) from None
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ:
            raise _bad_tag(node)
        items = []
        for index, child in enumerate(node.value):
            positions[path + (index,)] = _pos(child)
            items.append(_build(child, path + (index,), positions, budget, depth + 1))
        return items
    if node.tag != _MAP:
        raise _bad_tag(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            line, column = _pos(key_node)
            raise YamlProblem("yaml-syntax", "a mapping key must be a plain scalar", line, column)
        key = _build(key_node, path, {}, budget, depth + 1)
        if isinstance(key, bool) or key is None:
            key = key_node.value  # `yes:`/`null:` as keys mean the words
        if key in mapping:
            line, column = _pos(key_node)
            first = positions.get(path + (key,), (0, 0))[0]
            raise YamlProblem(
                "duplicate-key", f"duplicate key {key!r} (first defined on line {first})", line, column,
                "remove one of them; YAML keeps only the last",
            )
        positions[path + (key,)] = _pos(key_node)
        mapping[key] = _build(value_node, path + (key,), positions, budget, depth + 1)
    return mapping


def location(path: str, positions: dict[tuple, tuple[int, int]], field_path: tuple = ()) -> Location:
    """The Location of ``field_path`` (or its nearest parent) in a parsed file."""
    while field_path and field_path not in positions:
        field_path = field_path[:-1]
    line, column = positions.get(field_path, (0, 0))
    return Location(path, line, column)
