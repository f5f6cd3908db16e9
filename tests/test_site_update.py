"""kb build after edits that only a claim's own page and its article's page show (kb/siteupdate.py
``update_site``): those two pages are made from a part of the knowledge base, and the site must be
exactly what a full build gives. Other edits must leave the work to ``build_site``.

Like tests/test_site_affected.py: a generated knowledge base (benchmarks/generate.py), the cache on,
file times set one second apart in the past (``age``) unless a test wants a file "racy".
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import shutil
from pathlib import Path

import pytest

from kb.cli._common import has_errors
from kb.graph import build_graph
from kb.load import load_kb
from kb.model import VERDICTS
from kb.site import MANIFEST, OWN_PAGES_ONLY, build_site
from kb.siteupdate import update_site
from kb.validate import validate

from conftest import age, generated_kb
from test_site_affected import assert_same_as_full_build, claims_with, rewrite, snapshot


@pytest.fixture
def generated(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KB_CACHE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return generated_kb(tmp_path / "kb", claims=300, refs=60, seed=11)


def build(root: Path, out: Path):
    """What ``kb build`` does: load, validate, then the quick update or else the build."""
    kb = load_kb(root)
    assert not has_errors(validate(kb))
    return update_site(kb, out) or build_site(kb, build_graph(kb), out)


def full_build_rendered(root: Path, out: Path) -> set[str]:
    """The pages a build that compares every page (``build_site`` alone) finds changed."""
    kb = load_kb(root)
    return set(build_site(kb, build_graph(kb), out).rendered)


def own_pages(path: Path) -> set[str]:
    article = re.search(r"^article: (\S+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE).group(1)
    return {f"claims/{path.stem}.html", f"article/{article}.html"}


def with_verdict(root: Path, verdict: str) -> list[Path]:
    return [p for p in claims_with(root, f"\nverdict: {verdict}\n") if "derived_from:" not in p.read_text(encoding="utf-8")]


def set_field(path: Path, name: str, value: str) -> None:
    """Set a top-level scalar field of a claim file (added before ``status:`` when it is not there)."""
    text = path.read_text(encoding="utf-8")
    if re.search(rf"^{name}: .*$", text, flags=re.MULTILINE):
        rewrite(path, rf"^{name}: .*$", f"{name}: {value}")
    else:
        rewrite(path, r"^status: ", f"{name}: {value}\nstatus: ")


#: Edits of a supported claim that only its own page and its article's page show.
OWN_PAGE_EDITS = {
    "verdict_reason": lambda p: set_field(p, "verdict_reason", '"A reason written again."'),
    "notes": lambda p: set_field(p, "notes", '"Checked against the full text."'),
    "reviewer": lambda p: set_field(p, "reviewer", "ZZ"),
    "reviewed_on": lambda p: set_field(p, "reviewed_on", '"2026-11-02"'),
    "tags": lambda p: set_field(p, "tags", "[kb-test-tag]"),
}


@pytest.mark.parametrize("field", sorted(OWN_PAGE_EDITS))
def test_an_own_page_edit_is_made_from_a_part_and_gives_the_full_site(generated, tmp_path, field):
    site = tmp_path / "site"
    assert not build(generated, site).quick
    path = with_verdict(generated, "supported")[3]
    OWN_PAGE_EDITS[field](path)
    result = build(generated, site)
    assert result.quick and result.incremental
    assert set(result.rendered) <= own_pages(path) and f"claims/{path.stem}.html" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)  # the manifest too


def test_a_linked_site_folder_is_updated_from_beside_the_folder_it_names(generated, tmp_path, monkeypatch):
    """As build_site does: pages made next to the link and moved into a folder on another file system
    would fail (EXDEV) after the manifest was removed."""
    import kb.output

    real, link = tmp_path / "real-site", tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    build(generated, link)
    staged_next_to = []
    real_staging = kb.output.staging_folder
    monkeypatch.setattr(kb.output, "staging_folder", lambda target: staged_next_to.append(target) or real_staging(target))
    path = with_verdict(generated, "supported")[3]
    OWN_PAGE_EDITS["notes"](path)
    result = build(generated, link)
    assert result.quick and staged_next_to == [real.resolve()]
    assert link.is_symlink() and "Checked against the full text." in (real / "claims" / f"{path.stem}.html").read_text(encoding="utf-8")
    assert_same_as_full_build(generated, real, tmp_path)


def test_a_claim_file_replaced_keeping_its_size_and_time_is_noticed(generated, tmp_path):
    """mv of a file with the same size and modification time (as an archive unpacked leaves them):
    the manifest records each claim file's stamp (inode, change time), not its time alone."""
    import os

    site = tmp_path / "site"
    build(generated, site)
    path = with_verdict(generated, "supported")[3]
    text = path.read_text(encoding="utf-8")
    reason = re.search(r"^verdict_reason: (.*)$", text, flags=re.MULTILINE).group(1)
    other = text.replace(f"verdict_reason: {reason}", "verdict_reason: " + "R" * len(reason), 1)
    assert other != text and len(other) == len(text)
    spare = generated / "spare.txt"
    spare.write_text(other, encoding="utf-8")
    before = path.stat()
    os.utime(spare, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(spare, path)
    result = build(generated, site)
    assert result.quick and f"claims/{path.stem}.html" in result.rendered
    assert "R" * len(reason) in (site / "claims" / f"{path.stem}.html").read_text(encoding="utf-8")
    assert_same_as_full_build(generated, site, tmp_path)


@pytest.mark.parametrize("field", sorted(OWN_PAGES_ONLY - {"positions", "plain"}))
def test_own_page_fields_change_no_other_page_in_a_full_comparison(generated, tmp_path, field):
    """The premise of the quick update, checked by the build that compares every page's view model."""
    site = tmp_path / "site"
    full_build_rendered(generated, site)
    path = with_verdict(generated, "supported")[5]
    OWN_PAGE_EDITS[field](path)
    rendered = full_build_rendered(generated, site)
    assert f"claims/{path.stem}.html" in rendered and rendered <= own_pages(path)


@pytest.mark.parametrize("verdict", VERDICTS)
def test_the_audit_shows_a_verdict_reason_exactly_for_the_verdicts_named(generated, tmp_path, verdict):
    from kb.audit import REASON_SHOWN

    site = tmp_path / "site"
    full_build_rendered(generated, site)
    candidates = with_verdict(generated, verdict)
    if not candidates:  # the generator gives every verdict at this size and seed; say so if that changes
        pytest.fail(f"no claim with verdict {verdict!r} in the generated knowledge base")
    path = candidates[0]
    set_field(path, "verdict_reason", '"A reason the audit may show."')
    rendered = full_build_rendered(generated, site)
    assert ("audit.html" in rendered) == (verdict in REASON_SHOWN)
    assert f"claims/{path.stem}.html" in rendered and rendered - {"audit.html"} <= own_pages(path)


def test_the_reason_of_an_audited_verdict_updates_the_audit_page_too(generated, tmp_path):
    site = tmp_path / "site"
    build(generated, site)
    path = with_verdict(generated, "overstated")[0]
    set_field(path, "verdict_reason", '"Overstated, says the reviewer again."')
    result = build(generated, site)
    assert result.quick
    assert "audit.html" in result.rendered and "Overstated, says the reviewer again." in (site / "audit.html").read_text(encoding="utf-8")
    assert set(result.rendered) == own_pages(path) | {"audit.html"}
    assert_same_as_full_build(generated, site, tmp_path)


@pytest.mark.parametrize("edit", ["text", "new file", "removed file"])
def test_other_edits_go_to_the_full_build(generated, tmp_path, edit):
    site = tmp_path / "site"
    build(generated, site)
    path = with_verdict(generated, "supported")[1]
    if edit == "text":
        rewrite(path, r'^  en: ".*"$', '  en: "Another English wording."')
    elif edit == "new file":
        copy = path.with_name(f"{path.stem}-copy.yaml")
        copy.write_text(re.sub(r"^id: .*$", f"id: {copy.stem}", path.read_text(encoding="utf-8"), flags=re.MULTILINE), encoding="utf-8")
        age(copy)
    else:
        path.unlink()
    result = build(generated, site)
    assert not result.quick and result.incremental and result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


@pytest.mark.parametrize("added", [None, "claim in a subfolder"])
def test_other_files_among_the_claims_leave_the_count_of_claim_files_right(generated, tmp_path, added):
    """A README, a hidden file and a folder among the claim files are no claims: an edit is still a
    quick update; a claim file added below a subfolder is one, and takes the build."""
    (generated / "claims" / "README.md").write_text("Claims of this knowledge base.\n", encoding="utf-8")
    (generated / "claims" / ".hidden.yaml").write_text("not: a claim\n", encoding="utf-8")
    (generated / "claims" / "more").mkdir()
    for extra in (generated / "claims" / "README.md", generated / "claims" / ".hidden.yaml"):
        age(extra)
    site = tmp_path / "site"
    build(generated, site)
    path = with_verdict(generated, "supported")[2]
    set_field(path, "verdict_reason", '"Edited beside other files."')
    if added:
        copy = generated / "claims" / "more" / f"{path.stem}-copy.yaml"
        copy.write_text(re.sub(r"^id: .*$", f"id: {copy.stem}", path.read_text(encoding="utf-8"), flags=re.MULTILINE), encoding="utf-8")
        age(copy)
    result = build(generated, site)
    assert result.quick == (added is None)
    assert f"claims/{path.stem}.html" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


def test_nothing_changed_renders_nothing_and_keeps_the_manifest(generated, tmp_path):
    site = tmp_path / "site"
    build(generated, site)
    before = (site / MANIFEST).read_bytes()
    result = build(generated, site)
    assert result.quick and result.rendered == ()
    assert (site / MANIFEST).read_bytes() == before
    assert sorted(result.pages) == sorted(snapshot(site).keys() - {MANIFEST})


def test_a_file_saved_just_now_is_looked_at_again_next_time(generated, tmp_path):
    """A file changed within the last second (no ``age``): its time cannot be trusted, so the manifest
    records -1 and the next build reads it again; nothing is lost either way."""
    site = tmp_path / "site"
    build(generated, site)
    path = with_verdict(generated, "supported")[2]
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"^verdict_reason: .*$", 'verdict_reason: "Saved just now."', text, count=1, flags=re.MULTILINE),
                    encoding="utf-8")
    first = build(generated, site)
    assert first.quick and set(first.rendered) == own_pages(path)
    again = build(generated, site)
    assert again.quick and again.rendered == ()
    assert_same_as_full_build(generated, site, tmp_path, manifest=False)


