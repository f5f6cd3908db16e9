"""kb.validate: the cross-file checks, one concern each, as whole diagnostic lines."""

from __future__ import annotations

import importlib

from conftest import MINI_BIB, MINI_CLAIMS, make_kb
from kb.load import load_kb
from kb.validate import _cycles, check_anchors, check_derived, check_evidence, check_references, validate

P, B, C = MINI_CLAIMS["pijn-oefentherapie"], MINI_CLAIMS["blessures-preventie"], MINI_CLAIMS["conclusie"]


def lines(check, root) -> list[str]:
    return [str(d) for d in check(load_kb(root))]


def kb_with(tmp_path, **claims):
    all_claims = dict(MINI_CLAIMS)
    all_claims.update({k.replace("_", "-"): v for k, v in claims.items()})
    return make_kb(tmp_path / "kb", claims=all_claims)


def test_clean_kb_has_no_diagnostics(mini_kb):
    assert validate(load_kb(mini_kb)) == []


def test_unknown_reference_with_suggestion(tmp_path):
    root = kb_with(tmp_path, pijn_oefentherapie=P.replace("ref: geneen2017", "ref: Geneen2017"))
    assert lines(check_references, root) == [
        "claims/pijn-oefentherapie.yaml:10:5: error: unknown reference 'Geneen2017'; did you mean 'geneen2017'? [unknown-ref]",
        "references/refs.bib:2:1: warning: reference 'geneen2017' is not cited by any claim; link it from a claim's evidence or remove it "
        "[unused-ref]",
    ]


def test_unknown_reference_without_a_near_miss(tmp_path):
    root = kb_with(tmp_path, pijn_oefentherapie=P.replace("ref: geneen2017", "ref: smith1999"))
    assert lines(check_references, root)[0] == (
        "claims/pijn-oefentherapie.yaml:10:5: error: unknown reference 'smith1999'; add it to a file in references/ [unknown-ref]")


def test_missing_doi_only_for_cited_references(tmp_path):
    bib = MINI_BIB.replace("  doi = {10.1136/bjsports-2013-092538},\n", "")
    root = make_kb(tmp_path / "kb", bib=bib)
    assert lines(check_references, root) == [
        "references/refs.bib:15:1: warning: reference 'lauersen2014' is cited but has no DOI; "
        "add the doi field, or note in 'verification' why there is none [missing-doi]"]


def test_no_evidence_and_verdict_mismatch(tmp_path):
    bare = P[:P.index("evidence:")] + "evidence: []\nverdict: supported\nstatus: draft\n"
    root = kb_with(tmp_path, pijn_oefentherapie=bare, blessures_preventie=B.replace("cited_in_article: false", "cited_in_article: true"))
    assert lines(check_evidence, root) == [
        "claims/blessures-preventie.yaml:15:1: warning: claim 'blessures-preventie' is marked uncited but the article cites a source for it; "
        "choose another verdict, or set cited_in_article: false [verdict-mismatch]",
        "claims/pijn-oefentherapie.yaml:10:1: warning: claim 'pijn-oefentherapie' has no evidence but its verdict is 'supported'; "
        "add evidence, or set verdict: uncited [no-evidence]",
    ]


def test_uncited_and_unsupported_claims_need_no_evidence(tmp_path):
    for verdict in ("uncited", "unsupported"):
        bare = P[:P.index("evidence:")] + f"evidence: []\nverdict: {verdict}\nstatus: draft\n"
        root = make_kb(tmp_path / verdict, claims={**MINI_CLAIMS, "pijn-oefentherapie": bare})
        assert lines(check_evidence, root) == []


def test_three_claim_cycle_is_reported_once(tmp_path):
    def summary(cid, derived):
        return C.replace("id: conclusie", f"id: {cid}").replace("[pijn-oefentherapie, blessures-preventie]", f"[{derived}]")

    root = make_kb(tmp_path / "kb", claims={**MINI_CLAIMS, "a": summary("a", "b"), "b": summary("b", "c"), "c": summary("c", "a")})
    assert lines(check_derived, root) == [
        "claims/a.yaml:8:16: error: derived_from forms a cycle: a -> b -> c -> a; a claim cannot rest, even indirectly, on itself [derived-cycle]"]


