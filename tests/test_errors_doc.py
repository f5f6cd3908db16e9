"""docs/errors.md cannot drift: every diagnostic code used in kb/ is registered in kb.errors.CODES and
has its own section in docs/errors.md, and the document describes no code that does not exist."""

from __future__ import annotations

import re

from conftest import TESTS
from kb.errors import CODES, ConfigError, ExportError, KbError, LoadError, RenderError

ROOT = TESTS.parent
DOC = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")

# The ways kb/ creates a diagnostic with a literal code:
#   Diagnostic(Severity.ERROR, "code", ...), Diagnostic(E, "code", ...), Diagnostic(severity, "code", ...)
#   YamlProblem("code", ...), and the local helpers diag("code", ...) / warn("code", ...) / _diag / _warn
_CALL = re.compile(
    r"""(?:\bDiagnostic\(\s*(?:Severity\.[A-Z]+|[EW]|severity|sev)\s*,\s*|\bYamlProblem\(\s*|\b_?(?:diag|warn|error|warning|problem)\(\s*)"""
    r"""["']([a-z][a-z0-9-]*)["']"""
)


def codes_in_source() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "kb").rglob("*.py")):
        for code in _CALL.findall(path.read_text(encoding="utf-8")):
            found.setdefault(code, set()).add(path.relative_to(ROOT).as_posix())
    return found


def documented_codes() -> list[str]:
    return re.findall(r"^### `([a-z0-9-]+)`$", DOC, flags=re.MULTILINE)


def test_the_source_scan_finds_each_kind_of_call():
    found = codes_in_source()
    for code in ("unknown-ref", "yaml-tag", "bib-braces", "bib-missing-field", "unknown-field", "duplicate-id"):
        assert code in found, code


def test_every_code_in_the_source_is_registered():
    unregistered = {code: sorted(paths) for code, paths in codes_in_source().items() if code not in CODES}
    assert not unregistered, f"add these codes to kb.errors.CODES and a section to docs/errors.md: {unregistered}"


def test_every_registered_code_is_used():
    unused = sorted(set(CODES) - set(codes_in_source()))
    assert not unused, f"codes in kb.errors.CODES that no module emits: {unused}"


def test_every_code_is_documented_once():
    documented = documented_codes()
    assert sorted(set(CODES) - set(documented)) == [], "codes without a section in docs/errors.md"
    assert sorted(set(documented) - set(CODES)) == [], "sections in docs/errors.md for codes that do not exist"
    assert len(documented) == len(set(documented)), "a code is documented twice"


def test_each_section_has_a_severity_an_example_and_a_fix():
    sections = re.split(r"^### ", DOC, flags=re.MULTILINE)
    for section in sections[1:]:
        heading = section.splitlines()[0]
        match = re.fullmatch(r"`([a-z0-9-]+)`", heading)
        if not match:
            continue
        code = match.group(1)
        assert re.search(r"\*\*(error|warning)\b", section), f"{code}: no severity"
        assert f"[{code}]`" in section, f"{code}: no example line ending in [{code}]"
        assert "Fix:" in section, f"{code}: no fix"


def test_examples_carry_the_code_of_their_section():
    current = None
    for line in DOC.splitlines():
        heading = re.fullmatch(r"### `([a-z0-9-]+)`", line)
        if heading:
            current = heading.group(1)
        elif line.startswith("### "):
            current = None
        elif current and line.startswith("`") and re.search(r"\[([a-z0-9-]+)\]`$", line):
            assert line.endswith(f"[{current}]`"), (current, line)


def test_kb_error_codes_are_documented():
    for cls in (KbError, LoadError, ConfigError, RenderError, ExportError):
        assert f"`{cls.__name__}` (`{cls.code}`)" in DOC, cls


def test_corpus_codes_are_registered():
    for expected in sorted((TESTS / "bad").glob("*/expected.txt")):
        for code in re.findall(r"\[([a-z0-9-]+)\]$", expected.read_text(encoding="utf-8"), flags=re.MULTILINE):
            assert code in CODES, (expected, code)


def test_corpus_example_lines_in_the_doc_are_real_output():
    """Example lines quoted from the bad-input corpus are exactly what kb prints today."""
    outputs = set()
    for expected in (TESTS / "bad").glob("*/expected.txt"):
        outputs.update(expected.read_text(encoding="utf-8").splitlines())
    corpus_codes = {m for line in outputs for m in re.findall(r"\[([a-z0-9-]+)\]$", line)}
    examples = [line.strip("`") for line in DOC.splitlines()
                if re.fullmatch(r"`(claims|references|articles|kb\.yaml)[^`]*\[[a-z0-9-]+\]`", line)
                and re.search(r"\[([a-z0-9-]+)\]`$", line).group(1) in corpus_codes]
    assert len(examples) > 40
    stale = [line for line in examples if line not in outputs]
    assert not stale, "example lines in docs/errors.md that kb no longer prints:\n" + "\n".join(stale)


# --- docs/format.md and docs/export.md describe every field ------------------------------------------


def _schema_fields(schema: dict) -> set[str]:
    names = set(schema.get("properties", {}))
    for sub in list(schema.get("properties", {}).values()) + list(schema.get("$defs", {}).values()):
        names |= _schema_fields(sub)
    return names


def test_format_doc_describes_every_schema_field():
    from kb.schema import load_schema

    doc = (ROOT / "docs" / "format.md").read_text(encoding="utf-8")
    for name in ("claim", "kb"):
        missing = sorted(f for f in _schema_fields(load_schema(name)) if f"`{f}`" not in doc)
        assert not missing, f"fields of schema/{name}.schema.json not in docs/format.md: {missing}"


def test_format_doc_lists_every_enumerated_value_and_bib_field():
    from kb.article import _FRONT_KEYS
    from kb.bib import RETRACTION_KINDS, STUDY_TYPES
    from kb.model import CERTAINTIES, KINDS, RELATIONS, STATUSES, VERDICTS

    doc = (ROOT / "docs" / "format.md").read_text(encoding="utf-8")
    values = [*KINDS, *RELATIONS, *CERTAINTIES, *VERDICTS, *STATUSES, *STUDY_TYPES, *RETRACTION_KINDS, *_FRONT_KEYS,
              "pmid", "pmcid", "studytype", "verified", "verification", "citedas", "discrepancy", "conclusion", "retractionnotice"]
    missing = [v for v in values if f"`{v}`" not in doc]
    assert not missing, missing


def test_export_doc_describes_every_exported_field(mini_kb):
    from kb.export import export_document
    from kb.load import load_kb

    doc = (ROOT / "docs" / "export.md").read_text(encoding="utf-8")
    data = export_document(load_kb(mini_kb))
    names = set(data)
    for group in ("claims", "references", "articles"):
        for item in data[group]:
            names |= set(item)
    for claim in data["claims"]:
        for ev in claim["evidence"]:
            names |= set(ev)
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"exported fields not described in docs/export.md: {missing}"
