"""kb.yamlsafe and kb.load: safe YAML with positions, and a folder -> KnowledgeBase."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import MINI_CLAIMS, make_kb
from kb.errors import LoadError, Location
from kb.load import load_claim_text, load_kb
from kb.yamlsafe import MAX_BYTES, YamlProblem, decode, parse_yaml


def problem(text: str) -> tuple[str, str, int, int, str | None]:
    with pytest.raises(YamlProblem) as info:
        parse_yaml(text)
    p = info.value
    return p.code, p.message, p.line, p.column, p.hint


# --- yamlsafe ----------------------------------------------------------------------------------------


def test_positions_of_keys_and_items():
    data, positions = parse_yaml("a: 1\nb:\n  - x\n  - {c: true}\nd: {e: [1, 2]}\n")
    assert data == {"a": 1, "b": ["x", {"c": True}], "d": {"e": [1, 2]}}
    assert positions[("a",)] == (1, 1)
    assert positions[("b",)] == (2, 1)
    assert positions[("b", 0)] == (3, 5)
    assert positions[("b", 1)] == (4, 5)
    assert positions[("b", 1, "c")] == (4, 6)
    assert positions[("d", "e", 1)] == (5, 12)


def test_scalars_are_plain_data():
    data, _ = parse_yaml("s: text\nq: 'yes'\ni: 12\nf: 1.5\nb: yes\nn: null\nd: 2026-11-25\nk: !!str 12\n")
    assert data == {"s": "text", "q": "yes", "i": 12, "f": 1.5, "b": True, "n": None, "d": "2026-11-25", "k": "12"}


def test_empty_document():
    assert parse_yaml("") == (None, {})
    assert parse_yaml("# only a comment\n") == (None, {})


def test_duplicate_keys_are_refused():
    assert problem("a: 1\nb: 2\na: 3\n") == (
        "duplicate-key", "duplicate key 'a' (first defined on line 1)", 3, 1, "remove one of them; YAML keeps only the last")


def test_duplicate_keys_in_nested_mappings():
    assert problem("x:\n  - a: 1\n    a: 2\n")[:4] == ("duplicate-key", "duplicate key 'a' (first defined on line 2)", 3, 5)


def test_same_key_in_different_mappings_is_fine():
    assert parse_yaml("x: {a: 1}\ny: {a: 2}\n")[0] == {"x": {"a": 1}, "y": {"a": 2}}


def test_tab_indentation():
    assert problem("a:\n\tb: 1\n") == (
        "yaml-syntax", "YAML syntax error: tab character where YAML expects indentation or a value", 2, 1, "indent with spaces, not tabs")


def test_unclosed_quote_names_where_it_started():
    code, message, line, column, hint = problem('a: "open\nb: 1\n')
    assert (code, message, line) == (
        "yaml-syntax", "YAML syntax error: found unexpected end of stream (while scanning a quoted scalar that starts on line 1)", 3)


def test_control_character():
    assert problem("a: b\x07c\n") == (
        "yaml-syntax", "YAML syntax error: character U+0007 is not allowed in YAML", 1, 5, "remove the control character")


def test_second_document():
    assert problem("a: 1\n---\nb: 2\n")[:4] == (
        "yaml-syntax", "a file holds one YAML document, but a second one starts here ('---')", 2, 1)


def test_collection_as_key():
    assert problem("? [a, b]\n: 1\n")[:4] == ("yaml-syntax", "a mapping key must be a plain scalar", 1, 3)


@pytest.mark.parametrize("text, tag", [
    ("a: !!python/object/apply:os.system ['touch pwned']\n", "!!python/object/apply:os.system"),
    ("a: !!python/name:os.system\n", "!!python/name:os.system"),
    ("a: !!python/object/new:subprocess.Popen [[touch, pwned]]\n", "!!python/object/new:subprocess.Popen"),
    ("a: !!binary aGVsbG8=\n", "!!binary"),
    ("a: !!set {x}\n", "!!set"),
    ("a: !custom x\n", "!custom"),
    ("!!python/object:kb.model.Text {nl: a, en: b}\n", "!!python/object:kb.model.Text"),
])
def test_tags_are_refused_and_nothing_is_constructed(text, tag, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    monkeypatch.chdir(tmp_path)
    code, message, line, column, hint = problem(text)
    assert (code, message) == ("yaml-tag", f"tag {tag!r} is not allowed; only plain YAML data is read")
    assert line == 1
    assert calls == []
    assert not (tmp_path / "pwned").exists()


def test_alias_bomb_is_refused_quickly():
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 12))
    code, message, line, column, hint = problem(bomb)
    assert (code, message) == ("yaml-too-complex", "document expands to more than 50,000 values")
    assert hint == "write the values out instead of using anchors and aliases"


def test_small_aliases_are_fine():
    assert parse_yaml("a: &x [1, 2]\nb: *x\n")[0] == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize("depth", [60, 100_000, 400_000])
def test_deep_nesting_is_refused_without_crashing(depth):
    """libyaml's own composer recurses per level and crashes the interpreter at about 100,000 levels."""
    for text in ("a: " + "[" * depth + "]" * depth, "- " * depth + "x", "a: " + "{b: " * depth + "}" * depth):
        code, message, *_ = problem(text)
        assert (code, message) == ("yaml-too-complex", "values are nested more than 50 levels deep")


