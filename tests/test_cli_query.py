"""kb list, kb show and kb export --format json on the minimal knowledge base."""

from __future__ import annotations

import json

import pytest

from conftest import MINI_CLAIMS


def test_list_all(mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "blessures-preventie  uncited              Preventieprogramma's met krachttraining verminderen sportblessures.",
        "conclusie            overstated           krachttraining helpt bij pijn en blessures",
        "pijn-oefentherapie   overstated           Oefentherapie met weerstand vermindert pijn bij chronische klachten (Geneen et al.; 2017).",
        "(3 of 3 claims)",
    ]


@pytest.mark.parametrize("args, ids", [
    (["--uncited"], ["blessures-preventie", "conclusie"]),
    (["--ref", "geneen2017"], ["pijn-oefentherapie"]),
    (["--verdict", "overstated"], ["conclusie", "pijn-oefentherapie"]),
    (["--verdict", "supported"], []),
    (["--certainty", "not-graded"], ["blessures-preventie"]),
    (["--section", "pijn"], ["pijn-oefentherapie"]),
    (["--tag", "pain"], ["pijn-oefentherapie"]),
    (["--verdict", "overstated", "--section", "conclusie"], ["conclusie"]),
])
def test_list_filters(mini_kb, run_kb, args, ids):
    code, out, err = run_kb(mini_kb, "list", "--format", "json", *args)
    assert (code, err) == (0, "")
    assert [item["id"] for item in json.loads(out)] == ids


def test_list_in_english(mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, "list", "--lang", "en", "--ref", "lauersen2014")
    assert out.splitlines()[0] == "blessures-preventie  uncited              Prevention programmes built on strength training reduce sports injuries."


def test_list_unknown_reference(mini_kb, run_kb):
    assert run_kb(mini_kb, "list", "--ref", "geneen2071") == (1, "", "kb: error: unknown reference 'geneen2071'; did you mean 'geneen2017'?\n")


def test_list_bad_verdict_is_a_usage_error(mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, "list", "--verdict", "overstatd")
    assert code == 2 and "invalid choice: 'overstatd'" in err


def test_show_evidence_card(mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, "show", "pijn-oefentherapie")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "pijn-oefentherapie  [overstated]  empirical-finding, section pijn"
    assert "NL: Oefentherapie met weerstand vermindert pijn bij chronische klachten (Geneen et al.; 2017)." in lines
    assert "EN: Exercise therapy with resistance reduces pain in chronic complaints (Geneen et al.; 2017)." in lines
    card = "\n".join(lines)
    assert "[1] " in card and "Physical activity and exercise for chronic pain in adults" in card
    assert "10.1002/14651858.cd011279.pub3" in card
    assert "    study type: cochrane-overview" in lines
    assert "    partially-supports, certainty low, cited in the article; locator: Authors' conclusions" in lines
    assert "    found: Physical activity and exercise may improve pain severity; evidence of low quality." in lines
    assert "Verdict: overstated; The overview covers exercise in general and rates the evidence low." in lines
    assert lines[-1] == "Status: reviewed"


def test_show_reviewer_added_and_summary(mini_kb, run_kb):
    out = run_kb(mini_kb, "show", "blessures-preventie")[1]
    assert "    supports, certainty not-graded, added by a reviewer; locator: Results" in out.splitlines()
    out = run_kb(mini_kb, "show", "conclusie")[1]
    assert "Summarises: pijn-oefentherapie, blessures-preventie" in out.splitlines()
    assert "Evidence: none" in out.splitlines()


def test_show_json_is_the_export_of_one_claim(mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, "show", "conclusie", "--format", "json")
    shown = json.loads(out)
    exported = json.loads(run_kb(mini_kb, "export")[1])
    assert shown == next(c for c in exported["claims"] if c["id"] == "conclusie")


@pytest.mark.parametrize("claim_id, hint", [
    ("pijn-oefentherapi", "did you mean 'pijn-oefentherapie'?"),
    ("pijn", "did you mean 'pijn-oefentherapie'?"),
    ("e", "ids containing it: blessures-preventie, conclusie, pijn-oefentherapie"),
    ("zzz", "run kb list to see the ids"),
])
def test_show_unknown_claim(mini_kb, run_kb, claim_id, hint):
    assert run_kb(mini_kb, "show", claim_id) == (1, "", f"kb: error: unknown claim {claim_id!r}; {hint}\n")


def test_commands_refuse_a_kb_with_errors(mini_kb, run_kb):
    claim = mini_kb / "claims" / "pijn-oefentherapie.yaml"
    claim.write_text(MINI_CLAIMS["pijn-oefentherapie"].replace("ref: geneen2017", "ref: nobody2017"), encoding="utf-8")
    for args in (["list"], ["show", "conclusie"], ["export"]):
        code, out, err = run_kb(mini_kb, *args)
        assert (code, out) == (1, "")
        assert err == ("claims/pijn-oefentherapie.yaml:10:5: error: unknown reference 'nobody2017'; add it to a file in references/ [unknown-ref]\n"
                       "1 error, 0 warnings\n"
                       "kb: error: the knowledge base has errors; fix them first (kb check)\n")


