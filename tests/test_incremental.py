"""Incremental `kb check` (kb/cache.py index + journal, kb/load.py _load_changes, kb/validate.py
_validate_changes) never changes an answer: after any sequence of changes, a load through the cache
gives exactly the claims and diagnostics of a cold load with the cache off (KB_CACHE=0), and claim-only
changes really take the incremental path (only the changed files are read)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

import kb
from kb import cache
from kb.load import load_kb
from kb.validate import validate

from conftest import copy_repo_kb, damage_file

REPO = Path(__file__).resolve().parent.parent
OLD = time.time_ns() - 3600 * 10**9  # an hour ago: mtimes the cache may trust
_tick = [0]


@pytest.fixture(autouse=True)
def _own_cache_key(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # never the user's ~/.cache
    monkeypatch.delenv("KB_CACHE", raising=False)
    # The index is keyed by the source of kb's modules; while a test runs, an edit to them elsewhere
    # (a checkout, an editor) would send it down the full path. Keep the source part fixed, the version live.
    source = cache._code_fingerprint()
    monkeypatch.setattr(cache, "_code_fingerprint", lambda: hashlib.blake2b(source + kb.__version__.encode(), digest_size=32).digest())


def _age(root: Path) -> None:
    for path in root.rglob("*"):
        if ".kb-cache" not in path.parts:
            os.utime(path, ns=(OLD, OLD))


def _settle(path: Path) -> None:
    """Give an edited file a new, old-enough mtime (not "racy"), different from every earlier one."""
    _tick[0] += 1
    stamp = OLD + _tick[0] * 10**9
    os.utime(path, ns=(stamp, stamp))


@pytest.fixture
def root(tmp_path) -> Path:
    """A copy of this repository's knowledge base (43 real claims, the article, the references)."""
    dest = copy_repo_kb(tmp_path / "kb")
    (dest / "claims" / "sub").mkdir()  # a subfolder that exists before the first load (for duplicate ids)
    _age(dest)
    return dest


def _result(knowledge_base) -> dict:
    """What a load and validation produced, comparable (claim equality ignores positions: compare them too)."""
    diagnostics = [str(d) for d in validate(knowledge_base)]  # first: what `kb check` does, before any value is read
    return {
        "diagnostics": diagnostics,
        "load_diagnostics": [str(d) for d in knowledge_base.diagnostics],
        "claim_ids": list(knowledge_base.claims),
        "reference_keys": list(knowledge_base.references),
        "article_ids": list(knowledge_base.articles),
        "claims": {cid: (c, dict(c.positions)) for cid, c in knowledge_base.claims.items()},
        "config": knowledge_base.config,
    }


def cold(root: Path, monkeypatch) -> dict:
    with monkeypatch.context() as m:
        m.setenv("KB_CACHE", "0")
        return _result(load_kb(root))


def _path(knowledge_base) -> str:
    session = cache.session_of(knowledge_base)
    if session is None:
        return "none"
    return "warm" if session.result is not None else "incremental" if session.update is not None else "full"


def cached(root: Path, expect: str | None = None) -> dict:
    knowledge_base = load_kb(root)
    taken = _path(knowledge_base)
    if expect is not None:
        assert taken == expect, f"took the {taken} path, expected {expect}"
    return _result(knowledge_base)


def same(root: Path, monkeypatch, expect: str | None = None) -> dict:
    """Load through the cache (asserting the path taken), compare with a cold load, and return it."""
    got = cached(root, expect)
    assert got == cold(root, monkeypatch)
    return got


def claim(root: Path, cid: str) -> Path:
    return root / "claims" / f"{cid}.yaml"


def edit(path: Path, old: str, new: str, *, settle: bool = True) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    if settle:
        _settle(path)


@pytest.fixture
def primed(root, monkeypatch) -> Path:
    """The knowledge base after one full load, so that the index exists."""
    same(root, monkeypatch, "full")
    same(root, monkeypatch, "warm")
    return root