def test_a_page_file_missing_is_made_again_by_the_full_build(generated, tmp_path):
    site = tmp_path / "site"
    build(generated, site)
    some = sorted((site / "references").glob("*.html"))[-1]
    some.unlink()
    path = with_verdict(generated, "supported")[4]
    set_field(path, "verdict_reason", '"Another reason."')
    result = build(generated, site)
    assert not result.quick
    assert some.is_file()
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_run_of_own_page_edits_gives_the_full_site_after_each(generated, tmp_path):
    rng = random.Random(3)
    site = tmp_path / "site"
    build(generated, site)
    paths = with_verdict(generated, "supported")
    for round_ in range(4):
        for _ in range(rng.randint(1, 3)):
            field = rng.choice(sorted(OWN_PAGE_EDITS))
            path = rng.choice(paths)
            if field in {"verdict_reason", "notes"}:
                set_field(path, field, f'"Round {round_}: {rng.random()}"')
            else:
                OWN_PAGE_EDITS[field](path)
        assert build(generated, site).quick
        assert_same_as_full_build(generated, site, tmp_path)


def test_a_site_without_a_manifest_of_this_format_is_built_in_full(generated, tmp_path):
    site = tmp_path / "site"
    build(generated, site)
    (site / MANIFEST).write_text('{"format": 2, "pages": {}}', encoding="utf-8")
    path = with_verdict(generated, "supported")[0]
    set_field(path, "notes", '"A note."')
    assert not build(generated, site).quick
    assert_same_as_full_build(generated, site, tmp_path)
    shutil.rmtree(site)