def test_decode():
    assert decode(b"a: 1") == ("a: 1", False)
    assert decode(b"\xef\xbb\xbfa: 1") == ("a: 1", True)
    with pytest.raises(YamlProblem) as info:
        decode(b"a: 1\nb: caf\xe9\n")
    assert (info.value.code, info.value.message, info.value.line, info.value.column) == ("encoding", "invalid UTF-8 byte 0xe9", 2, 7)
    with pytest.raises(YamlProblem) as info:
        decode(b"#" * (MAX_BYTES + 1))
    assert info.value.code == "file-too-large"


# --- one claim ---------------------------------------------------------------------------------------


def test_claim_fields_and_locations():
    claim, problems = load_claim_text(MINI_CLAIMS["pijn-oefentherapie"], "claims/pijn-oefentherapie.yaml")
    assert problems == []
    assert claim.id == "pijn-oefentherapie" and claim.section == "pijn" and claim.verdict == "overstated"
    assert claim.text.en.startswith("Exercise therapy")
    assert claim.tags == ("pain",)
    (ev,) = claim.evidence
    assert (ev.ref, ev.relation, ev.cited_in_article, ev.certainty) == ("geneen2017", "partially-supports", True, "low")
    assert ev.location == Location("claims/pijn-oefentherapie.yaml", 10, 5)
    assert claim.where("evidence", 0, "certainty") == Location("claims/pijn-oefentherapie.yaml", 15, 5)
    assert claim.where("verdict") == Location("claims/pijn-oefentherapie.yaml", 16, 1)
    assert claim.where("no-such-field") == claim.location == Location("claims/pijn-oefentherapie.yaml", 1, 1)


def test_missing_field_without_a_near_miss_is_reported():
    text = MINI_CLAIMS["pijn-oefentherapie"].replace("status: reviewed\n", "")
    assert [str(d) for d in load_claim_text(text, "c.yaml")[1]] == ["c.yaml:1:1: error: missing required field 'status' [missing-field]"]



@pytest.mark.parametrize("day, ok", [("2026-02-30", False), ("2026-13-01", False), ("'2026-04-31'", False), ("2024-02-29", True),
                                     ("2025-02-29", False), ("2026-11-25", True)])
def test_a_review_date_must_be_a_day_of_the_calendar(day, ok):
    """The schema's pattern only asks for YYYY-MM-DD; exports (RDF's xsd:date) need a real day."""
    text = MINI_CLAIMS["pijn-oefentherapie"].replace("id: pijn-oefentherapie", "id: p").replace("status: reviewed\n", f"status: reviewed\nreviewed_on: {day}\n")
    claim, problems = load_claim_text(text, "claims/p.yaml")
    if ok:
        assert problems == [] and claim.reviewed_on == day.strip("'")
    else:
        assert claim is None and [str(d) for d in problems] == [
            f"claims/p.yaml:19:1: error: '{day.strip(chr(39))}' is not a valid value for reviewed_on: there is no such day; "
            "write a date of the calendar as YYYY-MM-DD [bad-value]"]


@pytest.mark.parametrize("field", ["nl", "en"])
def test_a_text_of_white_space_alone_is_empty(field):
    line = next(l for l in MINI_CLAIMS["pijn-oefentherapie"].splitlines() if l.startswith(f"  {field}: "))
    claim, problems = load_claim_text(MINI_CLAIMS["pijn-oefentherapie"].replace("id: pijn-oefentherapie", "id: p").replace(line, f'  {field}: " \t "'), "claims/p.yaml")
    assert claim is None and [str(d) for d in problems] == [
        f"claims/p.yaml:{6 if field == 'nl' else 7}:3: error: text.{field} must not be empty; white space alone is not a text [bad-value]"]