def test_nothing_changed_is_warm_and_a_comment_is_incremental(primed, monkeypatch):
    path = claim(primed, "conclusie-pijn")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("# a comment\n")
    _settle(path)
    parsed = []
    import kb.load as load_module

    real = load_module.load_claim_file
    with monkeypatch.context() as m:
        m.setattr(load_module, "load_claim_file", lambda *a, **k: parsed.append(a[1]) or real(*a, **k))
        knowledge_base = load_kb(primed)
        assert _path(knowledge_base) == "incremental"
        diagnostics = [str(d) for d in validate(knowledge_base)]
        assert parsed == ["claims/conclusie-pijn.yaml"]  # only the changed file was read, by load and validate together
        assert len(knowledge_base.claims) == 43 and type(knowledge_base.claims).__name__ == "_Lazy"
    expected = cold(primed, monkeypatch)
    assert diagnostics == expected["diagnostics"]
    assert _result(knowledge_base) == expected
    same(primed, monkeypatch, "warm")


def test_successive_edits_each_match_a_cold_run(primed, monkeypatch):
    target = claim(primed, "pijn-weerstandstraining-chronische-klachten")
    edit(target, "verdict: overstated", "verdict: uncited")  # verdict-mismatch: the article cites a source
    first = same(primed, monkeypatch, "incremental")
    assert any("[verdict-mismatch]" in d for d in first["diagnostics"])
    edit(target, '\n  nl: "', '\n  nl: "Niet in het artikel: ')  # text-not-in-article
    second = same(primed, monkeypatch, "incremental")
    assert any("pijn-weerstandstraining" in d and "[text-not-in-article]" in d for d in second["diagnostics"])
    edit(target, "verdict: uncited", "verdict: overstated")
    edit(target, '\n  nl: "Niet in het artikel: ', '\n  nl: "')
    third = same(primed, monkeypatch, "incremental")
    assert third["diagnostics"] == []
    same(primed, monkeypatch, "warm")


def test_racy_edits_are_read_again_on_the_next_run(primed, monkeypatch):
    """A file modified within the last second is read on every run until its mtime can be trusted:
    a second same-size edit within the same clock tick is still seen."""
    target = claim(primed, "ouderen-cognitie")
    edit(target, "status: reviewed", "status: reviewed", settle=False)  # same bytes, mtime: now
    assert same(primed, monkeypatch, "incremental")["claims"]["ouderen-cognitie"][0].status == "reviewed"
    stamp = target.stat().st_mtime_ns
    edit(target, "status: reviewed", "status: draft   ", settle=False)  # the same size
    os.utime(target, ns=(stamp, stamp))  # and the same mtime as the run that just read it
    assert same(primed, monkeypatch, "incremental")["claims"]["ouderen-cognitie"][0].status == "draft"


def test_deleting_and_restoring_a_claim_breaks_and_fixes_derived_links(primed, monkeypatch):
    victim = claim(primed, "herstel-zwakte-blijft-herval")  # conclusie-herstel derives from it
    saved = victim.read_bytes()
    victim.unlink()
    after = same(primed, monkeypatch, "incremental")
    assert any("conclusie-herstel.yaml" in d and "[unknown-claim]" in d for d in after["diagnostics"])
    assert "herstel-zwakte-blijft-herval" not in after["claim_ids"]
    victim.write_bytes(saved)
    _settle(victim)
    restored = same(primed, monkeypatch, "incremental")
    assert restored["diagnostics"] == []


