"""Property-based tests (hypothesis) for the loaders and the validator.

* Totality: any mutation of a valid claim file or BibTeX file gives either a clean load or our own
  Diagnostic / KbError with a location, never another exception, and never a hang (bounded by
  hypothesis' per-example deadline, not by timed asserts).
* Round trip: a generated Claim, written by a small dumper here, loads back equal.
* Determinism: validate() is sorted and the same on repeated runs.
* The fast schema check agrees with jsonschema: it never accepts a document jsonschema rejects.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MINI_ARTICLE, MINI_BIB, MINI_CLAIMS, MINI_KB_YAML, make_kb
from kb.bib import parse_bib_text
from kb.errors import Diagnostic, KbError
from kb.load import load_claim_text, load_kb
from kb.model import CERTAINTIES, KINDS, RELATIONS, STATUSES, VERDICTS, Claim, Evidence, Text
from kb.schema import _fast_check, _validator
from kb.validate import validate
from kb.yamlsafe import YamlProblem, decode, parse_yaml

# A generous per-example deadline: a hang or an exponential blow-up fails, a slow CI machine does not.
BOUNDED = settings(max_examples=150, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])

VALID_CLAIM = MINI_CLAIMS["pijn-oefentherapie"].encode("utf-8")
VALID_BIB = MINI_BIB.encode("utf-8")


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """Apply 1-4 random edits: byte flips, line deletions, duplications, swaps, truncation, insertions."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "delete-line", "duplicate-line", "swap-lines", "truncate", "insert"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif op in ("delete-line", "duplicate-line", "swap-lines"):
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            if op == "delete-line":
                del lines[i]
            elif op == "duplicate-line":
                lines.insert(i, lines[i])
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            data = bytearray(b"\n".join(lines))
        elif op == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            junk = draw(st.sampled_from([b"{", b"}", b"[", b"]", b"&a ", b"*a", b"!!python/object:os.system ", b"\t", b"\xff",
                                         b"\xef\xbb\xbf", b"---\n", b"- ", b": ", b"\"", b"'", b"@article{x,", b",", b"=", b"\\", b"%",
                                         b"\x00", b"#", b"? ", b"|\n", b">-\n", b"\r"]))
            data[i:i] = junk
    return bytes(data)


def _assert_located(diagnostics, rel: str) -> None:
    for d in diagnostics:
        assert isinstance(d, Diagnostic)
        assert d.location.path, d
        assert d.code and d.message and "\n" not in str(d), d


@BOUNDED
@given(mutated(VALID_CLAIM))
def test_mutated_claim_text_loads_or_reports(raw):
    try:
        text, _ = decode(raw)
    except YamlProblem as problem:
        assert problem.code in ("encoding", "file-too-large")
        return
    claim, diagnostics = load_claim_text(text, "claims/pijn-oefentherapie.yaml")
    assert (claim is None) == bool(diagnostics)
    _assert_located(diagnostics, "claims/pijn-oefentherapie.yaml")
    for d in diagnostics:  # a YAML or schema problem points at a line, except for a file that is empty or too large
        assert d.location.line > 0 or d.code in ("empty-file", "yaml-syntax"), d


@BOUNDED
@given(mutated(VALID_BIB))
def test_mutated_bib_text_parses_or_reports(raw):
    text = raw.decode("utf-8", errors="replace")
    data, references, diagnostics = parse_bib_text(text, "references/refs.bib")
    _assert_located(diagnostics, "references/refs.bib")
    for ref in references:
        assert isinstance(ref.title, str)