# --- export ------------------------------------------------------------------------------------------


def test_export_stable_core(mini_kb, run_kb):
    code, out, err = run_kb(mini_kb, "export", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["kb_export_version"] == 1
    assert [c["id"] for c in doc["claims"]] == ["blessures-preventie", "conclusie", "pijn-oefentherapie"]
    assert [r["key"] for r in doc["references"]] == ["geneen2017", "lauersen2014"]
    for claim in doc["claims"]:
        assert {"id", "section", "text", "kind", "derived_from", "verdict", "evidence"} <= set(claim)
        assert set(claim["text"]) == {"nl", "en"}
        for ev in claim["evidence"]:
            assert {"ref", "relation", "cited_in_article", "certainty"} <= set(ev)
            assert ev["ref"] in {r["key"] for r in doc["references"]}
    for ref in doc["references"]:
        assert {"key", "type", "title", "authors", "year", "doi", "pmid", "study_type", "verified"} <= set(ref)
    pijn = doc["claims"][2]
    assert pijn["text"]["nl"] == "Oefentherapie met weerstand vermindert pijn bij chronische klachten (Geneen et al.; 2017)."
    assert pijn["evidence"][0] == {"ref": "geneen2017", "relation": "partially-supports", "cited_in_article": True, "certainty": "low",
                                   "locator": "Authors' conclusions",
                                   "found": "Physical activity and exercise may improve pain severity; evidence of low quality.", "quote": ""}
    assert doc["claims"][1]["derived_from"] == ["pijn-oefentherapie", "blessures-preventie"]
    geneen = doc["references"][0]
    assert geneen["doi"] == "10.1002/14651858.cd011279.pub3" and geneen["pmid"] == "28436583" and geneen["year"] == 2017
    assert geneen["type"] == "article" and geneen["study_type"] == "cochrane-overview" and geneen["verified"] is True
    assert geneen["authors"][0] == {"family": "Geneen", "given": "Louise J."} and len(geneen["authors"]) == 6
    assert geneen["title"] == "Physical activity and exercise for chronic pain in adults: an overview of Cochrane Reviews"
    assert geneen["cited_for"] == ["pijn-oefentherapie"]
    assert doc["references"][1]["cited_for"] == ["blessures-preventie"]


def test_export_is_deterministic(mini_kb, run_kb):
    assert run_kb(mini_kb, "export")[1] == run_kb(mini_kb, "export")[1]


def test_export_to_a_file_refuses_to_overwrite(mini_kb, run_kb):
    target = mini_kb / "out.json"
    code, out, err = run_kb(mini_kb, "export", "-o", "out.json")
    assert (code, out, err) == (0, "", "wrote out.json\n")
    exported = target.read_text(encoding="utf-8")
    assert json.loads(exported)["claims"]
    target.write_text("mine", encoding="utf-8")
    assert run_kb(mini_kb, "export", "-o", "out.json") == (1, "", "kb: error: 'out.json' already exists; pass --force to overwrite it\n")
    assert target.read_text(encoding="utf-8") == "mine"
    assert run_kb(mini_kb, "export", "-o", "out.json", "--force")[0] == 0
    assert target.read_text(encoding="utf-8") == exported


def test_list_unknown_section(mini_kb, run_kb):
    assert run_kb(mini_kb, "list", "--section", "pijnn") == (1, "", "kb: error: unknown section 'pijnn'; did you mean 'pijn'?\n")


def test_terminal_escapes_in_claims_are_not_printed(mini_kb, run_kb):
    claim = mini_kb / "claims" / "conclusie.yaml"
    claim.write_text(claim.read_text(encoding="utf-8").replace('en: "strength training', 'en: "\\e[2Jstrength training'), encoding="utf-8")
    code, out, err = run_kb(mini_kb, "show", "conclusie")
    assert code == 0
    assert "\x1b" not in out
    assert "EN: \ufffd[2Jstrength training helps with pain and injuries" in out.splitlines()
    assert "\x1b" not in run_kb(mini_kb, "list", "--lang", "en")[1]


def test_list_unknown_tag(mini_kb, run_kb):
    """A tag no claim carries is a typo, not an empty result."""
    assert run_kb(mini_kb, "list", "--tag", "pian") == (1, "", "kb: error: no claim has the tag 'pian'; did you mean 'pain'?\n")


def test_list_unknown_reference_without_close_match(mini_kb, run_kb):
    assert run_kb(mini_kb, "list", "--ref", "zzz") == (
        1, "", "kb: error: unknown reference 'zzz'; references are the BibTeX keys in references/*.bib\n")