def test_a_deleted_claim_leaves_its_only_reference_unused(primed, monkeypatch):
    citing = {}
    for path in sorted((primed / "claims").glob("*.yaml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("- ref:") or line.strip().startswith("ref:"):
                citing.setdefault(line.split(":", 1)[1].strip(), []).append(path)
    key, paths = min(citing.items(), key=lambda item: (len(set(item[1])), item[0]))
    for path in set(paths):
        path.unlink()
    after = same(primed, monkeypatch, "incremental")
    assert any(key in d and "[unused-ref]" in d for d in after["diagnostics"])


def test_added_claims_and_an_id_change(primed, monkeypatch):
    source = claim(primed, "ouderen-spierkracht")
    text = source.read_text(encoding="utf-8")
    # a summary that derives from a claim that does not exist yet: unknown-claim, then fixed by adding it
    summary = claim(primed, "conclusie-pijn")
    edit(summary, "derived_from: [", "derived_from: [nieuwe-claim, ")
    broken = same(primed, monkeypatch, "incremental")
    assert any("conclusie-pijn.yaml" in d and "[unknown-claim]" in d and "nieuwe-claim" in d for d in broken["diagnostics"])
    new = claim(primed, "nieuwe-claim")
    new.write_text(text.replace("id: ouderen-spierkracht", "id: nieuwe-claim"), encoding="utf-8")
    _settle(new)
    fixed = same(primed, monkeypatch, "incremental")
    assert "nieuwe-claim" in fixed["claim_ids"]
    assert not any("[unknown-claim]" in d for d in fixed["diagnostics"])
    # the id changes (file and id renamed together): the link breaks again, with a hint
    new.rename(claim(primed, "nieuwe-claim-2"))
    edit(claim(primed, "nieuwe-claim-2"), "id: nieuwe-claim", "id: nieuwe-claim-2")
    again = same(primed, monkeypatch, "incremental")
    assert any("[unknown-claim]" in d and "nieuwe-claim-2" in d for d in again["diagnostics"])  # did you mean ...?


def test_a_renamed_file_and_a_broken_file(primed, monkeypatch):
    source = claim(primed, "ouderen-minder-vallen")  # conclusie-ouderen-vallen derives from it
    source.rename(primed / "claims" / "hernoemd.yaml")
    renamed = same(primed, monkeypatch, "incremental")
    assert any("claims/hernoemd.yaml" in d and "[id-mismatch]" in d for d in renamed["diagnostics"])
    (primed / "claims" / "hernoemd.yaml").rename(source)
    _settle(source)
    same(primed, monkeypatch, "incremental")
    # a claim file that no longer parses: its id is "unloaded", so links to it and unused references are not reported
    edit(source, "id: ouderen-minder-vallen", "id: [ouderen-minder-vallen")
    unparsable = same(primed, monkeypatch, "incremental")
    assert any("ouderen-minder-vallen.yaml" in d for d in unparsable["diagnostics"])
    assert not any("[unused-ref]" in d or "[unknown-claim]" in d for d in unparsable["diagnostics"])
    edit(source, "id: [ouderen-minder-vallen", "id: ouderen-minder-vallen")
    assert same(primed, monkeypatch, "incremental")["diagnostics"] == []


def test_duplicate_ids_across_folders(primed, monkeypatch):
    original = claim(primed, "ouderen-cognitie")
    copy = primed / "claims" / "sub" / "ouderen-cognitie.yaml"
    shutil.copy(original, copy)
    _settle(copy)
    dup = same(primed, monkeypatch, "incremental")
    assert any("[duplicate-id]" in d for d in dup["load_diagnostics"])
    assert dup["claims"]["ouderen-cognitie"][0].location.path == "claims/ouderen-cognitie.yaml"
    original.unlink()  # the copy in the subfolder owns the id now
    moved = same(primed, monkeypatch, "incremental")
    assert moved["claims"]["ouderen-cognitie"][0].location.path == "claims/sub/ouderen-cognitie.yaml"
    assert not any("[duplicate-id]" in d for d in moved["load_diagnostics"])
    copy.unlink()
    same(primed, monkeypatch, "incremental")


def test_a_derived_cycle_appears_and_goes(primed, monkeypatch):
    text = claim(primed, "herstel-gerichte-krachttraining").read_text(encoding="utf-8")
    assert "derived_from" not in text
    edit(claim(primed, "herstel-gerichte-krachttraining"), "\nevidence:", "\nderived_from: [conclusie-herstel]\nevidence:")
    cyclic = same(primed, monkeypatch, "incremental")
    assert any("[derived-cycle]" in d for d in cyclic["diagnostics"])
    # the claim the error points at moves down two lines, then to another file: the error follows it
    summary = claim(primed, "conclusie-herstel")
    text = summary.read_text(encoding="utf-8")
    summary.write_text("# a note\n# another\n" + text, encoding="utf-8")
    _settle(summary)
    moved = same(primed, monkeypatch, "incremental")
    assert moved["diagnostics"] != cyclic["diagnostics"] and any("[derived-cycle]" in d for d in moved["diagnostics"])
    summary.rename(primed / "claims" / "sub" / "conclusie-herstel.yaml")
    assert any("claims/sub/conclusie-herstel.yaml" in d and "[derived-cycle]" in d
               for d in same(primed, monkeypatch, "incremental")["diagnostics"])
    (primed / "claims" / "sub" / "conclusie-herstel.yaml").rename(summary)
    _settle(summary)
    same(primed, monkeypatch, "incremental")
    edit(claim(primed, "herstel-gerichte-krachttraining"), "\nderived_from: [conclusie-herstel]\nevidence:", "\nevidence:")
    assert not any("[derived-cycle]" in d for d in same(primed, monkeypatch, "incremental")["diagnostics"])


def test_files_the_loader_ignores_may_change(primed, monkeypatch):
    note = primed / "claims" / "README.md"
    note.write_text("notes\n", encoding="utf-8")
    _settle(note)
    same(primed, monkeypatch, "incremental")
    hidden = primed / "claims" / ".concept.yaml"
    hidden.write_text("id: [broken\n", encoding="utf-8")
    same(primed, monkeypatch, "incremental")


def test_other_changes_take_the_full_path(primed, monkeypatch):
    bib = primed / "references" / "krachttraining.bib"
    text = bib.read_text(encoding="utf-8")
    start = text.index("@", text.index("@") + 1)  # the second entry
    end = text.find("\n@", start)
    removed_key = text[start:].split("{", 1)[1].split(",", 1)[0]
    bib.write_text(text[:start] + (text[end + 1:] if end != -1 else ""), encoding="utf-8")
    _settle(bib)
    without = same(primed, monkeypatch, "full")
    assert removed_key not in without["reference_keys"]
    assert any("[unknown-ref]" in d and removed_key in d for d in without["diagnostics"])
    same(primed, monkeypatch, "warm")
    article = primed / "articles" / "krachttraining.md"
    article.write_text(article.read_text(encoding="utf-8").replace("## ", "## Extra\n\nNieuwe alinea.\n\n## ", 1), encoding="utf-8")
    _settle(article)
    same(primed, monkeypatch, "full")
    config = primed / "kb.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\n# comment\n", encoding="utf-8")
    _settle(config)
    same(primed, monkeypatch, "full")
    (primed / "claims" / "nieuw").mkdir()  # a new folder: a full load
    same(primed, monkeypatch, "full")
    # and claim edits after all that are incremental again
    edit(claim(primed, "conclusie-pijn"), "verdict: ", "verdict: ")
    same(primed, monkeypatch, "incremental")


@pytest.mark.parametrize("which", ["check-index.marshal", "check-journal.marshal", "both"])
@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "empty", "missing"])
def test_a_damaged_index_or_journal_is_never_trusted(primed, monkeypatch, which, damage):
    edit(claim(primed, "conclusie-pijn"), "verdict: ", "verdict: ")
    same(primed, monkeypatch, "incremental")  # a journal with an entry
    names = ["check-index.marshal", "check-journal.marshal"] if which == "both" else [which]
    for name in names:
        damage_file(primed / ".kb-cache" / name, damage, b"\xfbnot marshal at all")
    edit(claim(primed, "ouderen-cognitie"), "verdict: ", "verdict: ")
    same(primed, monkeypatch, "full")  # nothing of it is trusted
    edit(claim(primed, "ouderen-cognitie"), "verdict: ", "verdict: ")
    same(primed, monkeypatch, "incremental")  # and it is rebuilt