def test_cycles_helper_is_iterative():
    """A chain of 20,000 derived_from links closes into one cycle; no recursion limit is hit."""
    n = 20_000
    edges = {f"c{i:05d}": [f"c{(i + 1) % n:05d}"] for i in range(n)}
    (cycle,) = _cycles(edges)
    assert len(cycle) == n and cycle[0] == "c00000"
    assert _cycles({"a": ["b"], "b": []}) == []
    assert _cycles({"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]}) == [["a", "b"], ["c", "d"]]


def test_anchor_checks(tmp_path):
    root = kb_with(tmp_path,
                   pijn_oefentherapie=P.replace("section: pijn", "section: blessures"),
                   blessures_preventie=B.replace("verminderen sportblessures", "verminderen alle sportblessures"))
    assert lines(check_anchors, root) == [
        "claims/blessures-preventie.yaml:6:3: error: claim text is not found in article 'mini'; "
        "copy the sentence exactly as it appears in the article [text-not-in-article]",
        "claims/pijn-oefentherapie.yaml:3:1: warning: claim text is in article 'mini' but not in section 'blessures' [wrong-section]",
    ]


def test_anchoring_ignores_spacing_and_quote_style(tmp_path):
    text = B.replace('nl: "Preventieprogramma\'s met krachttraining verminderen sportblessures."',
                     'nl: "Preventieprogramma\u2019s  met\\nkrachttraining verminderen sportblessures."')
    assert text != B
    root = kb_with(tmp_path, blessures_preventie=text)
    assert lines(check_anchors, root) == []


def test_load_problems_do_not_cascade(tmp_path):
    """A claim file that fails to load is reported once; no 'unknown claim' or 'unused reference' follows from it."""
    root = kb_with(tmp_path, pijn_oefentherapie=P.replace("kind: empirical-finding", "kind: [oops"))
    assert [str(d) for d in validate(load_kb(root))] == [
        "claims/pijn-oefentherapie.yaml:5:5: error: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence that starts on line 4) [yaml-syntax]"]


def test_unreadable_bib_does_not_make_every_reference_unknown(tmp_path):
    root = make_kb(tmp_path / "kb")
    (root / "references" / "refs.bib").write_bytes(MINI_BIB.replace("Geneen, Louise", "G\xe9neen, Louise").encode("latin-1"))
    assert [d.code for d in validate(load_kb(root))] == ["encoding"]


def test_validate_is_sorted_by_path_line_column(tmp_path):
    root = kb_with(tmp_path,
                   pijn_oefentherapie=P.replace("ref: geneen2017", "ref: nobody"),
                   conclusie=C.replace("blessures-preventie]", "conclusie]"))
    found = validate(load_kb(root))
    assert [(d.location.path, d.location.line, d.location.column) for d in found] == sorted(
        (d.location.path, d.location.line, d.location.column) for d in found)
    assert [d.code for d in found] == ["self-derived", "unknown-ref", "unused-ref"]


def test_did_you_mean_small_and_big_collections():
    from kb.errors import did_you_mean

    assert did_you_mean("geneen2071", ["geneen2017", "lim2024"]) == "did you mean 'geneen2017'?"
    assert did_you_mean("zzz", ["geneen2017", "lim2024"]) is None
    ids = {f"claim-{i:06d}-over-pijn": None for i in range(20_000)}
    assert did_you_mean("claim-001234-over-pjin", ids) == "did you mean 'claim-001234-over-pijn'?"
    assert did_you_mean("claim-019999-over-pij", ids) == "did you mean 'claim-019999-over-pijn'?"
    assert did_you_mean("claim-001234-over-pijn", list(ids)) == "did you mean 'claim-001234-over-pijn'?"


def _chain(n: int) -> dict[str, str]:
    """MINI_CLAIMS plus summaries c-0 <- c-1 <- ... <- c-(n-1): each derived from the next, the last from a real claim."""
    base = MINI_CLAIMS["conclusie"]
    claims = dict(MINI_CLAIMS)
    for i in range(n):
        target = f"c-{i + 1}" if i + 1 < n else "pijn-oefentherapie"
        claims[f"c-{i}"] = base.replace("id: conclusie", f"id: c-{i}").replace(
            "derived_from: [pijn-oefentherapie, blessures-preventie]", f"derived_from: [{target}]")
    return claims


def test_a_derived_chain_longer_than_kb_follows_is_one_error_at_its_top(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("kb.validate"), "MAX_DERIVATION_DEPTH", 20)  # the same rule as at 100, with fewer files
    monkeypatch.setenv("KB_CACHE", "0")
    ok = validate(load_kb(make_kb(tmp_path / "ok", claims=_chain(19))))  # c-0 .. c-18 and pijn-oefentherapie: 20 claims
    assert [d.code for d in ok if d.severity.value == "error"] == []
    deep = [str(d) for d in validate(load_kb(make_kb(tmp_path / "deep", claims=_chain(20))))]
    assert [d for d in deep if "derived-too-deep" in d] == [
        "claims/c-0.yaml:8:16: error: claim 'c-0' rests on a derived_from chain 21 claims long; kb follows at most 20; "
        "let a summary name the claims it summarises, not a summary of a summary of ... [derived-too-deep]"]


def test_a_chain_made_too_long_by_one_edit_is_found_by_the_incremental_check(tmp_path, monkeypatch, run_kb):
    monkeypatch.setattr(importlib.import_module("kb.validate"), "MAX_DERIVATION_DEPTH", 20)
    root = make_kb(tmp_path / "kb", claims=_chain(19))
    assert run_kb(root, "check")[0] == 0
    claims = _chain(20)
    (root / "claims" / "c-19.yaml").write_text(claims["c-19"], encoding="utf-8")
    (root / "claims" / "c-18.yaml").write_text(claims["c-18"], encoding="utf-8")
    code, out, err = run_kb(root, "check")
    assert code == 1 and "claims/c-0.yaml:8:16: error: claim 'c-0' rests on a derived_from chain 21 claims long" in err