def test_some_references_match_the_full_load_and_follow_the_bibtex(generated):
    """The table of references by key (kb/load.py ``some_references``): what the full load gives, for
    the keys asked; ignored once a BibTeX file changed or the table is damaged."""
    from kb.cite import format_reference
    from kb.load import _REFERENCE_TABLE, some_references

    from conftest import damage_file

    kb = load_kb(generated)
    keys = sorted(kb.references)[::7]
    table = generated / ".kb-cache" / _REFERENCE_TABLE

    def same_as_full(kb) -> None:
        refs, bib = some_references(generated, keys + ["no-such-key"])
        assert list(refs) == keys
        assert refs == {key: kb.references[key] for key in keys}
        part = dataclasses.replace(kb, references=refs, bibliography=bib)
        assert [format_reference(part, key, "apa", "html") for key in keys] == [format_reference(kb, key, "apa", "html") for key in keys]

    same_as_full(kb)
    assert table.is_file()  # kept by the full load, which parsed the BibTeX
    (bib_path,) = (generated / "references").glob("*.bib")
    text = bib_path.read_text(encoding="utf-8")
    first = keys[0]
    at = text.index("{" + first + ",")
    end = text.index("\n}", at)
    entry = text[at:end]
    new_title = re.sub(r"title = \{.*?\},", "title = {A title changed since the table was kept},", entry, count=1)
    assert new_title != entry
    bib_path.write_text(text[:at] + new_title + text[end:], encoding="utf-8")
    age(bib_path)
    refs, _ = some_references(generated, [first])
    assert refs[first].title == "A title changed since the table was kept"
    for how in ("flipped", "garbage"):
        damage_file(table, how)
        same_as_full(load_kb(generated))