def test_a_journal_from_another_index_is_not_applied(primed, monkeypatch):
    saved = (primed / ".kb-cache" / "check-journal.marshal").read_bytes()
    edit(claim(primed, "conclusie-pijn"), "verdict: ", "verdict: ")
    (primed / ".kb-cache" / "check-index.marshal").unlink()
    same(primed, monkeypatch, "full")  # a new index, with a new token
    (primed / ".kb-cache" / "check-journal.marshal").write_bytes(saved)  # the old index's journal
    edit(claim(primed, "conclusie-pijn"), "verdict: ", "verdict: ")
    same(primed, monkeypatch, "full")


def test_a_new_kb_version_takes_the_full_path(primed, monkeypatch):
    monkeypatch.setattr(kb, "__version__", kb.__version__ + ".post1")
    same(primed, monkeypatch, "full")
    edit(claim(primed, "conclusie-pijn"), "verdict: ", "verdict: ")
    same(primed, monkeypatch, "incremental")


def test_many_edits_merge_the_journal_into_the_index(primed, monkeypatch):
    index_file = primed / ".kb-cache" / "check-index.marshal"
    first = index_file.read_bytes()
    edit(claim(primed, "conclusie-pijn"), "verdict: ", "verdict: ")
    same(primed, monkeypatch, "incremental")
    assert index_file.read_bytes() == first  # one edit: only the journal was written
    for path in sorted((primed / "claims").glob("*.yaml"))[:10]:  # more than 5 % of the files
        edit(path, "status: ", "status: ")
    same(primed, monkeypatch, "incremental")
    assert index_file.read_bytes() != first  # merged
    edit(claim(primed, "ouderen-cognitie"), "status: reviewed", "status: draft")
    same(primed, monkeypatch, "incremental")
    same(primed, monkeypatch, "warm")


