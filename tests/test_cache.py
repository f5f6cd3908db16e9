"""The load cache (kb/cache.py) never changes an answer: whatever happened to the files or to the
cache, a load through it gives the same claims, references, articles and diagnostics as a cold
load with the cache switched off (KB_CACHE=0)."""

from __future__ import annotations

import os
import shutil
import threading
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


@pytest.fixture(autouse=True)
def _own_cache_key(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # never the user's ~/.cache
    monkeypatch.delenv("KB_CACHE", raising=False)


def _age(root: Path) -> None:
    """Give every input file an old mtime, as files that were not just written have."""
    for path in root.rglob("*"):
        if ".kb-cache" not in path.parts:
            os.utime(path, ns=(OLD, OLD))


@pytest.fixture
def root(tmp_path) -> Path:
    """A copy of this repository's knowledge base (43 real claims, the article, the references)."""
    dest = copy_repo_kb(tmp_path / "kb")
    _age(dest)
    return dest


def _snapshot(knowledge_base) -> dict:
    """Everything a load produced, in comparable form (Claim equality ignores positions: compare them too)."""
    return {
        "claims": {cid: (c, dict(c.positions)) for cid, c in knowledge_base.claims.items()},
        "references": dict(knowledge_base.references),
        "articles": dict(knowledge_base.articles),
        "bibliography": sorted(knowledge_base.bibliography.entries.keys()),
        "config": knowledge_base.config,
        "diagnostics": [str(d) for d in validate(knowledge_base)],
        "load_diagnostics": [str(d) for d in knowledge_base.diagnostics],
    }


def cold(root: Path, monkeypatch) -> dict:
    with monkeypatch.context() as m:
        m.setenv("KB_CACHE", "0")
        return _snapshot(load_kb(root))


def warm(root: Path) -> dict:
    return _snapshot(load_kb(root))


def _spy_on_loading(monkeypatch) -> dict:
    """{cache file name: what its FileLoading did (cached / rehashed / parsed / workers counts)}, filled
    as files are loaded from now on."""
    seen = {}
    real = cache.FileLoading.results

    def spy(self, **options):
        out = real(self, **options)
        seen[self._cache_path.name] = dict(self.stats)
        return out

    monkeypatch.setattr(cache.FileLoading, "results", spy)
    return seen


def _parsed_files(root: Path, monkeypatch) -> dict:
    """Load once more and report what the claim loader did (cached / rehashed / parsed counts)."""
    seen = _spy_on_loading(monkeypatch)
    monkeypatch.setattr(cache, "remember_kb", lambda r, loader, **_: loader(Path(r)))  # skip the whole-KB index
    import kb.load

    monkeypatch.setattr(kb.load, "remember_kb", lambda r, loader, **_: loader(Path(r)))
    kb.load.load_kb(root)
    monkeypatch.undo()
    return seen


def test_second_load_comes_from_the_cache_and_is_identical(root, monkeypatch):
    expected = cold(root, monkeypatch)
    assert not (root / ".kb-cache").exists(), "KB_CACHE=0 must not write a cache"
    first = warm(root)
    assert (root / ".kb-cache" / "claims.pickle").is_file()
    assert first == expected
    again = load_kb(root)
    assert type(again.claims).__name__ == "_Lazy" and len(again.claims) == len(expected["claims"])  # from the index
    assert _snapshot(again) == expected
    stats = _parsed_files(root, monkeypatch)["claims.pickle"]
    assert stats["cached"] == len(expected["claims"]) and stats["parsed"] == 0


def test_a_lazy_load_used_whole_reads_the_files_its_walk_listed(root, monkeypatch):
    """The keys come from the walk the index was checked against; the values, loaded on first use, come
    from that walk's files too (not from a second walk, which would cost 0.4 s at 100,000 claims and
    could list a file added since, so that the keys and the values disagree)."""
    import kb.load

    expected = warm(root)
    again = load_kb(root)
    assert type(again.claims).__name__ == "_Lazy"
    keys = list(again.claims)
    walks = []
    real = kb.load.scan_inputs
    monkeypatch.setattr(kb.load, "scan_inputs", lambda where: walks.append(where) or real(where))
    added = root / "claims" / "zz-added-after-the-walk.yaml"
    shutil.copy(next((root / "claims").glob("*.yaml")), added)
    claims = dict(again.claims.items())  # first use: the full load
    assert walks == []
    assert list(claims) == keys and len(again.claims) == len(keys) == len(expected["claims"])
    assert _snapshot(again) == expected


@pytest.mark.parametrize("change", ["claim removed", "BibTeX file added", "article added"])
def test_files_removed_or_added_before_a_lazy_load_is_used_stop_it_with_an_error(root, change):
    """Between the walk and the first use of a lazily loaded knowledge base (seconds at 100,000 claims)
    someone saves: a clear error (run again), not a KeyError further on, nor files nobody validated."""
    from kb.errors import LoadError

    warm(root)
    again = load_kb(root)
    assert type(again.claims).__name__ == "_Lazy"
    if change == "claim removed":
        next((root / "claims").glob("*.yaml")).unlink()
    elif change == "BibTeX file added":
        (root / "references" / "zz-added.bib").write_text("@article{zzadded2020, title={Added}, year={2020}}\n", encoding="utf-8")
    else:
        shutil.copy(next((root / "articles").glob("*.md")), root / "articles" / "zz-added.md")
    with pytest.raises(LoadError, match="changed while kb was reading it"):
        dict(again.claims.items())


@pytest.mark.parametrize("folder", ["articles", "references"])
def test_a_file_made_unreadable_is_not_served_from_the_cache(root, monkeypatch, folder):
    """``chmod 000`` keeps a file's size and time: the cache must not answer for a file the load cannot
    read any more (a cold run reports it, exit 1). The tests may run as root, whom permissions do not
    stop, so reading the file is refused here as the system would refuse it to anyone else."""
    import builtins
    import io

    expected_before = warm(root)
    path = next((root / folder).glob("*.md" if folder == "articles" else "*.bib"))
    path.chmod(0)
    real_open, real_access = builtins.open, os.access

    real_os_open = os.open

    def refused(file, *args, **kwargs):
        if not isinstance(file, int) and os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)

    def refused_fd(file, *args, **kwargs):  # kb/inputs.py opens the knowledge base's files with os.open
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_os_open(file, *args, **kwargs)

    with monkeypatch.context() as refusing:
        refusing.setattr(builtins, "open", refused)
        refusing.setattr(io, "open", refused)
        refusing.setattr(os, "open", refused_fd)
        refusing.setattr(os, "access", lambda file, mode, **kw: os.fspath(file) != str(path) and real_access(file, mode, **kw))
        after = warm(root)
        assert after == cold(root, monkeypatch)
        assert after != expected_before
        assert any("[unreadable]" in d for d in after["diagnostics"])
        assert warm(root) == after  # and the index remembers the error, not the old answer
    path.chmod(0o644)
    assert warm(root) == expected_before


