"""kb.output: atomic writes that never leave half a file and never overwrite without being asked."""

from __future__ import annotations

import os
import stat

import pytest

from kb.errors import ExportError
from kb.output import replace_tree, write_atomic, write_staged


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_new_file(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_atomic(target, "{}\n")
    assert target.read_text(encoding="utf-8") == "{}\n"
    assert leftovers(target.parent) == []


def test_new_file_gets_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_replaced_file_keeps_its_mode(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o600)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "mine.txt"
    target.write_text("precious", encoding="utf-8")
    with pytest.raises(ExportError) as info:
        write_atomic(target, "new", force=False)
    assert str(info.value) == f"error: {str(target)!r} already exists; pass --force to overwrite it"
    assert target.read_text(encoding="utf-8") == "precious"
    assert leftovers(tmp_path) == []


def test_refuses_a_dangling_symlink_without_force(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ExportError):
        write_atomic(tmp_path / "link", "x", force=False)
    assert not (tmp_path / "nowhere").exists()


def test_a_folder_is_not_a_file(tmp_path):
    with pytest.raises(ExportError) as info:
        write_atomic(tmp_path, "x")
    assert str(info.value) == f"error: {str(tmp_path)!r} is a folder; name a file to write"


def test_os_errors_become_export_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(ExportError) as info:
        write_atomic(blocker / "out.txt", "x")  # a parent that is a file
    assert info.value.message.startswith(f"cannot write {str(blocker / 'out.txt')!r}: ")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(ExportError) as info:
        write_atomic(target, "new")
    assert info.value.message == f"cannot write {str(target)!r}: Input/output error"
    assert target.read_text(encoding="utf-8") == "old"
    assert leftovers(tmp_path) == []


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert leftovers(tmp_path) == []


def test_replace_tree(tmp_path):
    site, staging = tmp_path / "site", tmp_path / "staging"
    site.mkdir()
    (site / "old.html").write_text("old", encoding="utf-8")
    staging.mkdir()
    (staging / "new.html").write_text("new", encoding="utf-8")
    replace_tree(staging, site)
    assert sorted(p.name for p in site.iterdir()) == ["new.html"]
    assert not staging.exists()
    assert leftovers(tmp_path) == []


def test_replace_tree_failure_restores_the_old_site(tmp_path, monkeypatch):
    site, staging = tmp_path / "site", tmp_path / "staging"
    site.mkdir()
    (site / "index.html").write_text("old", encoding="utf-8")
    staging.mkdir()
    real_replace = os.replace
    calls = []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # moving the new site into place fails
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError):
        replace_tree(staging, site)
    assert (site / "index.html").read_text(encoding="utf-8") == "old"


def test_what_killed_processes_left_next_to_a_folder_is_removed_and_nothing_else(tmp_path, monkeypatch):
    """The folders ``staging_folder`` and ``replace_tree`` make next to a site, of a process that no
    longer runs, go; those of running processes, other names and files stay."""
    import subprocess
    import sys

    import kb.output as output

    target = tmp_path / "site"
    target.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with monkeypatch.context() as m:
        m.setattr(output.os, "getpid", lambda: dead.pid)
        left = [output.staging_folder(target), output._aside(target)]
    left[1].mkdir()
    running = output.staging_folder(target)  # this process's own
    other = [tmp_path / ".site.backup", tmp_path / f".other.old-{dead.pid}", tmp_path / f".site.old-{dead.pid}x"]
    for path in other:
        path.mkdir()
    output.remove_stale_folders(target)
    assert not any(path.exists() for path in left)
    assert running.is_dir() and all(path.is_dir() for path in other) and target.is_dir()


def _old_site_and_new(tmp_path, files: int = 50):
    site, staging = tmp_path / "site", tmp_path / "staging"
    (site / "claims").mkdir(parents=True)
    for n in range(files):
        (site / "claims" / f"c{n}.html").write_text("old", encoding="utf-8")
    staging.mkdir()
    (staging / "index.html").write_text("new", encoding="utf-8")
    return site, staging


def _gone_within(folder, seconds: float = 30.0, also=None) -> bool:
    """Are the trees put aside in ``folder`` (and the path ``also``) gone within ``seconds``?"""
    import time

    end = time.monotonic() + seconds
    while leftovers(folder) or (also is not None and also.exists()):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def test_a_detached_delete_leaves_the_old_tree_to_a_process_of_its_own(tmp_path, monkeypatch):
    """``replace_tree(..., detach=True)``: the new tree is in place when it returns, the old one is not
    deleted by this process (nor left under this process's name) but by another, which removes it all."""
    import shutil

    import kb.output as output

    site, staging = _old_site_and_new(tmp_path)
    deleted_here = []
    real_rmtree = shutil.rmtree
    monkeypatch.setattr(output.shutil, "rmtree", lambda path, *a, **k: (deleted_here.append(path), real_rmtree(path, *a, **k)))
    replace_tree(staging, site, detach=True)
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]
    assert deleted_here == []
    assert not output._aside(site).exists()  # taken over: renamed after the deleting process
    assert _gone_within(tmp_path), leftovers(tmp_path)