def test_without_the_cache_no_index_is_written(root, monkeypatch):
    cold(root, monkeypatch)
    assert not (root / ".kb-cache").exists()


@pytest.mark.parametrize("seed", range(8))
def test_the_walk_comparison_finds_exactly_the_changed_names(seed):
    """Index.changed against a brute-force comparison: edits, additions, deletions and a new walk order."""
    import random
    from array import array

    rng = random.Random(seed)
    names = [f"claims/c{n:05d}.yaml" for n in range(3000)]
    stats = {name: (rng.randrange(100, 900), OLD + rng.randrange(10**9), 0o100644) for name in names}

    def packed(order, table):
        out = array("q")
        for name in order:
            out.extend(table[name])
        return out

    index = cache.Index({"token": b"t", "names": tuple(names), "stats": packed(names, stats).tobytes(), "records": (b"",) * len(names),
                         "fixed": {}, "load_diags": {}, "check_diags": {}},
                        {"entries": {}, "load_diags": {}, "check_diags": {}, **{name: None for name in cache._WHOLE}})
    now = dict(stats)
    for name in rng.sample(names, rng.randrange(0, 40)):
        now[name] = (now[name][0] + 1, now[name][1], now[name][2])
    for name in rng.sample(names, rng.randrange(0, 20)):
        del now[name]
    for n in range(rng.randrange(0, 20)):
        now[f"claims/new{n}.yaml"] = (10, OLD, 0o100644)
    order = sorted(now, key=lambda name: name[::-1]) if seed == 6 else sorted(now)  # seed 6: another walk order
    scan = cache.Scan(order, packed(order, now), set(), [])
    expected = {name for name in set(stats) | set(now) if stats.get(name) != now.get(name)}
    assert index.changed(scan) == expected