def test_claim_problems_are_all_reported():
    text = MINI_CLAIMS["pijn-oefentherapie"].replace("kind: empirical-finding", "kind: finding").replace("status: reviewed\n", "stat: x\n")
    claim, problems = load_claim_text(text, "claims/pijn-oefentherapie.yaml")
    assert claim is None
    # no separate "missing required field 'status'": the suggestion for 'stat' already says it
    assert [str(d) for d in problems] == [
        "claims/pijn-oefentherapie.yaml:18:1: error: unknown field 'stat'; did you mean 'status'? [unknown-field]",
        "claims/pijn-oefentherapie.yaml:4:1: error: 'finding' is not a valid value for kind; expected one of: empirical-finding, "
        "mechanism, practice-advice, summary [bad-value]",
    ]


# --- a whole knowledge base --------------------------------------------------------------------------


def test_load_mini_kb(mini_kb):
    kb = load_kb(mini_kb)
    assert kb.diagnostics == ()
    assert list(kb.claims) == ["blessures-preventie", "conclusie", "pijn-oefentherapie"]
    assert list(kb.references) == ["geneen2017", "lauersen2014"]
    assert list(kb.articles) == ["mini"]
    assert [s.id for s in kb.articles["mini"].sections] == ["pijn", "blessures", "conclusie"]
    assert kb.config.title == "Mini knowledge base" and kb.config.languages == ("nl", "en") and kb.config.style == "unsrt"
    assert kb.claims["conclusie"].derived_from == ("pijn-oefentherapie", "blessures-preventie")
    assert set(kb.bibliography.entries) == {"geneen2017", "lauersen2014"}


def test_kb_yaml_is_optional(mini_kb):
    (mini_kb / "kb.yaml").unlink()
    kb = load_kb(mini_kb)
    assert kb.diagnostics == () and kb.config.title == "Knowledge base"


def test_claims_in_subfolders(mini_kb):
    (mini_kb / "claims" / "deel").mkdir()
    shutil.move(mini_kb / "claims" / "conclusie.yaml", mini_kb / "claims" / "deel" / "conclusie.yaml")
    kb = load_kb(mini_kb)
    assert kb.claims["conclusie"].location.path == "claims/deel/conclusie.yaml"


def test_hidden_and_other_files_are_skipped(mini_kb):
    (mini_kb / "claims" / ".conclusie.yaml.swp").write_text("junk", encoding="utf-8")
    (mini_kb / "claims" / ".hidden.yaml").write_text("junk: [", encoding="utf-8")
    (mini_kb / "claims" / "README.md").write_text("notes", encoding="utf-8")
    assert load_kb(mini_kb).diagnostics == ()


def test_missing_root(tmp_path):
    with pytest.raises(LoadError) as info:
        load_kb(tmp_path / "nowhere")
    assert str(info.value) == (f"error: knowledge base folder {str(tmp_path / 'nowhere')!r} does not exist; "
                               "pass --kb DIR to name the knowledge-base folder")


@pytest.mark.parametrize("folder", ["claims", "references"])
def test_missing_folder(mini_kb, folder):
    shutil.rmtree(mini_kb / folder)
    with pytest.raises(LoadError) as info:
        load_kb(mini_kb)
    assert info.value.message == (f"folder {str(mini_kb / folder)!r} is missing: a knowledge base needs claims/ and references/ folders")


def test_fifo_is_not_read(mini_kb):
    """A named pipe called *.yaml would block a naive reader forever."""
    os.mkfifo(mini_kb / "claims" / "pijp.yaml")
    (d,) = load_kb(mini_kb).diagnostics
    assert str(d) == "claims/pijp.yaml: error: not a regular file; remove it or replace it with a file [unreadable]"


def test_symlinked_file_is_read_and_symlinked_folder_is_not(mini_kb, tmp_path):
    """A link to a file within the knowledge base is read (one outside it is not: test_outside_links.py)."""
    elsewhere, shared = tmp_path / "elsewhere", mini_kb / "shared"
    elsewhere.mkdir()
    shared.mkdir()
    shutil.move(mini_kb / "claims" / "conclusie.yaml", shared / "conclusie.yaml")
    (mini_kb / "claims" / "conclusie.yaml").symlink_to(shared / "conclusie.yaml")
    (mini_kb / "claims" / "meer").symlink_to(elsewhere)
    kb = load_kb(mini_kb)
    assert "conclusie" in kb.claims
    assert [str(d) for d in kb.diagnostics] == [
        "claims/meer: warning: symbolic link to a folder is not followed; move the claim files into claims/ instead of linking to them "
        "[symlink-skipped]"]