@pytest.mark.parametrize("damage", ["row", "derived", "rows"])
def test_a_manifest_edited_by_hand_is_not_trusted(generated, tmp_path, damage):
    import json

    site = tmp_path / "site"
    build(generated, site)
    data = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    path = with_verdict(generated, "supported")[6]
    row = next(r for r in data["inputs"]["claims"] if r[6] == path.relative_to(generated).as_posix())
    if damage == "row":
        row[1] = "not a size"
    elif damage == "derived":
        data["inputs"]["claims"][0][5] = 7
    else:
        data["inputs"]["claims"] = data["inputs"]["claims"][1:]
    (site / MANIFEST).write_text(json.dumps(data), encoding="utf-8")
    set_field(path, "notes", '"A note after the damage."')
    assert not build(generated, site).quick
    assert_same_as_full_build(generated, site, tmp_path)


def test_spliced_replaces_only_pieces_found_exactly_once():
    from kb.siteupdate import _spliced

    assert _spliced('{"a":[1,2],"b":[3]}', [('"a":[1,2]', '"a":[5,6]')]) == '{"a":[5,6],"b":[3]}'
    assert _spliced('{"a":[1,2]}', [('"c":[1]', '"c":[2]')]) is None
    assert _spliced('[[1],[1]]', [("[1]", "[2]")]) == "[[2],[1]]"  # the first (kb writes each entry once)
    assert _spliced("same", [("x", "x")]) == "same"
    assert _spliced("a1b2c3", [("c3", "C"), ("a1", "A")]) == "Ab2C"  # in any order
    assert _spliced("abcdef", [("abc", "x"), ("cde", "y")]) is None  # overlapping


def test_the_facet_follows_every_field_but_those_only_own_pages_show(generated):
    from kb.audit import REASON_SHOWN
    from kb.errors import Location
    from kb.model import Claim, Text
    from kb.site import claim_facets, verdict_mark

    facet = claim_facets()
    kb = load_kb(generated)
    claim = next(c for c in kb.claims.values() if c.verdict == "supported" and c.evidence and c.plain is None)

    def changed(value):
        if isinstance(value, str):
            return value + "-changed"
        if isinstance(value, bool):
            return not value
        if isinstance(value, Text):
            return dataclasses.replace(value, en=value.en + " changed")
        if isinstance(value, Location):
            return dataclasses.replace(value, line=value.line + 1)
        if value is None:
            return Text(nl="eenvoudig", en="plain")
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):  # evidence
            return (dataclasses.replace(value[0], quote=value[0].quote + " changed"),) + value[1:]
        if isinstance(value, tuple):
            return value + ("another",)
        raise AssertionError(f"no change made for {value!r}")

    for field in dataclasses.fields(Claim):
        if not field.compare:
            continue
        other = dataclasses.replace(claim, **{field.name: changed(getattr(claim, field.name))})
        assert (facet(other) == facet(claim)) == (field.name in OWN_PAGES_ONLY | {"verdict"}), field.name
        assert (verdict_mark(other) == verdict_mark(claim)) == (field.name != "verdict"), field.name
    moved = dataclasses.replace(claim, evidence=tuple(dataclasses.replace(ev, location=Location(ev.location.path, 99)) for ev in claim.evidence))
    assert facet(moved) == facet(claim)  # evidence line numbers are shown nowhere
    # equal values, shared or not, give one facet (marshal's back-references follow sharing, not values)
    word = "gedeeld"
    shared = dataclasses.replace(claim, article=word, section=word, kind=word)
    apart = dataclasses.replace(claim, article="".join(word), section="".join(list(word)), kind=word[:3] + word[3:])
    assert facet(shared) == facet(apart)
    for verdict in REASON_SHOWN:
        shown = dataclasses.replace(claim, verdict=verdict)
        assert verdict_mark(dataclasses.replace(shown, verdict_reason="another reason")) != verdict_mark(shown)
        assert facet(dataclasses.replace(shown, verdict_reason="another reason")) == facet(shown)