def test_the_walk_lists_every_entry_once_with_or_without_descriptor_calls(root, monkeypatch):
    """scan_inputs: folders (with a trailing /), files, a link to a folder (listed, not followed), a
    dangling link, hidden folders; the path-based fallback (no dir_fd) walks the same."""
    (root / "claims" / "sub" / "diep").mkdir()
    (root / "claims" / "sub" / "diep" / "x.yaml").write_text("id: x\n", encoding="utf-8")
    (root / "claims" / ".verborgen").mkdir()
    (root / "claims" / "link").symlink_to(root / "articles", target_is_directory=True)
    (root / "claims" / "weg.yaml").symlink_to(root / "nergens.yaml")
    fast = cache.scan_inputs(root)
    names = set(fast.names)
    assert {"kb.yaml", "claims/", "claims/sub/", "claims/sub/diep/", "claims/sub/diep/x.yaml", "claims/.verborgen/", "claims/link",
            "claims/weg.yaml", "articles/krachttraining.md"} <= names
    assert not any(name.startswith("claims/link/") for name in names)
    assert len(names) == len(fast.names)
    for folder in ("claims/", "articles/", "references/"):  # each top folder, then everything below it
        start, end = fast.span(folder)
        assert fast.names[start:end] == tuple(name for name in fast.names if name.startswith(folder))
    monkeypatch.setattr(os, "supports_dir_fd", set())
    slow = cache.scan_inputs(root)
    assert (slow.names, slow.packed, slow.racy, slow.errors) == (fast.names, fast.packed, fast.racy, fast.errors)


@pytest.mark.parametrize("trouble", [None, "no fork", "the other process fails"])
def test_a_big_folder_walked_by_two_processes_is_listed_as_by_one(root, monkeypatch, trouble):
    """scan_inputs stats the second half of a big folder (_SPLIT_WALK entries or more) in a forked
    process: the same names, sizes, stamps and modes in the same order, the same racy files and errors,
    with folders, links, a dangling link and hidden entries in either half; when no process can be forked,
    or the other process fails, this one stats its half too."""
    claims = root / "claims"
    (claims / "sub" / "diep").mkdir(parents=True)
    (claims / "sub" / "diep" / "x.yaml").write_text("id: x\n", encoding="utf-8")
    (claims / ".verborgen").mkdir()
    (claims / "link").symlink_to(root / "articles", target_is_directory=True)
    (claims / "weg.yaml").symlink_to(root / "nergens.yaml")
    for n in range(40):
        (claims / f"extra{n:02d}.yaml").write_text(f"id: extra{n}\n", encoding="utf-8")
    old = time.time() - 10
    for path in claims.glob("extra1*.yaml"):  # the rest were written just now: racy
        os.utime(path, (old, old))
    monkeypatch.setattr(cache, "_SPLIT_WALK", 10**9)
    alone = cache.scan_inputs(root)
    assert alone.racy and not alone.errors and "claims/sub/diep/x.yaml" in alone.names
    monkeypatch.setattr(cache, "_SPLIT_WALK", 4)
    forks, real_fork = [], os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
    if trouble == "no fork":
        monkeypatch.setattr(os, "fork", lambda: (_ for _ in ()).throw(OSError(11, "Resource temporarily unavailable")))
    elif trouble == "the other process fails":
        parent, real = os.getpid(), cache._stat_part

        def failing(*args):
            if os.getpid() != parent:
                raise OSError("the forked process fails")
            return real(*args)

        monkeypatch.setattr(cache, "_stat_part", failing)
    split = cache.scan_inputs(root)
    assert (split.names, split.packed, split.racy, split.errors) == (alone.names, alone.packed, alone.racy, alone.errors)
    assert bool(forks) == (trouble != "no fork")  # the walk did fork (claims/ has more than 4 entries)


def test_many_changed_files_go_to_the_full_load(root, monkeypatch):
    """After a chmod -R or a touch of everything, parsing each "changed" file again costs more than the
    full load, whose per-file cache only hashes files whose bytes are the same."""
    import kb.load

    cached(root)
    cached(root, "warm")
    claims = sorted((root / "claims").glob("*.yaml"))
    monkeypatch.setattr(kb.load, "_MANY_CHANGES", 5)
    for path in claims[:5]:
        _settle(path)
    same(root, monkeypatch, "incremental")
    for path in claims[5:10] + claims[-20:]:
        _settle(path)
    same(root, monkeypatch, "full")
    same(root, monkeypatch, "warm")
