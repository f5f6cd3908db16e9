"""kb build after a few claim files changed: only the pages that can show them are looked at
(kb/site.py ``_affected_pages``), and the site must still be exactly what a full build gives.

Works on a generated knowledge base (benchmarks/generate.py: 20 articles, summaries derived from
claims in other articles, shared references), with the cache on, and edits of every kind that
decides which pages show a claim: its text, verdict, reason, sources, derived_from, a new claim, a
removed one. File times are set explicitly, one second apart and in the past, so that no file is
"racy" (changed too recently for its time to be trusted) and the rule, not that safety net, decides.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from pathlib import Path

import pytest

import kb.site as sitelib
from kb.graph import build_graph
from kb.load import load_kb
from kb.site import MANIFEST, build_site

from conftest import age, generated_kb

@pytest.fixture
def generated(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KB_CACHE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return generated_kb(tmp_path / "kb", claims=300, refs=60, seed=5)


@pytest.fixture
def decided(monkeypatch) -> list:
    """What ``_affected_pages`` answered in each build (None: every page was compared)."""
    answers = []
    real = sitelib._affected_pages

    def spy(*args):
        answers.append(real(*args))
        return answers[-1]

    monkeypatch.setattr(sitelib, "_affected_pages", spy)
    return answers


def build(root: Path, out: Path):
    kb = load_kb(root)
    return build_site(kb, build_graph(kb), out)


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def rewrite(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text(encoding="utf-8")
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, (path.name, pattern)
    path.write_text(new, encoding="utf-8")
    age(path)


def assert_same_as_full_build(root: Path, site: Path, tmp_path: Path, *, manifest: bool = True) -> None:
    """Every file as a full build makes it; the manifest too (the same inputs give the same record)
    unless ``manifest`` is False."""
    fresh = tmp_path / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    assert not build(root, fresh).incremental
    ours, full = snapshot(site), snapshot(fresh)
    if not manifest:
        del ours[MANIFEST], full[MANIFEST]
    assert ours == full


def claims_with(root: Path, needle: str) -> list[Path]:
    return [p for p in sorted((root / "claims").glob("*.yaml")) if needle in p.read_text(encoding="utf-8")]


def derived_targets(root: Path) -> set[str]:
    targets = set()
    for path in claims_with(root, "derived_from:"):
        block = path.read_text(encoding="utf-8").split("derived_from:", 1)[1].split("\nevidence:", 1)[0]
        targets.update(re.findall(r"^  - (\S+)$", block, flags=re.MULTILINE))
    return targets


def _bib(root: Path) -> Path:
    (path,) = (root / "references").glob("*.bib")
    return path


def _edit_reason(root, rng):
    rewrite(rng.choice(claims_with(root, "verdict_reason:")), r"^verdict_reason: .*$", f'verdict_reason: "reason {rng.random()}"')


def _edit_verdict(root, rng):
    path = rng.choice(claims_with(root, "verdict: supported"))
    rewrite(path, r"^verdict: supported$", "verdict: overstated")


def _edit_text_en(root, rng):
    rewrite(rng.choice(claims_with(root, "  en: ")), r'^  en: ".*"$', f'  en: "An English wording {rng.random()}"')


def _edit_source(root, rng):
    keys = re.findall(r"^@\w+\{([^,]+),", _bib(root).read_text(encoding="utf-8"), flags=re.MULTILINE)
    path = rng.choice(claims_with(root, "  - ref: "))
    rewrite(path, r"^  - ref: .*$", f"  - ref: {rng.choice(keys)}")


def _drop_a_derived_link(root, rng):
    path = rng.choice([p for p in claims_with(root, "derived_from:")
                       if len(re.findall(r"^  - \S+$", p.read_text(encoding="utf-8").split("\nevidence:")[0], flags=re.MULTILINE)) > 1])
    rewrite(path, r"^derived_from:\n  - \S+\n", "derived_from:\n")


def _remove_a_claim(root, rng):
    keep = derived_targets(root)
    path = rng.choice([p for p in sorted((root / "claims").glob("*.yaml")) if p.stem not in keep])
    path.unlink()


def _add_a_claim(root, rng):
    source = rng.choice(claims_with(root, "kind: empirical-finding"))
    new_id = f"{source.stem}-copy{rng.randrange(10**6)}"
    target = source.with_name(f"{new_id}.yaml")
    target.write_text(re.sub(r"^id: .*$", f"id: {new_id}", source.read_text(encoding="utf-8"), count=1, flags=re.MULTILINE),
                      encoding="utf-8")
    age(target)


def _texts(root: Path) -> dict[str, tuple[str, str, str]]:
    """claim file -> (article, section, Dutch text line) of every claim."""
    out = {}
    for path in sorted((root / "claims").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        out[path] = (re.search(r"^article: (\S+)$", text, re.M).group(1), re.search(r"^section: (\S+)$", text, re.M).group(1),
                     re.search(r'^  nl: ".*"$', text, re.M).group(0))
    return out


def _move_in_reading_order(root, rng):
    """The claim now quotes another sentence of its article: it moves to that place in reading order."""
    texts = _texts(root)
    path = rng.choice([p for p in texts if "conclusie" not in p.stem])
    other = rng.choice([q for q in texts if q != path and texts[q][0] == texts[path][0] and texts[q][1] != texts[path][1]])
    rewrite(path, r'^  nl: ".*"$', texts[other][2])
    rewrite(path, r"^section: \S+$", f"section: {texts[other][1]}")


def _move_to_another_article(root, rng):
    texts = _texts(root)
    path = rng.choice([p for p in texts if "conclusie" not in p.stem])
    other = rng.choice([q for q in texts if texts[q][0] != texts[path][0] and "conclusie" not in q.stem])
    rewrite(path, r"^article: \S+$", f"article: {texts[other][0]}")
    rewrite(path, r"^section: \S+$", f"section: {texts[other][1]}")
    rewrite(path, r'^  nl: ".*"$', texts[other][2])


def _add_a_derived_link(root, rng):
    summary = rng.choice(claims_with(root, "derived_from:"))
    target = rng.choice([p.stem for p in claims_with(root, "kind: empirical-finding") if p.stem not in summary.read_text(encoding="utf-8")])
    rewrite(summary, r"^derived_from:\n", f"derived_from:\n  - {target}\n")


def _change_a_summarised_claim_elsewhere(root, rng):
    """A claim summarised by a summary in another article changes verdict and wording."""
    pairs = [(s, t) for s in claims_with(root, "derived_from:") for t in derived_targets_of(s) if not t.startswith(s.stem[:6])]
    _, target = rng.choice(pairs)
    path = root / "claims" / f"{target}.yaml"
    rewrite(path, r"^verdict: \S+$", "verdict: supported" if "verdict: supported" not in path.read_text(encoding="utf-8")
            else "verdict: overstated")
    rewrite(path, r'^  en: ".*"$', f'  en: "Changed wording {rng.random()}"')


def _change_kind_and_status(root, rng):
    path = rng.choice(claims_with(root, "status: reviewed"))
    rewrite(path, r"^status: reviewed$", "status: draft")
    rewrite(path, r"^kind: \S+$", "kind: mechanism")


def _rename_a_file(root, rng):
    path = rng.choice(sorted((root / "claims").glob("*.yaml")))
    target = path.with_name(f"renamed-{path.name}")
    path.rename(target)
    age(target)


def derived_targets_of(summary: Path) -> list[str]:
    block = summary.read_text(encoding="utf-8").split("derived_from:", 1)[1].split("\nevidence:", 1)[0]
    return re.findall(r"^  - (\S+)$", block, flags=re.MULTILINE)


EDITS = [_edit_reason, _edit_verdict, _edit_text_en, _edit_source, _drop_a_derived_link, _remove_a_claim, _add_a_claim,
         _move_in_reading_order, _move_to_another_article, _add_a_derived_link, _change_a_summarised_claim_elsewhere,
         _change_kind_and_status, _rename_a_file]


@pytest.mark.parametrize("edit", EDITS, ids=lambda f: f.__name__.strip("_"))
def test_one_edit_looks_at_few_pages_and_builds_the_full_site(generated, tmp_path, decided, edit, monkeypatch):
    monkeypatch.setattr(sitelib, "INDEX_ROWS", 50)  # a claims index of 6 pages: an edit that moves no claim reaches one
    site = tmp_path / "site"
    first = build(generated, site)
    assert not first.incremental
    edit(generated, random.Random(edit.__name__))
    result = build(generated, site)
    assert result.incremental
    looked_at = decided[-1]
    assert looked_at is not None  # the pages were chosen from the change, not all compared
    assert len(looked_at) < len(first.pages) / 3
    assert set(result.rendered) <= looked_at
    assert result.rendered  # the edit shows somewhere
    assert_same_as_full_build(generated, site, tmp_path)


@pytest.mark.parametrize("moves", [False, True], ids=["verdict", "text"])
def test_every_claim_of_the_article_is_looked_at_only_when_a_claim_may_have_moved(generated, tmp_path, decided, moves, monkeypatch):
    """An edit of a claim's Dutch text may move it in its article's reading order: the pages of all the
    article's claims are looked at (a margin). An edit of its verdict leaves it in place: not them, and
    of the claims index only the page that lists the claim."""
    monkeypatch.setattr(sitelib, "INDEX_ROWS", 50)
    site = tmp_path / "site"
    build(generated, site)
    texts = _texts(generated)
    path = next(p for p in claims_with(generated, "verdict: supported") if "conclusie" not in p.stem)
    article = texts[path][0]
    if moves:
        other = next(q for q in texts if q != path and texts[q][0] == article and texts[q][1] == texts[path][1])
        rewrite(path, r'^  nl: ".*"$', texts[other][2])
    else:
        rewrite(path, r"^verdict: supported$", "verdict: overstated")
    build(generated, site)
    looked_at = decided[-1]
    assert looked_at is not None
    article_pages = {f"claims/{p.stem}.html" for p in texts if texts[p][0] == article}
    assert len(article_pages) > 5
    if moves:
        assert article_pages <= looked_at
    else:
        assert f"claims/{path.stem}.html" in looked_at and not article_pages <= looked_at
        index_pages = {p for p in looked_at if p == "claims/index.html" or p.startswith("claims/page/")}
        assert len(index_pages) == 1
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_source_change_reaches_the_references_of_claims_summarised_alongside(generated, tmp_path, decided):
    """Claim b and claim a (in another article) are both summarised by s. A new source for b changes what
    would remain of s if a's reference were retracted: a's reference page (its impact list) must change."""
    site = tmp_path / "site"
    build(generated, site)
    kb = load_kb(generated)
    pairs = [(kb.claims[x], kb.claims[y]) for s in kb.claims.values() for x in s.derived_from for y in s.derived_from
             if x in kb.claims and y in kb.claims and kb.claims[x].article != kb.claims[y].article
             and kb.claims[x].evidence and kb.claims[y].evidence]
    assert pairs, "the generated knowledge base has summaries across articles"
    b, a = pairs[0]
    other = next(key for key in kb.references if key not in {ev.ref for ev in b.evidence} | {ev.ref for ev in a.evidence})
    rewrite(generated / b.location.path, r"^  - ref: .*$", f"  - ref: {other}")
    result = build(generated, site)
    assert decided[-1] is not None
    assert f"references/{sitelib.reference_filename(a.evidence[0].ref)}" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_run_of_mixed_edits_gives_the_full_site_after_each(generated, tmp_path, decided, monkeypatch):
    monkeypatch.setattr(sitelib, "INDEX_ROWS", 50)
    rng = random.Random(7)
    site = tmp_path / "site"
    build(generated, site)
    for _ in range(8):
        for _ in range(rng.randint(1, 3)):
            rng.choice(EDITS)(generated, rng)
        assert build(generated, site).incremental
        assert decided[-1] is not None
        assert_same_as_full_build(generated, site, tmp_path)


def test_a_claim_that_is_gone_but_still_summarised_remakes_the_summary(generated, tmp_path, decided):
    """A knowledge base with errors, as a library caller may build it: a summarised claim's file no
    longer loads (an unknown verdict), so the claim is gone while its summary still names it."""
    site = tmp_path / "site"
    build(generated, site)
    summary, name = next((s, t) for s in claims_with(generated, "derived_from:") for t in derived_targets_of(s)
                         if not t.startswith(s.stem[:6]))  # in another article: only the summary's link leads to it
    rewrite(generated / "claims" / f"{name}.yaml", r"^verdict: \S+$", "verdict: not-a-verdict")
    result = build(generated, site)
    assert decided[-1] is not None
    assert f"claims/{summary.stem}.html" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_changed_article_or_reference_compares_every_page(generated, tmp_path, decided):
    site = tmp_path / "site"
    build(generated, site)
    bib = _bib(generated)
    rewrite(bib, r"^(\s*title\s*=\s*\{)", r"\1Renamed: ")
    assert build(generated, site).incremental
    assert decided[-1] is None
    assert_same_as_full_build(generated, site, tmp_path)


def test_many_changed_claims_compare_every_page(generated, tmp_path, decided, monkeypatch):
    monkeypatch.setattr(sitelib, "_FEW_CHANGES", 3)
    site = tmp_path / "site"
    build(generated, site)
    rng = random.Random(3)
    for _ in range(5):
        _edit_reason(generated, rng)
    assert build(generated, site).incremental
    assert decided[-1] is None
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_page_file_removed_by_hand_is_made_again(generated, tmp_path, decided):
    site = tmp_path / "site"
    build(generated, site)
    victim = sorted((site / "claims").glob("a00007-*.html"))[3]  # a page no edit below can reach
    victim.unlink()
    first = sorted((generated / "claims").glob("a00001-*.yaml"))[2]
    rewrite(first, r"^verdict_reason: .*$", 'verdict_reason: "changed"')
    result = build(generated, site)
    assert decided[-1] is not None and f"claims/{victim.name}" not in decided[-1]
    assert f"claims/{victim.name}" in result.rendered
    assert_same_as_full_build(generated, site, tmp_path)


def test_without_the_cache_every_page_is_compared(generated, tmp_path, decided, monkeypatch):
    monkeypatch.setenv("KB_CACHE", "0")
    site = tmp_path / "site"
    build(generated, site)
    _edit_reason(generated, random.Random(2))
    result = build(generated, site)
    assert result.incremental and decided[-1] is None
    assert '"inputs":null' in (site / MANIFEST).read_text(encoding="utf-8")
    assert_same_as_full_build(generated, site, tmp_path)


def test_a_claim_saved_while_the_build_loads_is_not_missed(generated, tmp_path, decided, monkeypatch):
    """Saved between the load's walk and its parse: the knowledge base holds the new text while the
    walk saw the old file; the pages must be made from the new text now, not one build later."""
    import kb.cache as cachelib

    site = tmp_path / "site"
    build(generated, site)
    victim = claims_with(generated, "verdict_reason:")[5]
    real_scan = cachelib.scan_inputs

    def scan_then_edit(root):
        scan = real_scan(root)
        monkeypatch.setattr(cachelib, "scan_inputs", real_scan)
        rewrite(victim, r"^verdict_reason: .*$", 'verdict_reason: "saved while kb build was loading"')
        return scan

    monkeypatch.setattr(cachelib, "scan_inputs", scan_then_edit)
    result = build(generated, site)
    assert decided[-1] is not None and f"claims/{victim.stem}.html" in result.rendered
    assert "saved while kb build was loading" in (site / "claims" / f"{victim.stem}.html").read_text(encoding="utf-8")
    assert_same_as_full_build(generated, site, tmp_path, manifest=False)  # ours records the file as not to be trusted
    rows = {row[0]: row for row in json.loads((site / MANIFEST).read_text(encoding="utf-8"))["inputs"]["claims"]}
    assert rows[victim.stem][2] == -1 and all(row[2] > 0 for cid, row in rows.items() if cid != victim.stem)
