"""The audit at scale: the fast wording check gives exactly what the simple one gave, build_audit
agrees with the graph queries it no longer calls for every claim, and the HTML page lists a bounded
number of problems per code while the counts, Markdown, JSON and --fail-on keep everything.

A generated knowledge base (benchmarks/generate.py, a few hundred claims) stands in for a large
one; no timing is asserted here (benchmarks/ measures speed)."""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import graph as kbgraph
from kb.audit import CODES, PAGE_LIMIT, SEVERITIES, Problem, audit_json, build_audit, load_wording, render_audit, strong_phrases
from kb.graph import build_graph
from kb.load import load_kb

REPO = Path(__file__).resolve().parent.parent


def _reference_fold(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text).casefold()


def reference_strong_phrases(text: str, phrases) -> list[str]:
    """The wording check as first written (one pattern built per phrase per call): the oracle."""
    folded = _reference_fold(text)
    spans: list[tuple[int, int, str]] = []
    for phrase in sorted(set(phrases), key=lambda p: (-len(p), p)):
        pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in _reference_fold(phrase).split()) + r"(?!\w)"
        for m in re.finditer(pattern, folded):
            if any(s <= m.start() and m.end() <= e for s, e, _ in spans):
                continue
            spans.append((m.start(), m.end(), phrase))
    found = []
    for _, _, phrase in sorted(spans):
        if phrase not in found:
            found.append(phrase)
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("kb_benchmark_generate", REPO / "benchmarks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    root = tmp_path_factory.mktemp("gen") / "kb"
    module.generate(root, 600, 120, 1)
    kb = load_kb(root)
    graph = build_graph(kb)
    return kb, graph, build_audit(kb, graph, as_of=2026)


# -- the wording check -----------------------------------------------------------------------

_WORDS = ["toont", "aan", "toont aan", "a", "b", "a b a", "Zeer", "zeer veilig", "veilig", "STRASSE", "straße", "x-y", "y",
          "één", "een", "altijd", "altijdgroen", "proves", "clearly", "'s", "it's", "it\u2019s"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(st.sampled_from(_WORDS + [" ", "  ", "\n", ".", ",", "(", ")", "\u00a0"]), max_size=14).map("".join)
       | st.lists(st.sampled_from(_WORDS), max_size=8).map(" ".join)
       | st.text(alphabet="ab yz-ß'.", max_size=20),
       phrases=st.lists(st.sampled_from(_WORDS) | st.text(alphabet="ab y-", min_size=1, max_size=6).filter(str.strip), max_size=8))
def test_strong_phrases_agree_with_the_simple_check(text, phrases):
    assert strong_phrases(text, tuple(phrases)) == reference_strong_phrases(text, phrases)


def test_strong_phrases_edge_cases_agree_with_the_simple_check():
    cases = [
        ("a b a b a", ("a b a", "b")),             # a phrase that overlaps itself
        ("Altijd altijd", ("altijd", "Altijd")),   # phrases that fold to the same words
        ("de STRASSE is zeer veilig", ("straße", "strasse", "zeer veilig", "veilig")),  # folding changes the length
        ("  zeer   veilig  ", ("zeer veilig",)),   # leading, repeated and trailing whitespace
        ("x-y en y", ("x-y", "y")),                # non-word characters inside a phrase
        ("it\u2019s clear", ("it's clear",)),       # curly apostrophe
        ("", ("altijd",)),
        ("altijd", ()),
    ]
    for text, phrases in cases:
        assert strong_phrases(text, phrases) == reference_strong_phrases(text, phrases), (text, phrases)
    assert strong_phrases("a b a b a", ("a b a", "b")) == ["a b a", "b"]


def test_strong_phrases_on_every_text_of_a_generated_kb(generated):
    kb, _, _ = generated
    wording = load_wording()
    flagged = 0
    for claim in kb.claims.values():
        for lang in ("nl", "en"):
            got = strong_phrases(claim.text.get(lang), wording.phrases[lang])
            assert got == reference_strong_phrases(claim.text.get(lang), wording.phrases[lang]), claim.id
            flagged += bool(got)
    assert flagged > 50  # the generated wording does use strong phrases


# -- build_audit against the graph -----------------------------------------------------------

def test_build_audit_of_a_generated_kb_agrees_with_the_graph(generated):
    kb, graph, audit = generated
    wording = load_wording()
    strong = {p.subject: p for p in audit.problems if p.code == "strong-wording"}
    expected = {}
    for claim in kb.claims.values():
        certainty = kbgraph.why(graph, claim.id).certainty
        found = [f"{p} ({lang})" for lang in ("nl", "en") for p in reference_strong_phrases(claim.text.get(lang), wording.phrases[lang])]
        if found and certainty in wording.flag_when:
            expected[claim.id] = (tuple(found), certainty)
    assert expected and {cid: p.phrases for cid, p in strong.items()} == {cid: found for cid, (found, _) in expected.items()}
    for cid, (_, certainty) in expected.items():
        assert strong[cid].messages["en"].endswith(
            {"low": "while its best evidence is of low certainty", "very-low": "while its best evidence is of very low certainty",
             "not-graded": "while none of its evidence is graded for certainty", "none": "with no supporting evidence"}[certainty])
    singles = {p.subject: p for p in audit.problems if p.code == "single-source"}
    assert set(singles) == set(kbgraph.single_source_claims(graph))
    for cid, p in singles.items():
        (ref,) = kbgraph.why(graph, cid).supporting_refs
        assert p.message == f"all supporting evidence comes from one reference: {ref}"
    assert audit.counts == {s: sum(p.severity == s for p in audit.problems) for s in SEVERITIES}
    assert audit.by_code == {c: n for c in CODES if (n := sum(p.code == c for p in audit.problems))}
    assert [p.rank for p in audit.problems] == sorted(p.rank for p in audit.problems)


def test_shared_messages_are_right_for_each_problem(generated):
    kb, _, audit = generated
    for p in audit.problems:
        assert p.message == p.messages["en"] and set(p.messages) == {"nl", "en"}
        if p.code == "old-source":
            year = kb.references[p.subject].year
            assert p.message == f"published {year}, {2026 - year} years ago (limit: 15)"


@pytest.mark.parametrize("limit", [0, 1, 7, 10_000])
def test_listing_is_every_problem_in_order_up_to_the_limit(generated, limit):
    _, _, audit = generated
    for severity in SEVERITIES:
        problems = audit.by_severity(severity)
        listing = audit.listing(severity, limit)
        assert listing == audit._listing_unsorted(severity, limit)
        assert [code for code, _, _ in listing] == [c for c in CODES if CODES[c] == severity and c in audit.by_code]
        for code, rows, hidden in listing:
            of_code = [(n, p) for n, p in enumerate(problems, 1) if p.code == code]
            assert rows == (of_code[:limit] if limit else of_code)
            assert hidden == len(of_code) - len(rows)


# -- the page and the complete outputs -------------------------------------------------------

def _site_page(kb, audit, **extra):
    from kb.handout import document_env
    from kb.render import render_template
    from kb.site import common_context

    return render_template(document_env(kb), "audit.html.j2", {**common_context(kb, "audit.html", "en", True), "audit": audit, **extra})


def test_the_page_lists_at_most_limit_problems_per_code_with_complete_counts(generated):
    kb, _, audit = generated
    html = _site_page(kb, audit, limit=5)
    rows = re.findall(r'<tr id="p-(\w+)-(\d+)">', html)
    shown = Counter(sev for sev, _ in rows)
    for severity in SEVERITIES:
        expected = sum(min(n, 5) for c, n in audit.by_code.items() if CODES[c] == severity)
        assert shown[severity] == expected
        assert f'<span class="count">({audit.counts[severity]})</span>' in html
    more = re.findall(r'<tr class="audit-more"><td colspan="4"><code>([\w-]+)</code>: (\d+) more not listed on this page', html)
    assert more and {code: int(n) for code, n in more} == {c: n - 5 for c, n in audit.by_code.items() if n > 5}
    for code, n in audit.by_code.items():
        assert f"<code>{code}</code> {n}" in html  # the counts line stays complete
    # a problem naming more claims than the limit names the first ones, then links the reference's page
    html = _site_page(kb, audit, limit=20)
    shown = [(s, n, p) for s in SEVERITIES for _, rows, _ in audit.listing(s, 20) for n, p in rows]
    severity, number, big = next((s, n, p) for s, n, p in shown if len(p.claims) > 20)
    row = html.split(f'<tr id="p-{severity}-{number}">', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<a href="claims/([^"]+)\.html">', row) == list(big.claims[:20])
    assert f'<a href="{big.href}">and {len(big.claims) - 20} more</a>' in row


