"""kb why / kb impact on a part of the knowledge base (kb/load.py ``focus``): the same answers as on
the whole of it, from a knowledge base loaded lazily from the index, with nothing or some claim files
changed since the last run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb.cache import session_of
from kb.cli import main
from kb.graph import build_graph, impact, why
from kb.load import focus, load_kb
from kb.validate import validate

from conftest import age, generated_kb


@pytest.fixture
def generated(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KB_CACHE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    root = generated_kb(tmp_path / "kb", claims=300, refs=60, seed=11)
    validate(load_kb(root))  # the first run writes the index
    return root


def whole(root: Path, monkeypatch):
    """The knowledge base loaded whole, without the cache, and its graph."""
    monkeypatch.setenv("KB_CACHE", "0")
    kb = load_kb(root)
    monkeypatch.setenv("KB_CACHE", "1")
    return kb, build_graph(kb)


def lazy(root: Path):
    kb = load_kb(root)
    validate(kb)
    return kb


def test_why_and_impact_on_the_focused_part_answer_as_on_the_whole(generated, monkeypatch):
    full, graph = whole(generated, monkeypatch)
    kb = lazy(generated)
    for cid in full.claims:
        part = focus(kb, claims=[cid])
        assert part is not kb and len(part.claims) < len(full.claims)
        assert why(build_graph(part), cid).as_dict() == why(graph, cid).as_dict(), cid
    for key in full.references:
        part = focus(kb, refs=[key])
        assert part is not kb
        assert impact(build_graph(part), key).as_dict() == impact(graph, key).as_dict(), key


def test_after_claim_files_changed_the_focused_part_reads_them_as_they_are_now(generated, monkeypatch):
    summary = next(p for p in sorted((generated / "claims").glob("*conclusie*.yaml")))
    target = re.search(r"^  - (\S+)$", summary.read_text(encoding="utf-8"), flags=re.MULTILINE).group(1)
    path = generated / "claims" / f"{target}.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"^verdict: \S+$", "verdict: overstated", text, count=1, flags=re.MULTILINE), encoding="utf-8")
    (generated / "claims" / "zz-new.yaml").write_text(
        re.sub(r"^id: .*$", "id: zz-new", text, count=1, flags=re.MULTILINE), encoding="utf-8")
    age(path, generated / "claims" / "zz-new.yaml")
    kb = lazy(generated)
    assert session_of(kb).update is not None  # loaded as "only claim files changed"
    full, graph = whole(generated, monkeypatch)
    for cid in (summary.stem, "zz-new"):
        part = focus(kb, claims=[cid])
        assert part is not kb
        assert why(build_graph(part), cid).as_dict() == why(graph, cid).as_dict()
    for key in {ev.ref for ev in full.claims[target].evidence}:
        part = focus(kb, refs=[key])
        assert part is not kb
        assert impact(build_graph(part), key).as_dict() == impact(graph, key).as_dict()


def test_a_file_edited_after_the_index_was_read_makes_focus_give_up(generated, monkeypatch):
    kb = lazy(generated)
    summary = next(p for p in sorted((generated / "claims").glob("*conclusie*.yaml")))
    extra = next(p.stem for p in sorted((generated / "claims").glob("*.yaml")) if "conclusie" not in p.stem
                 and p.stem not in summary.read_text(encoding="utf-8"))
    summary.write_text(summary.read_text(encoding="utf-8").replace("derived_from:\n", f"derived_from:\n  - {extra}\n", 1),
                       encoding="utf-8")
    assert focus(kb, claims=[summary.stem]) is kb  # the file says more than the index: the whole load answers


def test_focus_gives_the_knowledge_base_itself_when_it_cannot_help(generated, monkeypatch):
    kb = lazy(generated)
    assert focus(kb, claims=["no-such-claim"]) is kb  # the whole knowledge base gives the error and its hint
    assert focus(kb, refs=["no-such-key"]) is kb
    list(kb.claims.values())  # loaded whole now
    assert focus(kb, claims=[next(iter(kb.claims))]) is kb
    monkeypatch.setenv("KB_CACHE", "0")
    plain = load_kb(generated)
    assert focus(plain, claims=[next(iter(plain.claims))]) is plain


def test_kb_why_impact_and_show_print_the_same_as_before(generated, monkeypatch, capsys):
    kb, graph = whole(generated, monkeypatch)
    summary = next(cid for cid in kb.claims if "conclusie" in cid)
    finding = next(cid for cid, claim in kb.claims.items() if len(claim.evidence) > 1)
    key = max(kb.references, key=lambda k: len(impact(graph, k).claims))
    import kb.cli.graph as graph_commands
    import kb.cli.query as query_commands

    parts = []

    def spy(whole_kb, **question):
        parts.append(focus(whole_kb, **question) is not whole_kb)
        return focus(whole_kb, **question)

    monkeypatch.setattr(graph_commands, "focus", spy)
    monkeypatch.setattr(query_commands, "focus", spy)
    outputs = {}
    for cache in ("0", "1", "1"):  # whole; focused (from the index the fixture wrote); focused again
        monkeypatch.setenv("KB_CACHE", cache)
        for args in (["why", summary], ["impact", key], ["why", summary, "--format", "json"], ["show", finding],
                     ["show", summary], ["show", finding, "--style", "vancouver"]):
            assert main(["--kb", str(generated), *args]) == 0
            outputs.setdefault(tuple(args), set()).add(capsys.readouterr().out)
    assert all(len(seen) == 1 for seen in outputs.values()), outputs.keys()
    assert parts == [False] * 6 + [True] * 12  # the whole without the cache; a part from the index


def test_two_files_with_one_id_leave_the_answer_to_the_whole_load(generated):
    source = sorted((generated / "claims").glob("*.yaml"))[10]
    (generated / "claims" / "more").mkdir()
    lazy(generated)  # the index knows the folder
    copy = generated / "claims" / "more" / source.name  # the same id (and file name) in a second file
    copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    age(copy)
    kb = load_kb(generated)
    assert session_of(kb).update is not None  # only a claim file was added: loaded lazily from the index
    assert focus(kb, claims=[source.stem]) is kb


def test_a_part_too_big_to_read_file_by_file_is_left_to_the_whole_load(generated, monkeypatch, capsys):
    """Reading claim files one by one costs several times what loading a claim from the cache does: a
    reference most of the knowledge base rests on is answered by the whole knowledge base, a small part
    still by its own files, and ``kb impact`` prints the same either way."""
    import kb.load as loadlib

    kb = lazy(generated)
    sizes = {key: len(focus(kb, refs=[key]).claims) for key in kb.references}
    big, small = max(sizes, key=sizes.get), min(sizes, key=sizes.get)
    assert sizes[small] < sizes[big]
    assert main(["--kb", str(generated), "impact", big]) == 0
    printed = capsys.readouterr().out
    monkeypatch.setattr(loadlib, "FOCUS_MAX_CLAIMS", sizes[small])
    monkeypatch.setattr(loadlib, "FOCUS_MAX_SHARE", 10 ** 9)
    kb = lazy(generated)
    assert focus(kb, refs=[big]) is kb
    part = focus(kb, refs=[small])
    assert part is not kb and len(part.claims) == sizes[small]
    assert main(["--kb", str(generated), "impact", big]) == 0
    assert capsys.readouterr().out == printed and printed.count("\n") > 3
