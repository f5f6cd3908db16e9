"""Safe YAML reading with positions: text -> plain data plus the line and column of every field.

PyYAML's libyaml-backed parser turns the text into a stream of events; this module builds plain
Python values from those events itself (no node tree, no PyYAML constructor), so that it can

* refuse every tag that is not plain data (``!!python/object`` and friends are never constructed),
* reject duplicate keys (PyYAML keeps the last one silently),
* bound alias expansion (a "billion laughs" file fails fast instead of eating memory) and nesting
  depth (libyaml's own composer recurses per level, and 100,000 '[' crash the interpreter),
* record the 1-based line and column of each key and item, for messages that point at the field.

Every problem is a ``YamlProblem`` with a diagnostic code, a one-line message, a line and a column.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import Location, NotUtf8, decode_utf8

try:  # libyaml is 7x faster; fall back to the pure-Python parser where it is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = ["YamlProblem", "MAX_BYTES", "MAX_NODES", "parse_yaml"]

#: Files larger than this are refused before parsing (a claim file is a few kilobytes).
MAX_BYTES = 1_000_000
#: Values built from one file, counting each alias expansion; bounds alias bombs.
MAX_NODES = 50_000
#: Nesting depth of mappings and lists in one file.
MAX_DEPTH = 50
_DEEP_HINT = "a claim needs only a few levels; check the brackets and indentation"

_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",  # kept as the text written, e.g. "2026-11-25"
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
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


def decode(raw: bytes) -> tuple[str, bool]:
    """Bytes -> text. Returns (text, had_bom); raises YamlProblem for non-UTF-8 or oversize input."""
    if len(raw) > MAX_BYTES:
        raise YamlProblem("file-too-large", f"file is {len(raw):,} bytes; the limit is {MAX_BYTES:,}")
    try:
        return decode_utf8(raw)
    except NotUtf8 as exc:
        raise YamlProblem("encoding", exc.message, exc.line, exc.column, "save the file as UTF-8") from None


def parse_yaml(text: str) -> tuple[Any, dict[tuple, tuple[int, int]]]:
    """Parse one YAML document into plain data and a map of path -> (line, column).

    A path is a tuple of keys and list indexes, e.g. ``("evidence", 0, "ref")``; the position of a
    mapping entry is that of its key. An empty document gives ``(None, {})``.

    Values are built straight from libyaml's event stream, without composing a node tree: libyaml's
    composer recurses once per nesting level and a file of 100,000 '[' crashes the interpreter.
    """
    loader = _Loader(text)
    try:
        return _from_events(loader, text)
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in (exc.problem or ""):  # libyaml >= 0.2.6 stops at 1,000 levels itself
            raise _too_complex(f"values are nested more than {MAX_DEPTH} levels deep", exc.problem_mark,
                               _DEEP_HINT) from None
        raise _syntax_problem(exc, text) from None
    except yaml.reader.ReaderError as exc:  # a control character or invalid code point
        line, column = _offset_position(text, exc.position)
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise YamlProblem("yaml-syntax", f"YAML syntax error: character {char} is not allowed in YAML", line, column,
                          "remove the control character") from None
    except yaml.YAMLError as exc:  # pragma: no cover - any other PyYAML error, kept on one line
        raise YamlProblem("yaml-syntax", "YAML syntax error: " + " ".join(str(exc).split())) from None
    finally:
        loader.dispose()


def _offset_position(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    problem = " ".join((exc.problem or str(exc)).split())
    hint = None
    lines = text.splitlines()
    bad_line = lines[line - 1] if 0 < line <= len(lines) else ""
    if "\t" in bad_line[: max(column, 1)] or "'\\t'" in problem:
        problem, hint = "tab character where YAML expects indentation or a value", "indent with spaces, not tabs"
    elif exc.context:
        context = " ".join(exc.context.split())
        started = exc.context_mark
        if started is not None and exc.problem_mark is not None and started.line != exc.problem_mark.line:
            context += f" that starts on line {started.line + 1}"
        problem = f"{problem} ({context})"
    return YamlProblem("yaml-syntax", f"YAML syntax error: {problem}", line, column, hint)


class _Frame:
    __slots__ = ("value", "path", "anchor", "count", "key", "has_key", "mark")

    def __init__(self, value, path, anchor, mark):
        self.value, self.path, self.anchor, self.mark = value, path, anchor, mark
        self.count = 1
        self.key = None
        self.has_key = False


def _pos_of(mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def _too_complex(message: str, mark, hint: str) -> YamlProblem:
    line, column = _pos_of(mark)
    return YamlProblem("yaml-too-complex", message, line, column, hint)


#: First characters that may make a plain scalar something other than a string (see Resolver.resolve).
_RESOLVED_FIRST = frozenset(k for k in _Loader.yaml_implicit_resolvers if k)


def _scalar(loader, event) -> Any:
    tag = event.tag
    if tag is None:
        value = event.value
        if not event.implicit[0] or (value and value[0] not in _RESOLVED_FIRST):  # quoted, or a plain word: a string
            return value
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit) if tag is None else _STR
    if tag not in _SCALAR_TAGS:
        line, column = _pos_of(event.start_mark)
        raise YamlProblem("yaml-tag", f"tag {_short(tag)!r} is not allowed; only plain YAML data is read", line, column)
    if tag == _STR or tag == _TIMESTAMP:
        return event.value
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
    try:
        return _constructor.yaml_constructors[tag](_constructor, node)
    except (ValueError, yaml.YAMLError):
        line, column = _pos_of(event.start_mark)
        raise YamlProblem("yaml-syntax", f"cannot read value {event.value!r}", line, column) from None


def _from_events(loader, text: str) -> tuple[Any, dict[tuple, tuple[int, int]]]:
    get = loader.get_event
    get()  # StreamStartEvent
    event = get()
    if isinstance(event, yaml.StreamEndEvent):
        return None, {}
    positions: dict[tuple, tuple[int, int]] = {}
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Frame] = []
    budget = MAX_NODES
    root: Any = None
    done = False
    while not done:
        event = get()
        cls = type(event)
        if cls is yaml.DocumentEndEvent:
            break
        if cls is yaml.MappingEndEvent or cls is yaml.SequenceEndEvent:
            frame = stack.pop()
            if frame.anchor:
                anchors[frame.anchor] = (frame.value, frame.count)
            value, count = frame.value, frame.count
        else:
            parent = stack[-1] if stack else None
            mark = event.start_mark
            if parent is not None and type(parent.value) is dict and not parent.has_key and cls is not yaml.ScalarEvent:
                line, column = _pos_of(mark)
                raise YamlProblem("yaml-syntax", "a mapping key must be a plain scalar", line, column)
            if parent is None:
                path = ()
            elif type(parent.value) is list:
                path = parent.path + (len(parent.value),)
            elif parent.has_key:
                path = parent.path + (parent.key,)
            else:
                path = None  # a key
            if cls is yaml.ScalarEvent:
                value, count = _scalar(loader, event), 1
                if event.anchor:
                    anchors[event.anchor] = (value, 1)
            elif cls is yaml.AliasEvent:
                if event.anchor not in anchors:
                    line, column = _pos_of(mark)
                    raise YamlProblem("yaml-syntax", f"unknown alias {event.anchor!r}", line, column)
                value, count = anchors[event.anchor]
            elif cls is yaml.MappingStartEvent or cls is yaml.SequenceStartEvent:
                is_map = cls is yaml.MappingStartEvent
                if event.tag not in (None, "!", _MAP if is_map else _SEQ):
                    line, column = _pos_of(mark)
                    raise YamlProblem("yaml-tag", f"tag {_short(event.tag)!r} is not allowed; only plain YAML data is read", line, column)
                if len(stack) >= MAX_DEPTH:
                    raise _too_complex(f"values are nested more than {MAX_DEPTH} levels deep", mark, _DEEP_HINT)
                budget -= 1
                if budget < 0:
                    raise _too_complex(f"document has more than {MAX_NODES:,} values", mark, "a claim file holds one claim")
                if path is not None and (parent is None or type(parent.value) is list):
                    positions[path] = _pos_of(mark)
                stack.append(_Frame({} if is_map else [], path, event.anchor, mark))
                continue
            else:  # pragma: no cover - stream events cannot occur inside a document
                continue
            budget -= count
            if budget < 0:
                raise _too_complex(f"document expands to more than {MAX_NODES:,} values", mark,
                                   "write the values out instead of using anchors and aliases" if cls is yaml.AliasEvent
                                   else "a claim file holds one claim")
            if path is not None and (parent is None or type(parent.value) is list):
                positions[path] = _pos_of(mark)
        # attach value to its parent
        if not stack:
            root = value
            continue
        parent = stack[-1]
        parent.count += count
        if type(parent.value) is list:
            parent.value.append(value)
        elif not parent.has_key:
            key = value if type(value) is str else event.value  # `yes:`/`null:`/`1:` as keys mean the words written
            if key in parent.value:
                line, column = _pos_of(event.start_mark)
                first = positions.get(parent.path + (key,), (0, 0))[0]
                raise YamlProblem("duplicate-key", f"duplicate key {key!r} (first defined on line {first})", line, column,
                                  "remove one of them; YAML keeps only the last")
            positions[parent.path + (key,)] = _pos_of(event.start_mark)
            parent.key, parent.has_key = key, True
        else:
            parent.value[parent.key] = value
            parent.has_key = False
    event = get()
    if not isinstance(event, yaml.StreamEndEvent):
        line, column = _pos_of(event.start_mark)
        raise YamlProblem("yaml-syntax", "a file holds one YAML document, but a second one starts here ('---')", line, column,
                          "remove the second document or move it to its own file")
    return root, positions


def location(path: str, positions: dict[tuple, tuple[int, int]], field_path: tuple = ()) -> Location:
    """The Location of ``field_path`` (or its nearest parent) in a parsed file."""
    while field_path and field_path not in positions:
        field_path = field_path[:-1]
    line, column = positions.get(field_path, (0, 0))
    return Location(path, line, column)