def test_the_default_page_is_bounded_and_limit_0_lists_everything(generated):
    kb, _, audit = generated
    default = _site_page(kb, audit)
    assert len(re.findall(r'<tr id="p-', default)) == sum(min(n, PAGE_LIMIT) for n in audit.by_code.values())
    everything = _site_page(kb, audit, limit=0)
    assert len(re.findall(r'<tr id="p-', everything)) == len(audit.problems)
    assert "audit-more" not in everything and " more</a>" not in everything


def test_markdown_and_json_list_every_problem(generated):
    kb, _, audit = generated
    md = render_audit(kb, audit, "md", lang="en")
    assert len(re.findall(r"^- \*\*[\w-]+\*\* `", md, flags=re.M)) == len(audit.problems) > 1000
    data = json.loads(render_audit(kb, audit, "json"))
    assert len(data["problems"]) == len(audit.problems)
    big = max(audit.problems, key=lambda p: len(p.claims))
    assert len(big.claims) > 5 and ", ".join(big.claims) in md  # every claim named, not capped


def test_as_dict_is_what_dataclasses_asdict_gives(generated):
    from dataclasses import asdict

    _, _, audit = generated
    expected = asdict(audit)
    del expected["kept"]  # how much of the problems the object holds: not a part of the report
    expected["coverage"]["most_relied_on"] = [{"ref": k, "claims": n} for k, n in audit.coverage.most_relied_on]
    got = audit.as_dict()
    assert got == {"kb_audit_version": 1, **expected} and list(got) == ["kb_audit_version", *expected]
    assert all(list(p) == list(e) for p, e in zip(got["problems"], expected["problems"]))  # key order: the JSON's order
    got["problems"][0]["messages"]["en"] = "changed"
    assert audit.problems[0].messages["en"] != "changed"  # a copy, as asdict makes