@pytest.mark.parametrize("which", ["summary", "summarised"])
def test_an_own_page_edit_of_a_summary_or_a_summarised_claim(generated, tmp_path, which):
    """A summary's page shows what it rests on at any depth (its why); a summarised claim's page and its
    article's page show the summaries resting on it, which may sit in other articles."""
    site = tmp_path / "site"
    build(generated, site)
    summaries = claims_with(generated, "derived_from:")
    assert summaries
    if which == "summary":
        path = summaries[len(summaries) // 2]
    else:
        block = summaries[0].read_text(encoding="utf-8").split("derived_from:", 1)[1].split("\nevidence:", 1)[0]
        name = re.findall(r"^  - (\S+)$", block, flags=re.MULTILINE)[-1]
        path = generated / "claims" / f"{name}.yaml"
    set_field(path, "notes", '"Looked at again."')
    set_field(path, "reviewer", "QQ")
    result = build(generated, site)
    assert result.quick and f"claims/{path.stem}.html" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


@pytest.mark.parametrize("edit", [False, True])
def test_missing_pages_and_changed_assets_are_made_again(generated, tmp_path, edit):
    site = tmp_path / "site"
    build(generated, site)
    page = sorted((site / "claims").glob("*.html"))[10]
    page.unlink()
    (site / "assets" / "site.css").write_text("/* changed by hand */", encoding="utf-8")
    if edit:
        set_field(with_verdict(generated, "supported")[7], "notes", '"With a missing page."')
    result = build(generated, site)
    assert not result.quick
    assert page.is_file()
    assert_same_as_full_build(generated, site, tmp_path)


def test_other_word_lists_remake_the_audit(generated, tmp_path):
    site = tmp_path / "site"
    build(generated, site)
    (generated / "wording.yaml").write_text("flag_when: [high, moderate, low, very-low, not-graded, none]\n"
                                            "en:\n  - improves\nnl:\n  - verbetert\n", encoding="utf-8")
    result = build(generated, site)
    assert not result.quick and "audit.html" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_new_year_remakes_the_audit(generated, tmp_path, monkeypatch):
    """Reference ages and old-source problems count from this year: on the first build of a new year
    the audit page is made again, even after an edit the quick update could make."""
    import datetime

    import kb.audit
    import kb.graph

    site = tmp_path / "site"
    build(generated, site)

    class Later(datetime.date):
        @classmethod
        def today(cls):
            return cls(datetime.date.today().year + 30, 1, 1)

    monkeypatch.setattr(kb.audit, "date", Later)
    monkeypatch.setattr(kb.graph, "date", Later)
    set_field(with_verdict(generated, "supported")[8], "notes", '"Looked at in a later year."')
    result = build(generated, site)
    assert not result.quick and "audit.html" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_manifest_row_with_an_id_that_is_not_text_is_not_trusted(generated, tmp_path):
    import json

    site = tmp_path / "site"
    build(generated, site)
    data = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    data["inputs"]["claims"][10][0] = [data["inputs"]["claims"][10][0]]
    (site / MANIFEST).write_text(json.dumps(data), encoding="utf-8")
    set_field(with_verdict(generated, "supported")[9], "notes", '"After a damaged row."')
    assert not build(generated, site).quick
    assert_same_as_full_build(generated, site, tmp_path)


# -- verdict edits: the pages that show a verdict, made from a part and the manifest's records -------

def _changed_files(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def _flip(path: Path) -> None:
    verdict = re.search(r"^verdict: (\S+)$", path.read_text(encoding="utf-8"), flags=re.MULTILINE).group(1)
    rewrite(path, r"^verdict: \S+$", "verdict: " + ("overstated" if verdict != "overstated" else "unsupported"))


@pytest.mark.parametrize("which", ["plain", "summary", "summarised", "two at once", "and back"])
def test_a_verdict_edit_is_a_quick_update_that_gives_the_full_site(generated, tmp_path, monkeypatch, which):
    import kb.site as sitelib
    from test_site_affected import derived_targets_of

    monkeypatch.setattr(sitelib, "INDEX_ROWS", 40)  # a claims index of 8 pages: the edit reaches one
    site = tmp_path / "site"
    build(generated, site)
    summaries = claims_with(generated, "derived_from:")
    # claims summarised in another article: the summary's page and its article's page show their verdicts
    summarised = [generated / "claims" / f"{t}.yaml" for s in summaries for t in derived_targets_of(s) if not t.startswith(s.stem[:6])]
    assert len(summarised) >= 2
    plain = with_verdict(generated, "supported")
    paths = {"plain": [plain[3]], "summary": [summaries[0]], "summarised": [summarised[0]], "two at once": [plain[5], summarised[-1]],
             "and back": [plain[7]]}[which]
    for path in paths:
        _flip(path)
    before = snapshot(site)
    result = build(generated, site)
    assert result.quick
    rendered = set(result.rendered)
    assert {"index.html", "audit.html"} <= rendered and own_pages(paths[0]) <= rendered
    assert _changed_files(before, snapshot(site)) - {MANIFEST} <= rendered
    index_pages = {p for p in rendered if p == "claims/index.html" or p.startswith("claims/page/")}
    assert 1 <= len(index_pages) <= len(paths)
    assert_same_as_full_build(generated, site, tmp_path)
    if which == "and back":
        rewrite(paths[0], r"^verdict: \S+$", "verdict: supported")
        again = build(generated, site)
        assert again.quick and {"index.html", "audit.html"} <= set(again.rendered)
        assert_same_as_full_build(generated, site, tmp_path)


@pytest.mark.parametrize("kept", ["kept", "cache emptied", "another page's"])
def test_a_verdict_edit_makes_its_page_of_the_claims_index_from_the_view_the_build_kept(generated, tmp_path, monkeypatch, kept):
    """A build keeps the view model of every page of the claims index it makes (kb.site.keep_view): a
    verdict edit makes its page again from it and the changed claim, reading only those of the page's
    other claim files that its other pages need; without it (the cache emptied), or with one that is
    not the page's (its digest differs), from all of them, read. The site is the full build's either way."""
    import shutil

    import kb.site as sitelib
    import kb.siteupdate as siteupdate

    monkeypatch.setattr(sitelib, "INDEX_ROWS", 100)  # a claims index of 3 pages
    site = tmp_path / "site"
    build(generated, site)
    views = sorted((generated / ".kb-cache").glob("site-view-*"))
    assert len(views) == 3
    if kept == "cache emptied":
        for view in views:
            view.unlink()
    elif kept == "another page's":
        shutil.copyfile(views[0], tmp_path / "first")
        for view, other in zip(views, views[1:]):
            shutil.copyfile(other, view)
        shutil.copyfile(tmp_path / "first", views[-1])
    read: list[str] = []
    real = siteupdate._read_claims
    monkeypatch.setattr(siteupdate, "_read_claims", lambda root, rels, meanwhile: real(root, read.extend(rels) or rels, meanwhile))
    path = with_verdict(generated, "supported")[4]
    _flip(path)
    result = build(generated, site)
    assert result.quick
    (page,) = {p for p in result.rendered if p == "claims/index.html" or p.startswith("claims/page/")}
    listed = set(re.findall(r'href="[^"]*claims/([^"/]+)\.html"', (site / page).read_text(encoding="utf-8"))) - {"index"}
    assert len(listed) == 100 and path.stem in listed
    others = {f"claims/{cid}.yaml" for cid in listed - {path.stem}}
    if kept == "kept":
        # not read (the fallback reads all 99); the others are read for other pages: the claim's article
        # page, the home page's 100 single-source claims, the pages of the references it rests on
        assert len(others - set(read)) > 30
    else:
        assert others <= set(read)
    assert len(sorted((generated / ".kb-cache").glob("site-view-*"))) == (1 if kept == "cache emptied" else 3)  # the page made is kept
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_verdict_edit_shows_on_the_pages_that_list_the_claim(generated, tmp_path):
    site = tmp_path / "site"
    build(generated, site)
    path = with_verdict(generated, "supported")[4]
    home = (site / "index.html").read_text(encoding="utf-8")
    _flip(path)
    result = build(generated, site)
    assert result.quick
    assert (site / "index.html").read_text(encoding="utf-8") != home  # the count per verdict
    index = (site / "claims" / "index.html").read_text(encoding="utf-8")
    section = re.search(r'<section id="v-overstated".*?</section>', index, flags=re.S).group(0)
    assert f"claims/{path.stem}.html" in section
    assert f"claims/{path.stem}.html" in (site / "audit.html").read_text(encoding="utf-8")


def test_a_verdict_edit_with_an_audit_template_of_ones_own_goes_to_the_full_build(generated, tmp_path):
    """The manifest keeps the first problems of each code, what the built-in audit page lists; a template
    of the user's may list more, so the audit is made again from every claim."""
    (generated / "templates").mkdir()
    (generated / "templates" / "audit.html.j2").write_text('{% extends "builtin/audit.html.j2" %}', encoding="utf-8")
    site = tmp_path / "site"
    build(generated, site)
    _flip(with_verdict(generated, "supported")[2])
    result = build(generated, site)
    assert not result.quick and result.incremental and "audit.html" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_verdict_edit_that_reaches_too_many_claims_goes_to_the_full_build(generated, tmp_path, monkeypatch):
    import kb.siteupdate as siteupdate

    site = tmp_path / "site"
    build(generated, site)
    monkeypatch.setattr(siteupdate, "MAX_PART", 30)
    _flip(with_verdict(generated, "supported")[2])
    result = build(generated, site)
    assert not result.quick and result.incremental
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_verdict_edit_without_the_records_goes_to_the_full_build(generated, tmp_path):
    """A manifest without the records of the whole-knowledge-base pages (a build whose audit page a
    page worker made keeps none): the full build makes them, and the next verdict edit is quick again."""
    import json

    site = tmp_path / "site"
    build(generated, site)
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["records"]["home"] and manifest["records"]["audit"]
    manifest["records"] = None
    (site / MANIFEST).write_text(json.dumps(manifest, separators=(",", ":")), encoding="utf-8")
    _flip(with_verdict(generated, "supported")[2])
    result = build(generated, site)
    assert not result.quick and result.incremental
    assert_same_as_full_build(generated, site, tmp_path)
    _flip(with_verdict(generated, "supported")[3])
    assert build(generated, site).quick
    assert_same_as_full_build(generated, site, tmp_path)


@pytest.mark.parametrize("helper", ["works", "dies"])
def test_a_part_read_by_two_processes_gives_the_same_site(generated, tmp_path, monkeypatch, helper):
    """Many claim files to read (a page of the claims index lists 1,000): a forked process reads most of
    them; if it fails, this one reads its share."""
    import kb.siteupdate as siteupdate

    site = tmp_path / "site"
    build(generated, site)
    monkeypatch.setattr(siteupdate, "_SPLIT_AT", 5)
    if helper == "dies":
        import kb.site as sitelib

        real = sitelib._send_outcome
        monkeypatch.setattr(sitelib, "_send_outcome", lambda conn, work: os._exit(3) if os.getpid() != parent else real(conn, work))
    parent = os.getpid()
    _flip(with_verdict(generated, "supported")[6])
    result = build(generated, site)
    assert result.quick and "audit.html" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_manifest_naming_a_file_twice_is_not_acted_on(generated, tmp_path):
    """A manifest edited by hand so that one claim's row appears twice, while a new claim file was
    added: the rows still number the claim files, but the new claim must get its page."""
    import json

    site = tmp_path / "site"
    build(generated, site)
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    manifest["inputs"]["claims"].append(list(manifest["inputs"]["claims"][0]))
    (site / MANIFEST).write_text(json.dumps(manifest, separators=(",", ":")), encoding="utf-8")
    path = with_verdict(generated, "supported")[1]
    copy = path.with_name(f"{path.stem}-copy.yaml")
    copy.write_text(re.sub(r"^id: .*$", f"id: {copy.stem}", path.read_text(encoding="utf-8"), flags=re.MULTILINE), encoding="utf-8")
    age(copy)
    result = build(generated, site)
    assert not result.quick and f"claims/{copy.stem}.html" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path, manifest=False)


def test_a_reference_page_that_does_not_list_the_claim_is_left_alone(generated, tmp_path, monkeypatch):
    """A reference page lists REF_LIST of the claims resting on the reference (of thousands, for a
    popular one); the manifest notes which. A verdict edit of a claim resting on it but not listed
    leaves the page as it is, and the quick update does not read the thousands of claims the page
    would need; one of a listed claim makes it again."""
    import json

    import kb.site as sitelib

    monkeypatch.setattr(sitelib, "REF_LIST", 3)
    site = tmp_path / "site"
    build(generated, site)
    shown = json.loads((site / MANIFEST).read_text(encoding="utf-8"))["records"]["shown"]
    assert shown and all(len(ids) <= 6 for ids in shown.values())
    kb = load_kb(generated)
    listed_somewhere = {cid for ids in shown.values() for cid in ids}
    page_of = lambda key: f"references/{sitelib.reference_filename(key)}"  # noqa: E731
    plain = next(c for c in kb.claims.values() if c.verdict == "supported" and not c.derived_from and c.id not in listed_somewhere
                 and any(page_of(ev.ref) in shown for ev in c.evidence))
    _flip(generated / plain.location.path)
    result = build(generated, site)
    assert result.quick
    skipped = {page_of(ev.ref) for ev in plain.evidence} & shown.keys()
    assert skipped and not skipped & set(result.rendered)
    assert_same_as_full_build(generated, site, tmp_path)
    listed = next(c for c in kb.claims.values() if c.verdict == "supported" and not c.derived_from and c.id in listed_somewhere)
    _flip(generated / listed.location.path)
    result = build(generated, site)
    assert result.quick or result.incremental
    assert any(page_of(ev.ref) in result.rendered for ev in listed.evidence)
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_claim_listed_only_as_resting_on_a_reference_is_remade_there(generated, tmp_path, monkeypatch):
    """A summary listed on a reference page only among what the reference's retraction would touch
    (it cites the reference through a claim it summarises): its verdict edit makes that page again."""
    import json

    import kb.site as sitelib

    kb = load_kb(generated)
    cites = {c.id: {f"references/{sitelib.reference_filename(ev.ref)}" for ev in c.evidence} for c in kb.claims.values()}
    for limit in (6, 25, 3, 12):  # a page limit at which such a summary is among the claims listed
        monkeypatch.setattr(sitelib, "REF_LIST", limit)
        site = tmp_path / f"site-{limit}"
        build(generated, site)
        shown = json.loads((site / MANIFEST).read_text(encoding="utf-8"))["records"]["shown"]
        found = [(kb.claims[cid], path) for path, ids in sorted(shown.items()) for cid in ids
                 if kb.claims[cid].derived_from and path not in cites[cid]]
        if found:
            break
    assert found, "no summary is listed on a page of a reference it does not cite"
    summary, page = found[0]
    _flip(generated / summary.location.path)
    result = build(generated, site)
    assert result.quick and page in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


@pytest.mark.parametrize("damage", ["verdict counts", "charts", "seal"])
def test_records_not_as_a_build_wrote_them_are_not_used(generated, tmp_path, damage):
    """The records of the home page and the audit in a manifest edited by hand: the seal no longer
    matches, and the verdict edit goes to the build, which gives the full site (not a traceback, not a
    stale audit page)."""
    import json

    site = tmp_path / "site"
    build(generated, site)
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    records = manifest["records"]
    if damage == "verdict counts":
        del records["home"]["verdicts"]
    elif damage == "charts":
        records["audit"]["charts"] = []
    else:
        records["seal"] = "0" * 32
    (site / MANIFEST).write_text(json.dumps(manifest, separators=(",", ":")), encoding="utf-8")
    _flip(with_verdict(generated, "supported")[2])
    result = build(generated, site)
    assert not result.quick and result.incremental
    assert_same_as_full_build(generated, site, tmp_path)


def test_the_records_are_kept_whichever_process_makes_the_audit_page(generated, tmp_path, monkeypatch):
    """A site big enough for page workers but too small for the audit page's own process: a worker may
    make the audit page, and its records still reach the manifest."""
    import json

    import kb.site as sitelib

    kb = load_kb(generated)
    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", len(kb.claims) + len(kb.references) + 1)  # pages: more than that
    monkeypatch.setattr(sitelib, "_CHUNK", 1)
    for attempt in range(3):
        site = tmp_path / f"site{attempt}"
        build_site(kb, build_graph(kb), site, jobs=2)
        records = json.loads((site / MANIFEST).read_text(encoding="utf-8"))["records"]
        assert records is not None and records["audit"] and records["home"] and "shown" in records


def test_a_quick_update_lists_only_the_folders_whose_time_changed_since_the_last_build(generated, tmp_path, monkeypatch):
    """The last build kept the times of the folders holding pages (site.keep_folder_times), for its
    manifest: a quick update lists the site's own folder only, unless a folder's time changed, the
    record is gone, or the manifest is not the one it was made for; the site is a full build's each time."""
    import kb.siteupdate

    site = tmp_path / "site"
    build(generated, site)
    listed: list[str] = []
    real = os.listdir

    def spy(path="."):
        listed.append(os.path.relpath(path, site))
        return real(path)

    monkeypatch.setattr(kb.siteupdate.os, "listdir", spy)
    claims = with_verdict(generated, "supported")

    def edit_and_build(n: int) -> set[str]:
        listed.clear()
        set_field(claims[n], "verdict_reason", f'"Reason {n}."')
        assert build(generated, site).quick
        return {folder for folder in listed if not folder.startswith(("assets", ".."))}  # the site's folders

    assert edit_and_build(1) == {"."}
    assert edit_and_build(2) == {"."}  # the quick update kept the times again, for its own manifest
    (site / "references" / "stray.txt").write_text("a file of the user's", encoding="utf-8")  # the folder's time changes
    assert edit_and_build(3) == {".", "references"}
    assert edit_and_build(4) == {"."}
    for kept in (generated / ".kb-cache").glob("site-folders-*"):
        kept.unlink()
    assert edit_and_build(5) == {".", "article", "claims", "references"}
    manifest = (site / MANIFEST).read_text(encoding="utf-8")
    (site / MANIFEST).unlink()
    (site / MANIFEST).write_text(manifest, encoding="utf-8")  # the same text, another file: not the record's
    assert edit_and_build(6) == {".", "article", "claims", "references"}
    (site / "references" / "stray.txt").unlink()
    assert_same_as_full_build(generated, site, tmp_path)
