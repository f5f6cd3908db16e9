"""Formatted references stay byte-identical: every style x backend x entry of four bibliographies
(this repository's, the style fixtures, fictitious edge cases and 120 generated entries) against
golden files written from the formatting code before it was optimised
(tests/cases/styles/formatted/<bib>.<style>.txt; ``pytest --update-golden`` rewrites them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import check_golden
from kb.bib import parse_bib_file
from kb.cite import cited_bibliography, format_reference
from kb.model import Config, KnowledgeBase

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CASE = TESTS / "cases" / "styles"
GOLDEN = CASE / "formatted"

BIBS = {
    "krachttraining": REPO / "references" / "krachttraining.bib",
    "fixtures": CASE / "fixtures.bib",
    "edge": CASE / "edge.bib",
    "generated": CASE / "generated.bib",
}
STYLES = ["vancouver", "apa", "plain", "unsrt", "alpha", "unsrtalpha"]
BACKENDS = ["text", "html", "markdown", "latex"]


def bib_kb(name: str, root: Path) -> KnowledgeBase:
    """A knowledge base holding only the bibliography ``name`` (parsed as kb.load parses it)."""
    data, _, _ = parse_bib_file(BIBS[name], BIBS[name].name)
    assert data.entries, name
    return KnowledgeBase(root=str(root), config=Config(), claims={}, references={}, articles={}, bibliography=data)


def golden_text(kb: KnowledgeBase, style: str, formatted) -> str:
    """Labels in the style's order, then one line per backend and entry: text or problem, JSON-quoted.
    ``formatted(backend) -> {key: (text, problem)}``."""
    keys = list(kb.bibliography.entries)
    results_by_backend = {backend: formatted(backend) for backend in BACKENDS}
    out = [f"# labels ({style})\n"]
    out += [f"{e.label}\t{e.key}\n" for e in cited_bibliography(kb, keys, style, "text")]
    for backend, results in results_by_backend.items():
        out.append(f"# {backend}\n")
        for key in keys:
            text, problem = results[key]
            out.append(f"{key}\t{json.dumps(text, ensure_ascii=False)}\t{json.dumps(problem, ensure_ascii=False)}\n")
    return "".join(out)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("bib", list(BIBS))
def test_format_reference_output_is_unchanged(bib, style, tmp_path, update_golden):
    kb = bib_kb(bib, tmp_path)
    actual = golden_text(kb, style, lambda backend: {key: format_reference(kb, key, style, backend) for key in kb.bibliography.entries})
    check_golden(GOLDEN / f"{bib}.{style}.txt", actual, update_golden)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("bib", list(BIBS))
def test_format_references_cold_and_from_disk_match_the_golden_files(bib, style, tmp_path, monkeypatch):
    """``format_references`` gives the same as ``format_reference``: formatting everything (cold), and
    again in a fresh bibliography object (nothing in memory), all from the disk cache."""
    from kb import cite

    monkeypatch.setenv("KB_CACHE", "1")
    expected = (GOLDEN / f"{bib}.{style}.txt").read_text(encoding="utf-8")
    cold = bib_kb(bib, tmp_path)
    assert golden_text(cold, style, lambda backend: cite.format_references(cold, list(cold.bibliography.entries), style, backend)) == expected
    assert len(list((tmp_path / ".kb-cache").glob(f"references.{style}.*.pickle"))) == len(BACKENDS)

    warm = bib_kb(bib, tmp_path)
    rendered = []
    monkeypatch.setattr(cite, "_render", lambda *args, **kwargs: rendered.append(args) or ("", "must not be called"))
    assert golden_text(warm, style, lambda backend: cite.format_references(warm, list(warm.bibliography.entries), style, backend)) == expected
    assert rendered == []


def test_golden_files_cover_problems_and_every_backend():
    """The golden data is worth comparing against: it holds placeholders for missing fields, escaped
    markup in html, markdown and latex, and differs between backends."""
    edge = (GOLDEN / "edge.vancouver.txt").read_text(encoding="utf-8")
    assert '"missing journal in edge-nojournal"' in edge
    assert "&lt;b&gt;bold&lt;/b&gt;" in edge  # html escapes text from BibTeX
    assert "\\\\*stars\\\\*" in edge  # markdown escapes it (JSON-quoted backslash)
    plain = (GOLDEN / "generated.plain.txt").read_text(encoding="utf-8")
    assert plain.count("\n") > 4 * 120