def _slow_json(audit) -> str:
    return json.dumps(audit.as_dict(), ensure_ascii=False, indent=2) + "\n"


def test_json_is_byte_for_byte_what_json_dumps_writes(generated):
    _, _, audit = generated
    assert audit_json(audit) == _slow_json(audit)
    assert audit_json(replace(audit, problems=())) == _slow_json(replace(audit, problems=()))
    mini = load_kb(CASE)
    assert render_audit(mini, build_audit(mini, build_graph(mini), as_of=2026), "json") == (CASE / "expected" / "audit.json").read_text(encoding="utf-8")


_odd = (st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(['"', "\\", "\n", "\x00", "\u2028", "\ue000"]), max_size=12)
        | st.just("\ue000problems\ue000"))  # the placeholder audit_json uses


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_odd, min_size=10, max_size=10), lists=st.lists(st.lists(_odd, max_size=3).map(tuple), min_size=2, max_size=2),
       messages=st.dictionaries(_odd, _odd, max_size=3), odd_value=st.sampled_from([None, 3, "plain"]))
def test_json_of_odd_text_is_what_json_dumps_writes(generated, texts, lists, messages, odd_value):
    _, _, audit = generated
    problem = Problem(severity=texts[0], code=texts[1], subject_kind=texts[2], subject=texts[3], message=texts[4], detail=texts[5],
                      location=texts[6], phrases=lists[0], claims=lists[1], messages=messages, href=texts[7])
    odd = replace(problem, detail=odd_value)  # a value of another type: written by json.dumps itself
    small = replace(audit, title=texts[8], problems=(problem, audit.problems[0], odd))
    assert audit_json(small) == _slow_json(small)


def test_this_repository_s_page_lists_every_problem():
    kb = load_kb(REPO)
    audit = build_audit(kb, build_graph(kb), as_of=2026)
    html = _site_page(kb, audit)
    assert len(re.findall(r'<tr id="p-', html)) == len(audit.problems) and "audit-more" not in html


# -- the CLI ---------------------------------------------------------------------------------

CASE = Path(__file__).resolve().parent / "cases" / "audit-mini"


def test_cli_limit_for_html(run_kb):
    code, out, err = run_kb(CASE, "audit", "--format", "html", "--limit", "1", "--as-of", "2026", "--lang", "en")
    assert code == 0, err
    kb = load_kb(CASE)
    by_code = build_audit(kb, build_graph(kb), as_of=2026).by_code
    assert len(re.findall(r'<tr id="p-', out)) == len(by_code)  # one problem of each code
    assert '<tr class="audit-more"><td colspan="4"><code>single-source</code>: 2 more not listed on this page' in out
    assert "kb audit: 3 errors, 8 warnings, 7 info" in err  # the summary counts everything


