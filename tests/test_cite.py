"""kb.cite's speed-ups keep every result: the memoised LaTeX parsing, and ``format_references``
with its disk cache (per entry content, style, backend and style source) and worker processes.
Byte-identical output on whole bibliographies is tests/test_cite_golden.py."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from pybtex.database import parse_string
from pybtex.plugin import register_plugin
from pybtex.richtext import Text

from kb import cite, latex
from kb.bib import parse_bib_file, parse_bib_text
from kb.model import Config, KnowledgeBase
from kb.render import sanitize_html

TESTS = Path(__file__).resolve().parent
CASE = TESTS / "cases" / "styles"
BIBS = [TESTS.parent / "references" / "krachttraining.bib", CASE / "fixtures.bib", CASE / "edge.bib", CASE / "generated.bib"]

BIB = """\
@article{one, author={van der Esch, Martin and M{\\"u}ller, J{\\"o}rg}, title={First {RCT} title}, journal={J Test}, year={2020}, volume={1}, pages={1--9}}
@article{two, author={Doe, Jane}, title={Second title}, journal={J Test}, year={2021}}
@article{three, author={Roe, Rita}, title={No journal here}, year={2022}}
"""


def make(root: Path, text: str = BIB) -> KnowledgeBase:
    """A knowledge base at ``root`` holding only the bibliography ``text`` (a new pybtex object each
    time, so nothing is in kb.cite's memory for it: as in a new run)."""
    data, _, _ = parse_bib_text(text, "test.bib")
    return KnowledgeBase(root=str(root), config=Config(), claims={}, references={}, articles={}, bibliography=data)


@pytest.fixture
def cache_on(monkeypatch):
    monkeypatch.setenv("KB_CACHE", "1")


@pytest.fixture
def rendered(monkeypatch):
    """The keys kb.cite formats for real (not from a cache) in this process."""
    calls: list[str] = []
    real = cite._render

    def counting(entry, key, *args, **kwargs):
        calls.append(key)
        return real(entry, key, *args, **kwargs)

    monkeypatch.setattr(cite, "_render", counting)
    return calls


# -- LaTeX parsing -----------------------------------------------------------------------------

PYBTEX_FROM_LATEX = cite._PYBTEX_FROM_LATEX.__func__


def test_fast_latex_parsing_equals_pybtex_on_random_text():
    """Text the decoder would not change is parsed without it: the result is the same rich text.
    Text with markup pybtex does not read (``$``, ``\\{``: tests/test_cite_markup.py) is read by kb
    and never fails where pybtex does not."""
    alphabet = list("ab1 {}--',.!?`~\\$%&#_^<>@*:;()[]/+=\"\n\t|") + ["é", "–", "\u00a0", "日", "²", "ß"]
    rng = random.Random(7)
    skipped_decoder = markup = 0
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        try:
            expected = repr(PYBTEX_FROM_LATEX(Text, text))
        except Exception as exc:  # unbalanced braces
            expected = type(exc).__name__
        try:
            actual = repr(cite._parse_latex(text))
        except Exception as exc:
            actual = type(exc).__name__
        if latex._MARKUP.search(text):
            markup += 1
            assert actual.startswith("Text(") or actual == expected, text
        else:
            assert actual == expected, text
        skipped_decoder += not latex._DECODER_WORK.search(text)
    assert skipped_decoder > 2000  # the fast path was taken, and agreed
    assert 2000 < markup < 10000


def test_fast_latex_parsing_equals_pybtex_on_every_field_and_name_of_the_test_bibliographies():
    values = set()
    for path in BIBS:
        data, _, _ = parse_bib_file(path, path.name)
        for entry in data.entries.values():
            values.update(entry.fields.values())
            for people in entry.persons.values():
                for p in people:
                    values.update(p.first_names + p.middle_names + p.prelast_names + p.last_names + p.lineage_names)
    assert len(values) > 500
    for value in values:
        if not latex._MARKUP.search(value):
            assert repr(cite._parse_latex(value)) == repr(PYBTEX_FROM_LATEX(Text, value)), value
    assert sum(bool(latex._MARKUP.search(value)) for value in values) == 1  # edge.bib's title: tests/test_cite_markup.py
    assert cite._parse_latex("{\\'E}mile -- x") == Text.from_latex("{\\'E}mile -- x")  # decoder work is still done


def test_pybtex_from_latex_is_restored_after_formatting_even_on_errors(tmp_path):
    kb = make(tmp_path)
    cite.format_reference(kb, "one", "apa")
    assert Text.__dict__["from_latex"] is cite._PYBTEX_FROM_LATEX
    with pytest.raises(KeyError):
        with cite._fast_latex():
            assert Text.__dict__["from_latex"] is cite._FAST_FROM_LATEX
            with cite._fast_latex():  # reentrant
                pass
            assert Text.__dict__["from_latex"] is cite._FAST_FROM_LATEX
            raise KeyError("x")
    assert Text.__dict__["from_latex"] is cite._PYBTEX_FROM_LATEX


# -- format_references -------------------------------------------------------------------------

def test_format_references_equals_format_reference_one_by_one(tmp_path):
    keys = ["three", "one", "nosuchkey", "two", "one"]
    many = cite.format_references(make(tmp_path), keys, "vancouver", "html")
    single = make(tmp_path)
    assert list(many) == ["three", "one", "nosuchkey", "two"]
    assert many == {key: cite.format_reference(single, key, "vancouver", "html") for key in many}
    assert many["three"] == ("[three: missing journal in three]", "missing journal in three")
    assert many["nosuchkey"] == ("[nosuchkey: unknown reference]", "unknown reference")
    assert many["one"][1] is None and many["one"][0].endswith("title. J Test. 2020;1:1-9.")


def test_format_reference_uses_what_format_references_did(tmp_path, rendered):
    kb = make(tmp_path)
    cite.format_references(kb, ["one", "two"], "apa", "text")
    assert sorted(rendered) == ["one", "two"]
    cite.format_reference(kb, "one", "apa", "text")
    cite.format_references(kb, ["one", "two"], "apa", "text")
    assert sorted(rendered) == ["one", "two"]
    cite.format_reference(kb, "one", "apa", "html")  # another backend is another result
    assert sorted(rendered) == ["one", "one", "two"]


def test_cached_and_uncached_results_are_identical(tmp_path, cache_on, rendered):
    keys = ["one", "two", "three"]
    cold = cite.format_references(make(tmp_path), keys, "apa", "markdown")
    assert sorted(rendered) == sorted(keys)
    assert (tmp_path / ".kb-cache" / "references.apa.markdown.pickle").is_file()
    warm = cite.format_references(make(tmp_path), keys, "apa", "markdown")
    assert warm == cold
    assert sorted(rendered) == sorted(keys)  # nothing formatted again
    md = cite.format_references(make(tmp_path), keys, "apa", "md")  # "md" and "markdown" are one backend
    assert md == cold and len(rendered) == 3


def test_an_edited_entry_is_formatted_again_and_nothing_else(tmp_path, cache_on, rendered):
    keys = ["one", "two", "three"]
    before = cite.format_references(make(tmp_path), keys, "vancouver", "text")
    rendered.clear()
    after = cite.format_references(make(tmp_path, BIB.replace("Second title", "Second title, edited")), keys, "vancouver", "text")
    assert rendered == ["two"]
    assert after["two"][0] == "Doe J. Second title, edited. J Test. 2021."
    assert after["one"] == before["one"] and after["three"] == before["three"]
    rendered.clear()
    renamed = cite.format_references(make(tmp_path, BIB.replace("{van der Esch, Martin", "{van der Esch, Marten")), keys, "vancouver", "text")
    assert rendered == ["one"] and renamed["one"] == before["one"]  # a name is content too


def test_a_changed_style_source_formats_everything_again(tmp_path, cache_on, rendered, monkeypatch):
    """A style plugin's own module is part of the cache key: editing it invalidates what it formatted."""
    module = tmp_path / "plugin" / "kbtest_style.py"
    module.parent.mkdir()
    module.write_text("from kb.styles.vancouver import VancouverStyle\n\n\nclass TestStyle(VancouverStyle):\n    pass\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(module.parent))
    from kbtest_style import TestStyle

    register_plugin("pybtex.style.formatting", "kbtest", TestStyle)
    cite.get_style.cache_clear()
    cite.formatting_state.cache_clear()
    try:
        keys = ["one", "two"]
        first = cite.format_references(make(tmp_path), keys, "kbtest", "text")
        assert str(module) in cite._source_files([TestStyle])
        rendered.clear()
        cite.formatting_state.cache_clear()  # a new run
        assert cite.format_references(make(tmp_path), keys, "kbtest", "text") == first and rendered == []
        module.write_text(module.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
        cite.formatting_state.cache_clear()
        assert cite.format_references(make(tmp_path), keys, "kbtest", "text") == first
        assert sorted(rendered) == keys
    finally:
        cite.get_style.cache_clear()
        cite.formatting_state.cache_clear()
        sys.modules.pop("kbtest_style", None)


def test_the_cache_key_covers_every_module_of_a_style_plugins_package(tmp_path, monkeypatch):
    """An upgrade may change only a helper module the style class calls."""
    package = tmp_path / "plugin" / "kbtest_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from kb.styles.vancouver import VancouverStyle\n\n\nclass PkgStyle(VancouverStyle):\n    pass\n",
                                         encoding="utf-8")
    (package / "helper.py").write_text("PREFIX = ''\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(package.parent))
    from kbtest_pkg import PkgStyle

    try:
        files = cite._source_files([PkgStyle])
        assert str(package / "helper.py") in files and str(package / "__init__.py") in files
        assert not any("/pybtex/database/" in f for f in files)  # pybtex counts by its version, not every module
    finally:
        sys.modules.pop("kbtest_pkg", None)


def test_the_cache_key_covers_kbs_styles_and_this_module():
    files = cite._source_files([type(cite.get_style("plain"))])
    kb_dir = Path(cite.__file__).resolve().parent
    for name in ("cite.py", "latex.py", "render.py", "styles/_common.py", "styles/vancouver.py", "styles/apa.py"):
        assert str(kb_dir / name) in files
    assert any(f.endswith("pybtex/style/formatting/unsrt.py") for f in files)  # plain's base class
    assert cite.formatting_state("vancouver", "html") != cite.formatting_state("apa", "html") != cite.formatting_state("apa", "text")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "empty"])
def test_a_corrupt_cache_is_ignored_and_rewritten(tmp_path, cache_on, rendered, damage):
    keys = ["one", "two", "three"]
    cold = cite.format_references(make(tmp_path), keys, "plain", "html")
    path = tmp_path / ".kb-cache" / "references.plain.html.pickle"
    blob = path.read_bytes()
    path.write_bytes({"garbage": b"not a cache at all", "truncated": blob[:len(blob) // 2], "empty": b"",
                      "flipped": blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:]}[damage])
    rendered.clear()
    assert cite.format_references(make(tmp_path), keys, "plain", "html") == cold
    assert sorted(rendered) == sorted(keys)
    rendered.clear()
    assert cite.format_references(make(tmp_path), keys, "plain", "html") == cold
    assert rendered == []  # rewritten whole


def test_kb_cache_0_writes_nothing(tmp_path, monkeypatch, rendered):
    monkeypatch.setenv("KB_CACHE", "0")
    keys = ["one", "two", "three"]
    first = cite.format_references(make(tmp_path), keys, "vancouver", "html")
    assert not (tmp_path / ".kb-cache").exists()
    rendered.clear()
    assert cite.format_references(make(tmp_path), keys, "vancouver", "html") == first
    assert sorted(rendered) == sorted(keys)


def test_no_cache_folder_is_made_for_a_knowledge_base_without_a_folder(tmp_path, cache_on):
    root = tmp_path / "not-there"
    first = cite.format_references(make(root), ["one", "two"], "apa", "text")
    assert not root.exists()
    assert first == cite.format_references(make(tmp_path), ["one", "two"], "apa", "text")


def test_the_disk_cache_does_not_grow_without_bound(tmp_path, cache_on, monkeypatch):
    from kb.cache import load_value

    monkeypatch.setattr(cite, "formatting_state", lambda style, backend: b"fixed")
    for n in range(4):  # every entry edited each time: old results are dropped beyond the limit
        text = "".join(f"@article{{k{i}, author={{Doe, Jane}}, title={{T{i} v{n}}}, journal={{J}}, year={{2020}}}}\n" for i in range(600))
        kb = make(tmp_path, text)
        cite.format_references(kb, list(kb.bibliography.entries), "vancouver", "text", parallel=False)
    stored = load_value(tmp_path, "references.vancouver.text.pickle", b"fixed")
    assert 600 < len(stored) <= 1200


def test_many_entries_are_formatted_by_two_worker_processes(tmp_path, monkeypatch, rendered):
    """More than PARALLEL_MIN_ENTRIES uncached entries: formatted in forked workers (none in this
    process), with the same results as in one process."""
    monkeypatch.setattr(cite, "PARALLEL_MIN_ENTRIES", 20)
    monkeypatch.setattr(cite, "_cores", lambda: 2)
    data, _, _ = parse_bib_file(CASE / "generated.bib", "generated.bib")
    keys = list(data.entries)
    serial = cite.format_references(KnowledgeBase(str(tmp_path), Config(), {}, {}, {}, bibliography=data), keys, "apa", "html", parallel=False)
    assert len(rendered) == len(keys)
    rendered.clear()
    data2, _, _ = parse_bib_file(CASE / "generated.bib", "generated.bib")
    parallel = cite.format_references(KnowledgeBase(str(tmp_path), Config(), {}, {}, {}, bibliography=data2), keys, "apa", "html")
    assert rendered == []  # all done in the workers
    assert parallel == serial and list(parallel) == keys


def test_templates_of_kbs_styles_do_not_read_the_entry():
    """kb's templates are built once per entry type with e=None (kb/styles/_common.format_any_type)."""
    for name in ("vancouver", "apa"):
        style = cite.get_style(name)
        for attribute in dir(style):
            if attribute.startswith("get_") and attribute.endswith("_template"):
                assert getattr(style, attribute)(None) is not None


def test_names_formatted_once_per_style_equal_pybtexs_own(tmp_path):
    """pybtex's styles with kb's per-name memo give what the same style gives without it, for the
    same person in several entries, abbreviated (unsrtalpha is plain's template) or not."""
    from pybtex.plugin import find_plugin

    bib = parse_string("@article{a, author={Knuth, Donald E. and de la Vall{\\'e}e Poussin, Charles}, title={A}, journal={J}, year={2000}}\n"
                       "@book{b, editor={Knuth, Donald E. and Knuth, D. and Smith, Jr, John}, title={B}, publisher={P}, year={2001}}\n", "bibtex")
    kb = KnowledgeBase(str(tmp_path), Config(), {}, {}, {}, bibliography=bib)
    for name in ("plain", "unsrt", "alpha", "unsrtalpha"):
        assert cite.get_style(name).format_name is not find_plugin("pybtex.style.formatting", name)().format_name
        for abbreviate in (False, True):
            plain_pybtex = find_plugin("pybtex.style.formatting", name)(abbreviate_names=abbreviate)
            for key in ("a", "b", "a"):
                for backend in ("text", "latex", "html"):
                    expected = plain_pybtex.format_entry(key, bib.entries[key]).text.render_as(backend)
                    if not abbreviate:  # HTML as kb keeps it: sanitized (kb.render.sanitize_html: "&nbsp;" is read as the character)
                        kept = str(sanitize_html(expected)) if backend == "html" else expected
                        assert cite.format_reference(kb, key, name, backend) == (kept, None)
                    memo = find_plugin("pybtex.style.formatting", name)(abbreviate_names=abbreviate)
                    cite._format_names_once(memo)
                    assert memo.format_entry(key, bib.entries[key]).text.render_as(backend) == expected
    assert "Vall" in cite.format_reference(kb, "a", "plain", "latex")[0]


def test_references_formatted_in_the_background_are_then_read_from_disk(tmp_path, cache_on, monkeypatch, rendered):
    """kb build starts formatting in a forked process while it builds the graph (format_in_background);
    what that process stored is what format_references then returns, without formatting anything."""
    monkeypatch.setattr(cite, "PARALLEL_MIN_ENTRIES", 20)
    monkeypatch.setattr(cite, "_cores", lambda: 2)
    data, refs, _ = parse_bib_file(CASE / "generated.bib", "generated.bib")
    kb = KnowledgeBase(str(tmp_path), Config(), {}, {r.key: r for r in refs}, {}, bibliography=data)
    keys = list(data.entries)
    handle = cite.format_in_background(kb, "vancouver", "html")
    assert handle.process is not None
    handle()
    assert handle.process is None
    helped = list(rendered)  # what this process formatted while the other went on (none, or a few from the end)
    from_disk = cite.format_references(kb, keys, "vancouver", "html")
    assert rendered == helped
    other, _, _ = parse_bib_file(CASE / "generated.bib", "generated.bib")
    direct = cite.format_references(KnowledgeBase(str(tmp_path / "none"), Config(), {}, {}, {}, bibliography=other), keys,
                                    "vancouver", "html", parallel=False)
    assert from_disk == direct and len(rendered) == len(helped) + len(keys)


def test_the_build_formats_with_the_background_process_when_it_needs_the_references_first(tmp_path, cache_on, monkeypatch):
    """Called before the other process is done, the handle formats the rest with it, from the end of
    the list while the other goes on from the start; every entry is formatted once, and the other
    process stores them all: a knowledge base read again finds every entry on disk."""
    import time

    monkeypatch.setattr(cite, "PARALLEL_MIN_ENTRIES", 20)
    monkeypatch.setattr(cite, "_cores", lambda: 2)
    real, mine = cite._render, []

    def slow(entry, key, *args, **kwargs):  # in both processes (the other is a fork of this one)
        time.sleep(0.004)
        mine.append(key)
        return real(entry, key, *args, **kwargs)

    monkeypatch.setattr(cite, "_render", slow)
    data, refs, _ = parse_bib_file(CASE / "generated.bib", "generated.bib")
    kb = KnowledgeBase(str(tmp_path), Config(), {}, {r.key: r for r in refs}, {}, bibliography=data)
    keys = list(data.entries)
    handle = cite.format_in_background(kb, "vancouver", "html")
    deadline = time.monotonic() + 30
    while handle.shared.state[0] < 0 and time.monotonic() < deadline:  # the other process has listed what to format
        time.sleep(0.005)
    assert handle.shared.state[0] == len(keys)
    handle()
    assert 0 < len(mine) < len(keys) and len(set(mine)) == len(mine)
    assert set(mine) <= set(keys[len(keys) // 4:])  # from the end of the list
    monkeypatch.setattr(cite, "_render", real)
    again, _, _ = parse_bib_file(CASE / "generated.bib", "generated.bib")
    read_again = KnowledgeBase(str(tmp_path), Config(), {}, {}, {}, bibliography=again)
    stored, found, missing = cite._on_disk(read_again, keys, "vancouver", "html")
    assert missing == {} and list(found) == keys
    other, _, _ = parse_bib_file(CASE / "generated.bib", "generated.bib")
    direct = cite.format_references(KnowledgeBase(str(tmp_path / "none"), Config(), {}, {}, {}, bibliography=other), keys,
                                    "vancouver", "html", parallel=False)
    assert cite.format_references(read_again, keys, "vancouver", "html") == direct


def test_the_background_process_stores_its_own_part_when_this_one_never_helps(tmp_path, cache_on, monkeypatch):
    """The build ended (or failed) without calling the handle: the other process, finding the pipe
    closed, stores what it formatted (everything), instead of waiting."""
    monkeypatch.setattr(cite, "PARALLEL_MIN_ENTRIES", 20)
    monkeypatch.setattr(cite, "_cores", lambda: 2)
    data, refs, _ = parse_bib_file(CASE / "generated.bib", "generated.bib")
    kb = KnowledgeBase(str(tmp_path), Config(), {}, {r.key: r for r in refs}, {}, bibliography=data)
    handle = cite.format_in_background(kb, "vancouver", "html")
    handle.conn.close()
    handle.process.join(60)
    assert handle.process.exitcode == 0
    again, _, _ = parse_bib_file(CASE / "generated.bib", "generated.bib")
    assert cite._on_disk(KnowledgeBase(str(tmp_path), Config(), {}, {}, {}, bibliography=again), list(data.entries), "vancouver", "html")[2] == {}


def test_background_formatting_can_be_stopped_and_is_off_without_the_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(cite, "PARALLEL_MIN_ENTRIES", 20)
    monkeypatch.setattr(cite, "_cores", lambda: 2)
    data, refs, _ = parse_bib_file(CASE / "generated.bib", "generated.bib")
    kb = KnowledgeBase(str(tmp_path), Config(), {}, {r.key: r for r in refs}, {}, bibliography=data)
    monkeypatch.setenv("KB_CACHE", "0")
    assert cite.format_in_background(kb, "vancouver").process is None
    monkeypatch.setenv("KB_CACHE", "1")
    handle = cite.format_in_background(kb, "vancouver")
    process = handle.process
    handle.stop()
    assert handle.process is None and not process.is_alive()
    handle()  # waiting after stop returns at once