def test_an_edited_claim_is_read_again(root, monkeypatch):
    warm(root)
    path = root / "claims" / "pijn-weerstandstraining-chronische-klachten.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("verdict: overstated", "verdict: supported").replace("\n  nl: \"", "\n  nl: \"Niet in het artikel: ", 1),
                    encoding="utf-8")
    os.utime(path, ns=(OLD + 10**9, OLD + 10**9))
    after = warm(root)
    assert after == cold(root, monkeypatch)
    assert any("pijn-weerstandstraining-chronische-klachten.yaml" in d and "[text-not-in-article]" in d for d in after["diagnostics"])
    assert after["claims"]["pijn-weerstandstraining-chronische-klachten"][0].verdict == "supported"


def test_a_same_size_edit_within_the_same_second_is_caught(root, monkeypatch):
    """The racy case: the file changes again within the mtime's precision, keeping its size and mtime."""
    path = root / "claims" / "pijn-weerstandstraining-chronische-klachten.yaml"
    now = time.time_ns()
    os.utime(path, ns=(now, now))
    warm(root)  # cached while the file is "racy"
    text = path.read_text(encoding="utf-8")
    assert "verdict: overstated" in text
    path.write_text(text.replace("verdict: overstated", "verdict: uncited   "), encoding="utf-8")  # same length
    os.utime(path, ns=(now, now))
    assert path.stat().st_size == len(text.encode("utf-8"))
    after = warm(root)
    assert after["claims"]["pijn-weerstandstraining-chronische-klachten"][0].verdict == "uncited"
    assert after == cold(root, monkeypatch)