@settings(max_examples=40, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(claim=mutated(VALID_CLAIM), bib=mutated(VALID_BIB), article=mutated(MINI_ARTICLE.encode()), settings_file=mutated(MINI_KB_YAML.encode()))
def test_mutated_files_in_a_knowledge_base(tmp_path_factory, claim, bib, article, settings_file):
    """Whole pipeline, files on disk: load_kb + validate raise nothing but KbError, and validate is total."""
    root = make_kb(tmp_path_factory.mktemp("kb"))
    (root / "claims" / "pijn-oefentherapie.yaml").write_bytes(claim)
    (root / "references" / "refs.bib").write_bytes(bib)
    (root / "articles" / "mini.md").write_bytes(article)
    (root / "kb.yaml").write_bytes(settings_file)
    try:
        kb = load_kb(root)
    except KbError as exc:  # pragma: no cover - only a missing folder raises, and none is missing here
        pytest.fail(f"unexpected KbError {exc}")
    diagnostics = validate(kb)
    _assert_located(diagnostics, "")
    assert diagnostics == sorted(diagnostics, key=lambda d: d.sort_key)


# --- round trip -------------------------------------------------------------------------------------

ids = st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True)
safe_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=60)
#: A claim's text and plain wording: more than white space (the schema's pattern "\\S").
worded_text = safe_text.filter(lambda s: not s.isspace())


def dump_claim(claim: Claim) -> str:
    """A tiny YAML writer for claims, independent of the loader: every string as a JSON string (valid YAML)."""
    def q(value: str) -> str:  # a JSON string is a YAML double-quoted scalar, once YAML's own line breaks are escaped
        text = json.dumps(value, ensure_ascii=False)
        for char in "\u0085\u2028\u2029\ufeff\ufffe\uffff":
            text = text.replace(char, f"\\u{ord(char):04x}")
        return text

    # ids are quoted too: unquoted, an id such as `on` or `no` is read by YAML as true or false
    lines = [f"id: {q(claim.id)}", f"article: {q(claim.article)}", f"section: {q(claim.section)}", f"kind: {claim.kind}",
             "text:", f"  nl: {q(claim.text.nl)}", f"  en: {q(claim.text.en)}"]
    if claim.plain is not None:
        lines.append("plain:")
        lines += [f"  {lang}: {q(getattr(claim.plain, lang))}" for lang in ("nl", "en") if getattr(claim.plain, lang)]
    if claim.tags:
        lines.append("tags: [" + ", ".join(map(q, claim.tags)) + "]")
    if claim.derived_from:
        lines.append("derived_from:")
        lines += [f"  - {q(d)}" for d in claim.derived_from]
    lines.append("evidence:" if claim.evidence else "evidence: []")
    for ev in claim.evidence:
        lines += [f"  - ref: {q(ev.ref)}", f"    relation: {ev.relation}", f"    cited_in_article: {str(ev.cited_in_article).lower()}",
                  f"    certainty: {ev.certainty}"]
        for name in ("locator", "found", "quote"):
            if getattr(ev, name):
                lines.append(f"    {name}: {q(getattr(ev, name))}")
    lines += [f"verdict: {claim.verdict}", f"status: {claim.status}"]
    for name in ("verdict_reason", "reviewer", "notes"):
        if getattr(claim, name):
            lines.append(f"{name}: {q(getattr(claim, name))}")
    if claim.reviewed_on:
        lines.append(f"reviewed_on: {claim.reviewed_on}")
    return "\n".join(lines) + "\n"


evidence_st = st.builds(
    Evidence,
    ref=st.from_regex(r"[a-z][a-z0-9]{2,20}", fullmatch=True),
    relation=st.sampled_from(RELATIONS),
    cited_in_article=st.booleans(),
    certainty=st.sampled_from(CERTAINTIES),
    locator=st.one_of(st.just(""), safe_text),
    found=st.one_of(st.just(""), safe_text),
    quote=st.one_of(st.just(""), safe_text),
)


@st.composite
def claims(draw) -> Claim:
    evidence = draw(st.lists(evidence_st, max_size=3))
    return Claim(
        id=draw(ids),
        article=draw(ids),
        section=draw(ids),
        kind=draw(st.sampled_from(KINDS)),
        text=Text(nl=draw(worded_text), en=draw(worded_text)),
        evidence=tuple(evidence),
        verdict=draw(st.sampled_from(VERDICTS)),
        status=draw(st.sampled_from(STATUSES)),
        derived_from=tuple(draw(st.lists(ids, max_size=3, unique=True))),
        tags=tuple(draw(st.lists(ids, max_size=3, unique=True))),
        plain=draw(st.one_of(st.none(), st.builds(Text, nl=worded_text, en=worded_text),
                             st.builds(Text, nl=st.just(""), en=worded_text), st.builds(Text, nl=worded_text, en=st.just("")))),
        verdict_reason=draw(st.one_of(st.just(""), safe_text)),
        reviewer=draw(st.one_of(st.just(""), safe_text)),
        reviewed_on=draw(st.one_of(st.just(""), st.dates().map(lambda d: f"{d:%Y-%m-%d}").filter(lambda s: len(s) == 10))),
        notes=draw(st.one_of(st.just(""), safe_text)),
    )