def test_cli_limit_is_for_html_only_and_a_count(run_kb):
    code, out, err = run_kb(CASE, "audit", "--format", "md", "--limit", "3")
    assert (code, out) == (1, "")
    assert err.strip() == "kb: error: --limit applies to --format html only; --format md always lists every problem"
    code, _, err = run_kb(CASE, "audit", "--format", "html", "--limit", "-1")
    assert code == 2 and "argument --limit: expected a whole number, 0 or more, got '-1'" in err


def test_fail_on_counts_problems_the_page_leaves_out(run_kb, generated):
    kb, _, audit = generated
    code, out, err = run_kb(Path(kb.root), "audit", "--format", "html", "--limit", "1", "--fail-on", "warning", "--as-of", "2026")
    assert code == 1
    n = len(audit.at_or_above("warning"))
    assert n > 20 and f"failing: {n} problems at or above 'warning'" in err


# -- the site's record of its audit page (kb/siteupdate.py patches it after a verdict edit) -------

def _page_of(audit):
    """What the site's audit page shows of an audit."""
    return ([audit.listing(severity, PAGE_LIMIT) for severity in SEVERITIES], audit.counts, audit.by_code, audit.charts,
            audit.coverage, audit.retractions, audit.title, audit.as_of, audit.old_source_years)


@pytest.mark.parametrize("keep", [PAGE_LIMIT + 5, 10_000])
def test_a_recorded_audit_patched_after_verdict_edits_shows_what_a_new_audit_shows(generated, keep):
    from kb.audit import VERDICT_CODES, audit_from_record, audit_record, patched_audit
    from kb.site import reference_filename

    kb, graph, audit = generated
    record = json.loads(json.dumps(audit_record(audit, keep)))  # through JSON, as the manifest keeps it
    citing = kb.citing_claims()
    restored = audit_from_record(record, lambda key: tuple(sorted(citing.get(key, ()))))
    assert _page_of(restored) == _page_of(audit)
    assert len(restored.problems) < len(audit.problems) or keep > len(audit.problems)
    # verdicts and reasons changed: into and out of every verdict that is a problem, early and late ids
    claims = sorted(kb.claims.values(), key=lambda c: c.id)
    assert Counter(c.verdict for c in claims)["overstated"] > PAGE_LIMIT  # some rows of the code are not on the page
    ends = [claims[0], claims[1], claims[len(claims) // 2], claims[-1]]
    picks = ends + [c for c in claims if c.verdict == "overstated" and c not in ends][:2]
    picks += [c for c in claims if c.verdict == "uncited" and c not in ends][:1]
    new_verdicts = ["overstated", "unsupported", "source-misdescribed", "supported", "supported", "overstated", "uncited"]
    changed, claims_now = [], dict(kb.claims)
    for claim, verdict in zip(picks, new_verdicts):
        now = replace(claim, verdict=verdict, verdict_reason=f"new reason for {claim.id}")
        changed.append((now, claim.verdict))
        claims_now[claim.id] = now
    assert {old for _, old in changed} | {c.verdict for c, _ in changed} >= set(VERDICT_CODES)
    kb_now = replace(kb, claims=claims_now)
    expected = build_audit(kb_now, build_graph(kb_now), as_of=2026)
    patched = patched_audit(restored, changed, reference_filename)
    assert patched is not None
    assert _page_of(patched) == _page_of(expected)
    assert patched.by_code == expected.by_code and patched.counts == expected.counts


def test_a_patched_audit_that_lost_rows_of_the_page_is_refused(generated):
    """With no rows kept beyond the page's, a verdict edit that takes one off the page leaves a gap
    that only a new audit can fill: ``patched_audit`` says so (None) instead of showing too few."""
    from kb.audit import audit_from_record, audit_record, patched_audit
    from kb.site import reference_filename

    kb, _, audit = generated
    citing = kb.citing_claims()
    restored = audit_from_record(audit_record(audit, PAGE_LIMIT), lambda key: tuple(sorted(citing.get(key, ()))))
    first = restored.listing("warning", PAGE_LIMIT)
    overstated = next(rows for code, rows, _ in first if code == "overstated")
    claim = kb.claims[overstated[0][1].subject]
    assert patched_audit(restored, [(replace(claim, verdict="supported"), "overstated")], reference_filename) is None
    with pytest.raises(ValueError):
        restored.listing("warning", PAGE_LIMIT + 1)
    for partial in (restored.as_dict, lambda: restored.at_or_above("info"), lambda: restored.by_severity("error")):
        with pytest.raises(ValueError):  # every problem asked for, of an audit that keeps some
            partial()