def test_load_does_not_depend_on_the_current_folder(mini_kb, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_kb(mini_kb).claims.keys() == load_kb(str(mini_kb)).claims.keys()


def test_same_claims_with_fresh_and_cached_loading(mini_kb, monkeypatch):
    """Loading twice (a cache, if any, is used the second time) gives equal claims and diagnostics."""
    monkeypatch.delenv("KB_CACHE", raising=False)  # conftest switches the cache off; mini_kb is in tmp
    (mini_kb / "claims" / "kapot.yaml").write_text("id: kapot\nkind: [\n", encoding="utf-8")
    first = load_kb(mini_kb)
    second = load_kb(mini_kb)
    assert first.claims == second.claims
    assert first.diagnostics == second.diagnostics
    assert [d.code for d in first.diagnostics] == ["yaml-syntax"]


class _Planted:
    """Unpickling this runs os.system: what a malicious .kb-cache file in a contribution would hold."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_planted_cache_never_runs_code(mini_kb, tmp_path, monkeypatch):
    """A knowledge base is untrusted input, including a .kb-cache folder that comes with it: a pickle
    written by someone else, with a correct magic line, fingerprint and (unkeyed) checksum, is not loaded."""
    monkeypatch.delenv("KB_CACHE", raising=False)  # conftest switches the cache off; mini_kb is in tmp
    import hashlib
    import pickle

    from kb import cache

    marker = tmp_path / "PWNED"
    payload = pickle.dumps({"claims/conclusie.yaml": _Planted(marker)})
    blob = cache._MAGIC + cache.fingerprint() + hashlib.blake2b(payload, digest_size=32).digest() + payload
    folder = mini_kb / cache.CACHE_DIR
    folder.mkdir()
    for kind in ("claims", "articles", "references"):
        (folder / f"{kind}.pickle").write_bytes(blob)
    kb = load_kb(mini_kb)
    assert not marker.exists()
    assert list(kb.claims) == ["blessures-preventie", "conclusie", "pijn-oefentherapie"]


def test_keys_are_always_the_words_written():
    data, positions = parse_yaml("1: a\n2.5: b\nyes: c\n~: d\n")
    assert data == {"1": "a", "2.5": "b", "yes": "c", "~": "d"}
    assert problem("1: a\n'1': b\n")[:4] == ("duplicate-key", "duplicate key '1' (first defined on line 1)", 2, 1)


def test_wrong_type_names_the_value_found():
    text = MINI_CLAIMS["pijn-oefentherapie"].replace("tags: [pain]", "tags: [1, true, null]")
    assert [str(d) for d in load_claim_text(text, "c.yaml")[1]] == [
        "c.yaml:8:8: error: expected a string for tags[0], found the number 1; "
        "put the value in quotes: YAML reads yes, no, on, off and numbers without quotes as other types [wrong-type]",
        "c.yaml:8:11: error: expected a string for tags[1], found the value true; "
        "put the value in quotes: YAML reads yes, no, on, off and numbers without quotes as other types [wrong-type]",
        "c.yaml:8:17: error: expected a string for tags[2], found nothing [wrong-type]",
    ]


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_windows_and_old_mac_line_ends(newline):
    text = MINI_CLAIMS["pijn-oefentherapie"].replace("\n", newline)
    claim, problems = load_claim_text(text, "claims/pijn-oefentherapie.yaml")
    assert problems == []
    assert claim.where("verdict") == Location("claims/pijn-oefentherapie.yaml", 16, 1)
    assert claim.text.nl.endswith("(Geneen et al.; 2017).")


def test_section_called_on_is_read_as_true():
    text = MINI_CLAIMS["pijn-oefentherapie"].replace("section: pijn", "section: on")
    assert [str(d) for d in load_claim_text(text, "claims/pijn-oefentherapie.yaml")[1]] == [
        "claims/pijn-oefentherapie.yaml:3:1: error: expected a string for section, found the value true; "
        "put the value in quotes: YAML reads yes, no, on, off and numbers without quotes as other types [wrong-type]"]


def test_a_near_miss_only_explains_the_missing_field_at_its_own_level():
    text = MINI_CLAIMS["pijn-oefentherapie"].replace("    certainty: low\n", "    certanty: low\n")
    assert [str(d) for d in load_claim_text(text, "c.yaml")[1]] == [
        "c.yaml:15:5: error: unknown field 'certanty' in evidence[0]; did you mean 'certainty'? [unknown-field]"]
    two = text.replace("verdict: overstated", "  - ref: lauersen2014\n    relation: supports\n    cited_in_article: false\n"
                                              "verdict: overstated")
    assert [str(d) for d in load_claim_text(two, "c.yaml")[1]] == [
        "c.yaml:15:5: error: unknown field 'certanty' in evidence[0]; did you mean 'certainty'? [unknown-field]",
        "c.yaml:16:5: error: missing required field 'certainty' in evidence[1] [missing-field]",
    ]


def test_claims_by_article_and_citing_claims(tmp_path):
    from dataclasses import replace

    kb = load_kb(make_kb(tmp_path / "kb"))
    assert {k: [c.id for c in v] for k, v in kb.claims_by_article().items()} == {
        "mini": ["blessures-preventie", "conclusie", "pijn-oefentherapie"]}
    assert kb.citing_claims() == {"geneen2017": ["pijn-oefentherapie"], "lauersen2014": ["blessures-preventie"]}
    # a claim citing one source twice, an unknown source, and a claim on a missing article
    pijn = kb.claims["pijn-oefentherapie"]
    doubled = replace(pijn, id="dubbel", article="elders", evidence=pijn.evidence * 2 + (replace(pijn.evidence[0], ref="onbekend"),))
    other = replace(kb, claims={**kb.claims, "dubbel": doubled}, references={k: v for k, v in kb.references.items() if k != "lauersen2014"})
    assert other.citing_claims() == {"geneen2017": ["pijn-oefentherapie", "dubbel"], "lauersen2014": ["blessures-preventie"],
                                     "onbekend": ["dubbel"]}
    assert [c.id for c in other.claims_by_article()["elders"]] == ["dubbel"] and set(other.claims_by_article()) == {"mini", "elders"}


def test_schema_patterns_end_at_the_end_of_the_text():
    """JSON Schema's `$` is the end of the text (ECMA-262); Python's would also accept a final newline."""
    text = MINI_CLAIMS["pijn-oefentherapie"].replace("section: pijn\n", 'section: "pijn\\n"\n')
    claim, problems = load_claim_text(text, "claims/pijn-oefentherapie.yaml")
    assert claim is None
    assert [str(d) for d in problems] == [
        "claims/pijn-oefentherapie.yaml:3:1: error: 'pijn\\n' is not a valid value for section; use lower-case letters, digits and hyphens [bad-value]"
    ]


def _undecodable_name(folder, name: bytes):
    """A path under ``folder`` whose last part is the raw bytes ``name`` (not valid UTF-8)."""
    return os.fsdecode(os.path.join(os.fsencode(folder), name))


def test_names_that_are_not_utf8_are_reported_and_skipped(mini_kb, monkeypatch):
    """Such names load (Python keeps the bytes as surrogates) but cannot be printed, put in JSON or linked
    from the site: the loader reports each one (a folder once) and reads nothing below it."""
    monkeypatch.delenv("KB_CACHE", raising=False)
    folder = _undecodable_name(mini_kb / "claims", b"caf\xe9")
    os.mkdir(folder)
    shutil.move(mini_kb / "claims" / "conclusie.yaml", os.path.join(folder, "conclusie.yaml"))
    (mini_kb / "claims" / "andere.yaml").write_text((mini_kb / "claims" / "pijn-oefentherapie.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    os.rename(mini_kb / "claims" / "andere.yaml", _undecodable_name(mini_kb / "claims", b"\xff.yaml"))
    shutil.copy(mini_kb / "articles" / "mini.md", _undecodable_name(mini_kb / "articles", b"r\xe9sum\xe9.md"))
    for attempt in ("fresh", "cached"):
        kb = load_kb(mini_kb)
        assert "conclusie" not in kb.claims, attempt
        assert [str(d) for d in kb.diagnostics if d.code == "file-name"] == [
            f"{shown}: error: name is not valid UTF-8; kb skips it (it could not show or link it); rename it with a UTF-8 name [file-name]"
            for shown in ("articles/r\\xe9sum\\xe9.md", "claims/\\xff.yaml", "claims/caf\\xe9")], attempt
        assert list(kb.articles) == ["mini"], attempt


def test_a_bib_file_whose_name_is_not_utf8_is_reported(mini_kb):
    shutil.copy(next((mini_kb / "references").glob("*.bib")), _undecodable_name(mini_kb / "references", b"\xe9.bib"))
    kb = load_kb(mini_kb)
    assert [(d.code, d.location.path) for d in kb.diagnostics] == [("file-name", "references/\\xe9.bib")]


def test_a_claim_added_in_a_folder_not_utf8_after_a_cached_load(mini_kb, monkeypatch):
    """The incremental load (only claim files changed) leaves such a name to the full load, which reports it."""
    monkeypatch.delenv("KB_CACHE", raising=False)
    assert not load_kb(mini_kb).diagnostics
    folder = _undecodable_name(mini_kb / "claims", b"caf\xe9")
    os.mkdir(folder)
    shutil.copy(mini_kb / "claims" / "conclusie.yaml", os.path.join(folder, "kopie.yaml"))
    assert [(d.code, d.location.path) for d in load_kb(mini_kb).diagnostics] == [("file-name", "claims/caf\\xe9")]


def test_build_with_a_name_not_utf8_fails_cleanly(mini_kb, run_kb, tmp_path):
    os.mkdir(_undecodable_name(mini_kb / "claims", b"caf\xe9"))
    shutil.copy(mini_kb / "claims" / "conclusie.yaml", os.path.join(_undecodable_name(mini_kb / "claims", b"caf\xe9"), "x.yaml"))
    code, out, err = run_kb(mini_kb, "build", "-o", str(tmp_path / "site"))
    assert code == 1
    assert "claims/caf\\xe9: error: name is not valid UTF-8" in out + err
    assert "Traceback" not in out + err
    assert not (tmp_path / "site").exists()


def test_names_not_utf8_in_hidden_or_linked_folders(mini_kb, tmp_path):
    """Hidden folders under claims/ are not read, so their names do not matter; a linked folder is not
    followed and is reported as such, its name written printably."""
    hidden = _undecodable_name(mini_kb / "claims" / ".verborgen", b"caf\xe9")
    os.makedirs(hidden)
    (mini_kb / "claims" / ".verborgen" / "kapot.yaml").write_text("id: [\n", encoding="utf-8")
    shutil.copy(mini_kb / "claims" / "conclusie.yaml", os.path.join(hidden, "kopie.yaml"))
    elsewhere = tmp_path / "elders"
    elsewhere.mkdir()
    os.symlink(elsewhere, _undecodable_name(mini_kb / "claims", b"l\xefnk"))
    assert [str(d) for d in load_kb(mini_kb).diagnostics] == [
        "claims/l\\xefnk: warning: symbolic link to a folder is not followed; move the claim files into claims/ instead of linking "
        "to them [symlink-skipped]"]


def test_a_linked_folder_inside_a_folder_not_utf8_is_not_reported_again(mini_kb, tmp_path):
    folder = _undecodable_name(mini_kb / "claims", b"caf\xe9")
    os.mkdir(folder)
    elsewhere = tmp_path / "elders"
    elsewhere.mkdir()
    os.symlink(elsewhere, os.path.join(folder, "link"))
    assert [(d.code, d.location.path) for d in load_kb(mini_kb).diagnostics] == [("file-name", "claims/caf\\xe9")]


def test_claim_files_with_an_upper_case_suffix_are_read(mini_kb):
    """claims/pijn.YAML was skipped without a word, while .yml was read."""
    claim = next((mini_kb / "claims").glob("*.yaml"))
    claim.rename(claim.with_suffix(".YAML"))
    kb = load_kb(mini_kb)
    assert claim.stem in kb.claims and kb.claims[claim.stem].location.path == f"claims/{claim.stem}.YAML"


def test_a_file_name_that_is_no_id_is_not_offered_as_one(mini_kb):
    """'claims/Bad Name.yaml' got the hint "or set id: Bad Name", an id the schema refuses."""
    claim = next((mini_kb / "claims").glob("*.yaml"))
    (mini_kb / "claims" / "Bad Name.yaml").write_bytes(claim.read_bytes())
    (mini_kb / "claims" / "other-name.yaml").write_bytes(claim.read_bytes())
    hints = {d.location.path: d.hint for d in load_kb(mini_kb).diagnostics if d.code == "id-mismatch"}
    assert hints == {"claims/Bad Name.yaml": f"rename the file to {claim.stem}.yaml",
                     "claims/other-name.yaml": f"rename the file to {claim.stem}.yaml or set id: other-name"}