def _without_locations(claim: Claim) -> Claim:
    from dataclasses import replace

    from kb.errors import Location

    return replace(claim, location=Location(""), evidence=tuple(replace(ev, location=Location("")) for ev in claim.evidence))


@settings(max_examples=200, deadline=timedelta(seconds=5))
@given(claims())
def test_claim_round_trip(claim):
    loaded, diagnostics = load_claim_text(dump_claim(claim), f"claims/{claim.id}.yaml")
    assert diagnostics == []
    assert _without_locations(loaded) == claim
    assert loaded.location.path == f"claims/{claim.id}.yaml"
    # every evidence item points at its own line
    assert [ev.location.line for ev in loaded.evidence] == sorted({ev.location.line for ev in loaded.evidence})


# --- determinism ------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(st.tuples(ids, st.lists(ids, max_size=3), st.sampled_from(["geneen2017", "lauersen2014", "gneen2017"])),
                      min_size=1, max_size=6, unique_by=lambda t: t[0]))
def test_validate_is_sorted_and_deterministic(tmp_path_factory, extra):
    """Claims with random derived_from links (cycles, unknown ids) and references: same sorted output every time."""
    root = make_kb(tmp_path_factory.mktemp("kb"))
    for claim_id, derived, ref in extra:
        text = MINI_CLAIMS["conclusie"].replace("id: conclusie", f"id: {claim_id}")
        text = text.replace("derived_from: [pijn-oefentherapie, blessures-preventie]", f"derived_from: [{', '.join(derived)}]")
        text = text.replace("evidence: []", f"evidence:\n  - ref: {ref}\n    relation: mentions\n    cited_in_article: false\n    certainty: low")
        (root / "claims" / f"{claim_id}.yaml").write_text(text, encoding="utf-8")
    first = validate(load_kb(root))
    second = validate(load_kb(root))
    assert first == second
    assert first == sorted(first, key=lambda d: d.sort_key)
    assert [str(d) for d in first] == [str(d) for d in validate(load_kb(root))]


# --- the fast schema path never disagrees with jsonschema -------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "low", "supports", "2026-01-01", "a-b", "A/B"])),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(["id", "ref", "nl", "en", "kind", "evidence", "x"]), children, max_size=3)),
    max_leaves=8,
)


@st.composite
def near_valid_claims(draw) -> dict:
    data, _ = parse_yaml(MINI_CLAIMS[draw(st.sampled_from(sorted(MINI_CLAIMS)))])
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from([("id",), ("kind",), ("text",), ("text", "nl"), ("evidence",), ("evidence", 0),
                                     ("evidence", 0, "certainty"), ("evidence", 0, "cited_in_article"), ("tags",), ("derived_from",),
                                     ("verdict",), ("extra",)]))
        target = data
        for part in path[:-1]:
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and isinstance(part, int) and part < len(target):
                target = target[part]
            else:
                break
        else:
            if isinstance(target, dict) and isinstance(path[-1], str):
                if draw(st.booleans()):
                    target[path[-1]] = draw(json_values)
                else:
                    target.pop(path[-1], None)
            elif isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target):
                target[path[-1]] = draw(json_values)
    return data


@settings(max_examples=300, deadline=timedelta(seconds=5))
@given(near_valid_claims())
def test_fast_schema_check_never_accepts_an_invalid_claim(data):
    fast = _fast_check("claim")
    assert fast is not None
    errors = list(_validator("claim").iter_errors(data))
    assert fast(data) == (not errors)