def _same_size_and_time_other_bytes(path: Path) -> tuple[str, str]:
    """(the claim file's text, a text of the same length with another verdict)."""
    text = path.read_text(encoding="utf-8")
    assert "verdict: overstated" in text
    return text, text.replace("verdict: overstated", "verdict: uncited   ")


@pytest.mark.parametrize("how", ["mv", "symlink", "copy keeping times"])
def test_a_file_replaced_keeping_its_size_and_time_is_read_again(root, monkeypatch, how):
    """As git does: what replaces a file (mv, ln -sf, cp -p, an archive unpacked) may keep its size and
    modification time, but not its inode or change time."""
    path = root / "claims" / "pijn-weerstandstraining-chronische-klachten.yaml"
    text, other = _same_size_and_time_other_bytes(path)
    stat_before = path.stat()
    times = (stat_before.st_atime_ns, stat_before.st_mtime_ns)
    spare = root / "spare.txt"  # outside claims/: not an input
    spare.write_text(other, encoding="utf-8")
    os.utime(spare, ns=times)
    warm(root)
    load_kb(root)  # the index remembers the files as they are
    if how == "mv":
        os.replace(spare, path)
    elif how == "symlink":
        spare.rename(root / "claims.txt")
        path.unlink()
        path.symlink_to(root / "claims.txt")
    else:
        path.write_text(other, encoding="utf-8")  # the same inode, new bytes
        os.utime(path, ns=times)
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat_before.st_size, stat_before.st_mtime_ns)
    after = warm(root)
    assert after == cold(root, monkeypatch)
    assert after["claims"]["pijn-weerstandstraining-chronische-klachten"][0].verdict == "uncited"
    assert load_kb(root).claims["pijn-weerstandstraining-chronische-klachten"].verdict == "uncited"  # and remembered so


def test_touching_a_file_costs_a_hash_not_a_parse(root, monkeypatch):
    warm(root)
    path = root / "claims" / "pijn-weerstandstraining-chronische-klachten.yaml"
    os.utime(path, ns=(OLD + 5 * 10**9, OLD + 5 * 10**9))
    stats = _parsed_files(root, monkeypatch)["claims.pickle"]
    assert stats["rehashed"] == 1 and stats["parsed"] == 0
    assert warm(root) == cold(root, monkeypatch)


def test_deleted_and_added_claims(root, monkeypatch):
    warm(root)
    victim = sorted((root / "claims").glob("*.yaml"))[0]
    victim.unlink()
    assert warm(root) == cold(root, monkeypatch)
    shutil.copy(REPO / "claims" / victim.name, victim)
    os.utime(victim, ns=(OLD, OLD))
    restored = warm(root)
    assert restored == cold(root, monkeypatch)
    assert victim.stem in restored["claims"]


def test_a_renamed_claim_file(root, monkeypatch):
    warm(root)
    source = sorted((root / "claims").glob("*.yaml"))[1]
    target = source.with_name("hernoemd.yaml")
    source.rename(target)
    after = warm(root)
    assert after == cold(root, monkeypatch)
    assert any("claims/hernoemd.yaml" in d and "[id-mismatch]" in d for d in after["diagnostics"])
    target.rename(source)
    assert warm(root) == cold(root, monkeypatch)


def test_a_claim_moved_into_a_subfolder(root, monkeypatch):
    warm(root)
    source = sorted((root / "claims").glob("*.yaml"))[2]
    (root / "claims" / "sub").mkdir()
    source.rename(root / "claims" / "sub" / source.name)
    after = warm(root)
    assert after == cold(root, monkeypatch)
    assert after["claims"][source.stem][0].location.path == f"claims/sub/{source.name}"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "empty", "directory"])
def test_a_corrupt_cache_is_never_trusted(root, monkeypatch, damage):
    expected = cold(root, monkeypatch)
    warm(root)
    for path in sorted((root / ".kb-cache").glob("*.pickle")):
        damage_file(path, damage, b"\x80\x05not a pickle at all")
    assert warm(root) == expected
    assert warm(root) == expected