@pytest.mark.parametrize("broken", ["no interpreter", "cannot take it", "first process of a container"])
def test_a_detached_delete_that_cannot_start_deletes_here(tmp_path, monkeypatch, broken):
    """No process to hand the old tree to (no interpreter), one that cannot take it over (it exits
    without renaming it), or one that would be stopped with this one (this is a container's first
    process): this process deletes it before returning, as without ``detach``."""
    import sys

    import kb.output as output

    site, staging = _old_site_and_new(tmp_path)
    if broken == "no interpreter":
        monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    elif broken == "cannot take it":
        monkeypatch.setattr(output, "_DELETER", "import sys; sys.exit(1)")
    else:
        import subprocess

        monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("no process may be started"))
        monkeypatch.setattr(output.os, "getpid", lambda: 1)
    replace_tree(staging, site, detach=True)
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]
    assert leftovers(tmp_path) == []


def test_the_deleting_process_goes_on_when_nobody_reads_what_it_says(tmp_path):
    """kb stopped (Ctrl-C) after starting the deleting process and before reading its answer: the
    process still deletes the tree it took over."""
    import subprocess
    import sys

    import kb.output as output

    site, _ = _old_site_and_new(tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read the answer
    try:
        subprocess.run([sys.executable, "-I", "-S", "-c", output._DELETER, str(site), "site"], stdout=write_end,
                       stderr=subprocess.DEVNULL, check=True, timeout=30)
    finally:
        os.close(write_end)
    # the first process ends as soon as it has forked the one that deletes, which takes the tree (renames
    # it) a moment later: wait for that rather than race it (kb itself waits for its "taken" line)
    assert _gone_within(tmp_path, also=site), (site.exists(), leftovers(tmp_path))


def test_a_tree_left_aside_under_this_process_id_does_not_stop_the_swap(tmp_path):
    """A killed process with this process's id (ids are reused; in a container kb often has the same
    one) left its old tree aside: replace_tree removes it first instead of failing to put one there."""
    import kb.output as output

    site, staging = _old_site_and_new(tmp_path)
    left = output._aside(site)
    (left / "claims").mkdir(parents=True)
    (left / "claims" / "old.html").write_text("older", encoding="utf-8")
    replace_tree(staging, site)
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]
    assert leftovers(tmp_path) == []


def test_write_staged_writes_all_of_it_over_what_was_there_with_the_usual_mode(tmp_path, monkeypatch):
    page = tmp_path / "page.html"
    page.write_bytes(b"an older and longer page")
    page.chmod(0o600)
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:3])))  # the system may write less than asked
    old = os.umask(0o027)
    try:
        write_staged(str(page), "<p>één</p>".encode())
        write_staged(str(tmp_path / "empty.html"), b"")
    finally:
        os.umask(old)
    assert page.read_bytes() == "<p>één</p>".encode()
    assert stat.S_IMODE(page.stat().st_mode) == 0o600  # kept, as Path.write_bytes keeps it
    assert (tmp_path / "empty.html").read_bytes() == b""
    assert stat.S_IMODE((tmp_path / "empty.html").stat().st_mode) == 0o640


def test_a_link_is_followed_and_kept(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "refs.bib").write_text("old", encoding="utf-8")
    link = tmp_path / "refs.bib"
    link.symlink_to(shared / "refs.bib")
    write_atomic(link, "new")
    assert link.is_symlink() and (shared / "refs.bib").read_text(encoding="utf-8") == "new"
    assert leftovers(shared) == [] and leftovers(tmp_path) == []


def test_a_named_pipe_is_written_into_not_replaced(tmp_path):
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()))
    reader.start()
    write_atomic(pipe, "through the pipe", force=True)
    reader.join(10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)


def test_text_that_is_not_utf8_is_an_export_error(tmp_path):
    with pytest.raises(ExportError, match="not UTF-8"):
        write_atomic(tmp_path / "h.html", "title \udce9")
    assert list(tmp_path.iterdir()) == []


def test_folder_lock_makes_a_second_holder_wait(tmp_path):
    import threading
    import time

    from kb.output import folder_lock

    events = []

    def second():
        with folder_lock(tmp_path, on_wait=lambda: events.append("waiting")):
            events.append("second holds it")

    with folder_lock(tmp_path, on_wait=lambda: events.append("first waited")):
        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            time.sleep(0.01)
        events.append("first lets go")
    thread.join(10)
    assert events == ["waiting", "first lets go", "second holds it"]