def test_a_forged_cache_without_the_users_key_is_not_unpickled(root, monkeypatch):
    """A .kb-cache that came with someone else's knowledge base: right layout, wrong key."""
    expected = cold(root, monkeypatch)
    warm(root)
    monkeypatch.setenv("XDG_CACHE_HOME", str(root.parent / "other-user"))
    stats = _parsed_files(root, monkeypatch)["claims.pickle"]
    assert stats["cached"] == 0 and stats["parsed"] == len(expected["claims"])
    assert warm(root) == expected


def test_deleting_the_cache_folder_is_safe(root, monkeypatch):
    warm(root)
    shutil.rmtree(root / ".kb-cache")
    assert warm(root) == cold(root, monkeypatch)
    assert (root / ".kb-cache" / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"


@pytest.mark.parametrize("what", ["link", "file"])
def test_a_cache_folder_that_is_a_link_is_neither_written_nor_read(root, monkeypatch, tmp_path, what):
    """A knowledge base from someone else can carry a .kb-cache link to any folder of the user's: kb wrote
    its cache files there, replacing files of the same names. Now it keeps no cache then (a file named
    .kb-cache, likewise), and gives the same answers."""
    expected = cold(root, monkeypatch)
    elsewhere = tmp_path / "victim"
    elsewhere.mkdir()
    (elsewhere / "claims.pickle").write_text("keep", encoding="utf-8")
    shutil.rmtree(root / ".kb-cache", ignore_errors=True)
    if what == "link":
        (root / ".kb-cache").symlink_to(elsewhere, target_is_directory=True)
    else:
        (root / ".kb-cache").write_text("not a folder", encoding="utf-8")
    assert warm(root) == expected
    assert warm(root) == expected
    assert sorted(p.name for p in elsewhere.iterdir()) == ["claims.pickle"]
    assert (elsewhere / "claims.pickle").read_text(encoding="utf-8") == "keep"
    stats = _parsed_files(root, monkeypatch)["claims.pickle"]
    assert stats["cached"] == 0 and stats["parsed"] == len(expected["claims"])


def test_a_new_kb_version_invalidates_the_cache(root, monkeypatch):
    expected = cold(root, monkeypatch)
    warm(root)
    monkeypatch.setattr(kb, "__version__", kb.__version__ + ".post1")
    stats = _parsed_files(root, monkeypatch)["claims.pickle"]
    assert stats["cached"] == 0 and stats["parsed"] == len(expected["claims"])
    monkeypatch.setattr(kb, "__version__", kb.__version__ + ".post1")
    assert type(load_kb(root).claims) is dict  # no index either
    assert warm(root) == expected


def test_a_schema_change_invalidates_the_cache(root, monkeypatch, tmp_path):
    expected = cold(root, monkeypatch)
    warm(root)
    schema = tmp_path / "schema"
    shutil.copytree(REPO / "schema", schema)
    claim_schema = schema / "claim.schema.json"
    claim_schema.write_text(claim_schema.read_text(encoding="utf-8").replace('"title": "kb claim"', '"title": "kb claim, v2"'), encoding="utf-8")
    import kb.resources

    real = kb.resources.resource_dir
    monkeypatch.setattr(kb.resources, "resource_dir", lambda name: schema if name == "schema" else real(name))
    assert cache.fingerprint() != _fingerprint_with(real)
    stats = _parsed_files(root, monkeypatch)["claims.pickle"]
    assert stats["cached"] == 0 and stats["parsed"] == len(expected["claims"])


def _fingerprint_with(resource_dir) -> bytes:
    import kb.resources

    saved = kb.resources.resource_dir
    kb.resources.resource_dir = resource_dir
    try:
        return cache.fingerprint()
    finally:
        kb.resources.resource_dir = saved


def test_worker_processes_give_the_same_result(root, monkeypatch):
    expected = cold(root, monkeypatch)
    monkeypatch.setattr(cache, "PARALLEL_MIN_FILES", 1)
    seen = _spy_on_loading(monkeypatch)
    with monkeypatch.context() as m:
        m.setenv("KB_CACHE", "0")
        parallel = _snapshot(load_kb(root))
    assert seen["claims.pickle"]["workers"] >= (1 if (os.cpu_count() or 1) > 1 else 0)
    assert parallel == expected
    assert warm(root) == expected  # the cache written from worker results reads back the same


def test_bad_claim_files_are_reported_the_same_from_the_cache(root, monkeypatch):
    (root / "claims" / "kapot.yaml").write_text("id: kapot\nkind: [\n", encoding="utf-8")
    (root / "claims" / "leeg.yaml").write_text("", encoding="utf-8")
    (root / "claims" / "schema.yaml").write_text("id: schema\nverdikt: supported\n", encoding="utf-8")
    _age(root)
    expected = cold(root, monkeypatch)
    assert sum("claims/kapot.yaml" in d or "claims/leeg.yaml" in d or "claims/schema.yaml" in d for d in expected["diagnostics"]) >= 3
    assert warm(root) == expected
    assert warm(root) == expected


def test_validation_is_remembered_only_for_the_same_files(root, monkeypatch):
    first = warm(root)
    load_kb(root)  # writes, through validate, the index and the remembered diagnostics
    (root / "references" / "krachttraining.bib").write_text(
        (root / "references" / "krachttraining.bib").read_text(encoding="utf-8") + "\n@article{extra2020, title = {Extra}, year = {2020}}\n",
        encoding="utf-8")
    os.utime(root / "references" / "krachttraining.bib", ns=(OLD + 10**9, OLD + 10**9))
    after = warm(root)
    assert after == cold(root, monkeypatch)
    assert after["diagnostics"] != first["diagnostics"] and any("extra2020" in d for d in after["diagnostics"])


@pytest.mark.parametrize("installed_first", [True, False])
def test_a_style_plugin_installed_or_removed_is_noticed(root, monkeypatch, installed_first):
    """kb.yaml naming a plugin's style is right or wrong depending on what is installed, which no input
    file says: the remembered answer is used only while the installed styles are the same."""
    import kb.cite

    real = kb.cite.style_names
    kb_yaml = root / "kb.yaml"
    kb_yaml.write_text(kb_yaml.read_text(encoding="utf-8").replace("style: vancouver", "style: fancyplugin"), encoding="utf-8")
    os.utime(kb_yaml, ns=(OLD, OLD))

    def codes() -> set[str]:
        return {d.code for d in validate(load_kb(root))}

    def install(yes: bool) -> None:
        monkeypatch.setattr(kb.cite, "style_names", (lambda: sorted([*real(), "fancyplugin"])) if yes else real)

    install(installed_first)
    first = codes()
    assert ("unknown-style" in first) is not installed_first
    assert codes() == first and type(load_kb(root).claims).__name__ == "_Lazy"  # same styles: remembered
    install(not installed_first)
    assert ("unknown-style" in codes()) is installed_first
    with monkeypatch.context() as m:
        m.setenv("KB_CACHE", "0")
        assert {d.code for d in validate(load_kb(root))} == codes()


def test_positions_behave_like_the_plain_mapping(root, monkeypatch):
    with monkeypatch.context() as m:
        m.setenv("KB_CACHE", "0")
        plain = load_kb(root).claims
    warm(root)
    cached = _snapshot(load_kb(root))  # noqa: F841  (loads from the snapshot lazily)
    claims = load_kb(root).claims
    for cid, claim in plain.items():
        other = claims[cid]
        assert isinstance(other.positions, cache.Positions)
        assert dict(other.positions) == dict(claim.positions)
        assert other.where("evidence", 0, "ref") == claim.where("evidence", 0, "ref")
        assert other.where("no", "such", "field") == claim.where("no", "such", "field")


def test_unchanged_blocks_are_kept_and_changed_ones_rewritten(root, monkeypatch):
    """Worker results become blocks of the cache file; an edit rewrites only what it must, and the
    result is still exactly that of a cold load, through edits, deletions and additions."""
    monkeypatch.setattr(cache, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(cache, "_MIN_CHUNK", 5)
    # Every chunk to the worker, none to this process: how many chunks each parses depends on timing,
    # and only a worker's chunk becomes a block of its own; this way each chunk is one block.
    monkeypatch.setattr(cache.FileLoading, "_take", lambda self: len(self._chunks))
    expected = warm(root)
    cache.wait_writers()  # the cache file may still be being written in the background
    found = cache.read_blocks(root / ".kb-cache" / "claims.pickle", cache.fingerprint())
    assert found is not None and len(found[1]) >= 8 and len(found[0]) == len(expected["claims"])
    files = sorted((root / "claims").glob("*.yaml"))
    text = files[0].read_text(encoding="utf-8")
    files[0].write_text(text.replace("status: reviewed", "status: draft").replace("status: draft\n", "status: draft\n", 1), encoding="utf-8")
    os.utime(files[0], ns=(OLD + 10**9, OLD + 10**9))
    files[-1].unlink()
    shutil.copy(REPO / "claims" / files[-1].name, root / "claims" / "extra-copy.yaml")
    os.utime(root / "claims" / "extra-copy.yaml", ns=(OLD, OLD))
    after = warm(root)
    assert after == cold(root, monkeypatch)
    assert after != expected
    cache.wait_writers()
    again = cache.read_blocks(root / ".kb-cache" / "claims.pickle", cache.fingerprint())
    assert set(again[0]) == {f"claims/{p.name}" for p in (root / "claims").glob("*.yaml")}
    reused = {block for block, _ in found[1]} & {block for block, _ in again[1]}
    assert len(reused) >= len(found[1]) - 3  # only the blocks holding the edited and the deleted file were rewritten
    assert warm(root) == after


def test_cache_files_written_in_the_background_are_whole_once_waited_for(tmp_path):
    target, go = tmp_path / "written", tmp_path / "go"
    assert threading.active_count() == 1  # (with other threads it would not fork, and write here)
    cache.wait_writers()  # none left from elsewhere

    def save():
        deadline = time.monotonic() + 30
        while not go.exists() and time.monotonic() < deadline:  # still writing when the parent goes on: until it says so
            time.sleep(0.01)
        target.write_text(str(os.getpid()))

    cache.write_in_background([save])
    assert len(cache._WRITERS) == 1 and not target.exists()
    go.touch()
    assert cache.wait_writers() == [0]
    assert not cache._WRITERS
    assert target.read_text() != str(os.getpid())  # written by the forked writer, not here


def test_a_failing_background_writer_leaves_the_parent_alone(tmp_path):
    def save():
        raise OSError("disk full")

    cache.wait_writers()
    cache.write_in_background([save])
    assert cache.wait_writers() == [1]  # the writer failed on its own; the parent goes on (the cache is optional)
    assert not cache._WRITERS


def test_temporary_files_left_by_killed_writes_are_removed(tmp_path, monkeypatch):
    """A process killed while writing a cache file leaves its temporary file (kb.output.write_atomic);
    the next process writing into that folder removes those older than a day, and nothing else."""
    import os
    import time

    from kb import cache
    from kb.output import STALE_TEMP_SECONDS

    folder = tmp_path / "cache"
    folder.mkdir()
    past = time.time() - STALE_TEMP_SECONDS - 60
    left = folder / ".claims.pickle.k3j_x9.tmp"
    going_on = folder / ".claims.pickle.q8w_e2.tmp"
    kept = [folder / ".gitignore", folder / "notes.tmp", folder / ".x.tmp"]
    for path in (left, going_on, *kept):
        path.write_bytes(b"x")
    for path in (left, *kept):
        os.utime(path, (past, past))
    monkeypatch.setattr(cache, "_SWEPT", set())
    cache._write_signed(folder / "index.pickle", b"s" * 32, b"payload", b"k" * 32)
    assert not left.exists()
    assert going_on.exists() and all(path.exists() for path in kept)
    assert (folder / "index.pickle").exists()


def test_the_claim_cache_is_keyed_by_every_module_that_reads_a_file():
    """The per-file caches are kept for the source of the modules in cache._CODE: one that reads files
    (kb/inputs.py, kb/latex.py for BibTeX fields, kb/stylenames.py for kb.yaml) but is not named there would
    let a cache written by other code answer (the index, keyed by every module, would not)."""
    import subprocess
    import sys

    code = "import sys, kb.load, kb.bib; print(' '.join(sorted(m for m in sys.modules if m.startswith('kb.'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    readers = {name.split(".", 1)[1] + ".py" for name in loaded} - {"resources.py", "validate.py"}  # where files are, what the index keeps
    assert readers <= set(cache._CODE), sorted(readers - set(cache._CODE))
