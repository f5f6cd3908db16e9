"""kb build, incremental and parallel: a build that renders only changed pages, or renders in worker
processes, must give exactly the site a full build in one process gives.

Every test works on a copy of this repository's own knowledge base (43 claims, 9 references).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import pytest

import kb.site as sitelib
from kb.errors import RenderError
from kb.graph import build_graph
from kb.load import load_kb
from kb.site import MANIFEST, build_site

from conftest import copy_repo_kb

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def kb_copy(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("KB_CACHE", "0")
    return copy_repo_kb(tmp_path / "kb")


def build(root: Path, out: Path, **options):
    kb = load_kb(root)
    return build_site(kb, build_graph(kb), out, **options)


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def edit(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text(encoding="utf-8")
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, (path, pattern)
    path.write_text(new, encoding="utf-8")


def same_as_full_build(root: Path, site: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    result = build(root, fresh)
    assert not result.incremental
    assert snapshot(site) == snapshot(fresh)


def a_claim(root: Path) -> Path:
    """A claim with sources and a verdict reason (so that editing it changes several pages)."""
    for path in sorted((root / "claims").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "verdict_reason:" in text and "  - ref:" in text:
            return path
    raise AssertionError("no claim with sources and a verdict reason")


def test_a_second_build_renders_nothing(kb_copy, tmp_path):
    site = tmp_path / "site"
    first = build(kb_copy, site)
    assert not first.incremental and len(first.rendered) == len(first.pages) - len(sitelib.ASSETS)
    before = snapshot(site)
    second = build(kb_copy, site)
    assert second.incremental and second.rendered == ()
    assert second.pages == first.pages
    assert snapshot(site) == before
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    assert set(manifest["pages"]) == set(first.pages) - set(sitelib.ASSETS)


def test_editing_a_claim_renders_its_pages_only(kb_copy, tmp_path):
    site = tmp_path / "site"
    build(kb_copy, site)
    path = a_claim(kb_copy)
    edit(path, r"^verdict_reason: .*$", 'verdict_reason: "Changed <b>reason</b> for the incremental test."')
    result = build(kb_copy, site)
    assert result.incremental
    claim_id = path.stem
    assert f"claims/{claim_id}.html" in result.rendered
    assert any(p.startswith("article/") for p in result.rendered)
    assert "claims/index.html" not in result.rendered  # the index shows no verdict reasons
    assert len(result.rendered) < 10
    assert "Changed &lt;b&gt;reason&lt;/b&gt;" in (site / "claims" / f"{claim_id}.html").read_text(encoding="utf-8")
    same_as_full_build(kb_copy, site, tmp_path)


def test_removing_and_adding_a_claim(kb_copy, tmp_path):
    site = tmp_path / "site"
    build(kb_copy, site)
    kb = load_kb(kb_copy)
    derived = {d for c in kb.claims.values() for d in c.derived_from}
    victim = next(c for c in sorted(kb.claims) if c not in derived)
    text = (kb_copy / "claims" / f"{victim}.yaml").read_text(encoding="utf-8")
    (kb_copy / "claims" / f"{victim}.yaml").unlink()
    result = build(kb_copy, site)
    assert result.incremental and not (site / "claims" / f"{victim}.html").exists()
    same_as_full_build(kb_copy, site, tmp_path)
    (kb_copy / "claims" / f"{victim}.yaml").write_text(text, encoding="utf-8")
    result = build(kb_copy, site)
    assert f"claims/{victim}.html" in result.rendered and (site / "claims" / f"{victim}.html").exists()
    same_as_full_build(kb_copy, site, tmp_path)


def test_editing_a_reference_renders_the_pages_that_cite_it(kb_copy, tmp_path):
    site = tmp_path / "site"
    build(kb_copy, site)
    bib = kb_copy / "references" / "krachttraining.bib"
    edit(bib, r"^(\s*title\s*=\s*\{)", r"\g<1>Edited: ")
    result = build(kb_copy, site)
    assert result.incremental and any(p.startswith("references/") and p != "references/index.html" for p in result.rendered)
    same_as_full_build(kb_copy, site, tmp_path)


def test_a_page_changed_or_deleted_on_disk_is_rendered_again(kb_copy, tmp_path):
    site = tmp_path / "site"
    build(kb_copy, site)
    before = snapshot(site)
    (site / "claims" / "index.html").write_text("vandalised", encoding="utf-8")
    (site / "references" / "index.html").unlink()
    result = build(kb_copy, site)
    assert set(result.rendered) == {"claims/index.html", "references/index.html"}
    assert snapshot(site) == before


def test_a_changed_style_template_or_manifest_means_a_full_build(kb_copy, tmp_path):
    site = tmp_path / "site"
    build(kb_copy, site)
    assert not build(kb_copy, site, style="apa").incremental
    assert build(kb_copy, site, style="apa").incremental
    own = tmp_path / "own"
    own.mkdir()
    (own / "base.html.j2").write_text('{% extends "builtin/base.html.j2" %}{% block footer %}own footer{% endblock %}', encoding="utf-8")
    result = build(kb_copy, site, style="apa", templates=own)
    assert not result.incremental and "own footer" in (site / "index.html").read_text(encoding="utf-8")
    (site / MANIFEST).write_text("{not json", encoding="utf-8")
    assert not build(kb_copy, site, style="apa", templates=own).incremental
    edit(kb_copy / "kb.yaml", r"^title: .*$", "title: Another title")
    assert not build(kb_copy, site, style="apa", templates=own).incremental


def test_a_full_build_over_a_big_site_leaves_the_old_one_to_a_process_of_its_own(kb_copy, tmp_path, monkeypatch):
    """A full build over a big site (by its manifest's size) hands the old pages to another process to
    delete (kb.output.replace_tree ``detach``); over a small one it deletes them itself. Either way the
    site is the full build's and nothing is left next to it."""
    import kb.output as output

    handed = []
    real = output._delete_detached
    monkeypatch.setattr(output, "_delete_detached", lambda old, name: handed.append(old.name) or real(old, name))
    site = tmp_path / "out" / "site"
    build(kb_copy, site)
    assert not build(kb_copy, site, style="apa").incremental
    assert handed == []  # this repository's site is small
    monkeypatch.setattr(sitelib, "_BIG_MANIFEST_BYTES", (site / MANIFEST).stat().st_size)
    assert not build(kb_copy, site, style="vancouver").incremental
    assert len(handed) == 1
    fresh = tmp_path / "fresh"
    build(kb_copy, fresh, style="vancouver")
    assert snapshot(site) == snapshot(fresh)
    deadline = time.monotonic() + 30
    while list((tmp_path / "out").iterdir()) != [site] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((tmp_path / "out").iterdir()) == [site]


def test_a_style_formatted_otherwise_means_a_full_build(kb_copy, tmp_path, monkeypatch):
    """A style plugin or pybtex upgraded formats citations otherwise, and every page may show one."""
    import kb.cite

    site = tmp_path / "site"
    build(kb_copy, site)
    assert build(kb_copy, site).incremental
    real = kb.cite.formatting_state
    monkeypatch.setattr(kb.cite, "formatting_state", lambda style, backend: real(style, backend) + b"upgraded")
    assert not build(kb_copy, site).incremental


@pytest.mark.parametrize("entry", [
    ("../outside.txt", ["0" * 32, 9]),
    ("{outside}", ["0" * 32, 9]),  # an absolute path
    ("claims/../../outside.txt", ["0" * 32, 9]),
    ("claims/a-page.html", ["abc"]),
    ("claims/a-page.html", 5),
    ("claims/a-page.html", [None, 9]),
])
def test_a_manifest_not_as_kb_writes_it_is_not_acted_on(kb_copy, tmp_path, entry):
    """A build removes the pages of the last build it did not make again: a path from a manifest
    edited by hand (or made elsewhere) must never reach outside the site, and an odd entry must not
    end in a traceback. Such a manifest counts as none: the next build is a full one."""
    site = tmp_path / "site"
    outside = tmp_path / "outside.txt"
    outside.write_text("not kb's", encoding="utf-8")
    build(kb_copy, site)
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    path, value = entry
    manifest["pages"][path.format(outside=outside)] = value
    (site / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    edit(a_claim(kb_copy), r"^verdict: .*$", "verdict: overstated")
    result = build(kb_copy, site)
    assert not result.incremental
    assert outside.read_text(encoding="utf-8") == "not kb's"
    same_as_full_build(kb_copy, site, tmp_path)


def test_a_build_interrupted_while_moving_pages_leaves_whole_pages_and_a_full_build_next(kb_copy, tmp_path, monkeypatch):
    site = tmp_path / "site"
    build(kb_copy, site)
    path = a_claim(kb_copy)
    edit(path, r"^verdict_reason: .*$", 'verdict_reason: "Interrupted."')
    real_replace = sitelib.os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(sitelib.os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        build(kb_copy, site)
    monkeypatch.setattr(sitelib.os, "replace", real_replace)
    assert not (site / MANIFEST).exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] == []
    result = build(kb_copy, site)
    assert not result.incremental
    same_as_full_build(kb_copy, site, tmp_path)


def test_worker_processes_build_the_same_site(kb_copy, tmp_path, monkeypatch):
    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", 0)
    monkeypatch.setattr(sitelib, "_CHUNK", 3)
    seen = []
    result = build(kb_copy, tmp_path / "parallel", jobs=2, progress=lambda done, total, path: seen.append((done, total)))
    assert not result.incremental
    single = build(kb_copy, tmp_path / "single", jobs=1)
    assert result.pages == single.pages
    assert snapshot(tmp_path / "parallel") == snapshot(tmp_path / "single")
    assert seen and seen[-1] == (len(result.pages), len(result.pages))
    assert all(0 < done <= total for done, total in seen)
    # incremental, in workers
    edit(a_claim(kb_copy), r"^verdict_reason: .*$", 'verdict_reason: "Parallel edit."')
    again = build(kb_copy, tmp_path / "parallel", jobs=2)
    assert again.incremental and 0 < len(again.rendered) < 10
    same_as_full_build(kb_copy, tmp_path / "parallel", tmp_path)


def test_the_slow_pages_go_to_different_workers(kb_copy, tmp_path, monkeypatch):
    """The home page and the audit take seconds on a big knowledge base: taken in one chunk, one worker
    would make both while the other runs out of pages."""
    import os

    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", 0)
    log = tmp_path / "made-by"
    real = sitelib._Renderer.page

    def page(self, index):
        path = self.specs[index].path
        if path in ("index.html", "audit.html"):
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{path} {os.getpid()}\n")
            import time

            time.sleep(0.5)  # slow, as at 100,000 claims: the other worker meanwhile takes the next page
        return real(self, index)

    monkeypatch.setattr(sitelib._Renderer, "page", page)
    build(kb_copy, tmp_path / "site", jobs=2)
    made_by = dict(line.split() for line in log.read_text(encoding="utf-8").splitlines())
    assert set(made_by) == {"index.html", "audit.html"}
    assert made_by["index.html"] != made_by["audit.html"] != str(os.getpid())


def test_the_build_process_makes_pages_too_beside_jobs_minus_one_workers(kb_copy, tmp_path, monkeypatch):
    """Waiting while two workers render would cost a second copy of the parent's memory (page faults)."""
    import os

    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", 0)
    monkeypatch.setattr(sitelib, "_CHUNK", 2)
    log = tmp_path / "made-by"
    real = sitelib._Renderer.page

    parent = str(os.getpid())

    def page(self, index):
        if self.specs[index].path != "audit.html":  # made ahead, in a process of its own
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()}\n")
            import time

            deadline = time.monotonic() + 10  # the parent's first page waits for the worker's first, however slow its start
            while str(os.getpid()) == parent and time.monotonic() < deadline and set(log.read_text(encoding="utf-8").split()) == {parent}:
                time.sleep(0.01)
        return real(self, index)

    monkeypatch.setattr(sitelib._Renderer, "page", page)
    build(kb_copy, tmp_path / "site", jobs=2)
    makers = log.read_text(encoding="utf-8").split()
    assert str(os.getpid()) in makers
    assert len(set(makers)) == 2
    assert snapshot(tmp_path / "site") == snapshot(build(kb_copy, tmp_path / "single", jobs=1).target)


def test_a_worker_killed_while_it_holds_the_page_counter_stops_the_build(kb_copy, tmp_path, monkeypatch):
    """The build's own process takes pages from the same counter as the workers: a worker killed while
    it held the counter's lock (the out-of-memory killer) must end the build with an error, not leave
    it waiting for the lock for ever."""
    import os
    import signal

    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", 0)

    def dying_worker(renderer, next_chunk, done, conn, skip=None):
        next_chunk.get_lock().acquire()
        os.kill(os.getpid(), signal.SIGKILL)

    real_take = sitelib._take_chunks

    def late_take(*args, **options):
        import time

        time.sleep(0.5)  # the worker takes the lock first
        return real_take(*args, **options)

    def too_long(signum, frame):
        raise TimeoutError("the build waited for the lock of a dead worker")

    monkeypatch.setattr(sitelib, "_worker", dying_worker)
    monkeypatch.setattr(sitelib, "_take_chunks", late_take)
    site = tmp_path / "site"
    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(20)
    try:
        with pytest.raises(RenderError, match="ended unexpectedly"):
            build(kb_copy, site, jobs=2)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not site.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] == []


def test_in_an_incremental_build_the_workers_take_the_pages_to_make_first():
    """The pages a change can reach come before the ones only looked at, one at a time, a reference page
    (its impact list: a second at 100,000 claims) before the others, so no worker ends with a long one."""
    make = lambda: {}  # noqa: E731
    specs = [sitelib._Spec("index.html", "site/home.html.j2", make), sitelib._Spec("article/a.html", "site/article.html.j2", make),
             sitelib._Spec("claims/c1.html", "site/claim.html.j2", make), sitelib._Spec("claims/c2.html", "site/claim.html.j2", make),
             sitelib._Spec("references/r1.html", "site/reference.html.j2", make),
             sitelib._Spec("references/r2.html", "site/reference.html.j2", make), sitelib._Spec("audit.html", "audit.html.j2", make)]
    assert sitelib._work_order(specs, skip=6) == ([0, 1, 2, 3, 4, 5], 1)  # a full build: the home page first
    order, first = sitelib._work_order(specs, skip=6, only={"index.html", "claims/c2.html", "references/r2.html", "audit.html"})
    assert order == [0, 5, 3, 1, 2, 4] and first == 3


def test_the_audit_page_is_made_ahead_in_a_process_of_its_own(kb_copy, tmp_path, monkeypatch):
    """With worker processes, the audit page is made by a process started before the view index is made
    (``_AheadPage``): not by this process, not by a page worker; the site is the same as in one process."""
    import os

    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", 0)
    log = tmp_path / "made-by"
    real = sitelib._Renderer.page
    order = []
    real_views = sitelib._Views.__init__

    def views(self, *args, **kwargs):
        order.append("views")
        real_views(self, *args, **kwargs)

    real_ahead = sitelib._AheadPage.__init__

    def ahead(self, renderer, **options):
        order.append("ahead")
        real_ahead(self, renderer, **options)

    def page(self, index):
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{self.specs[index].path} {os.getpid()}\n")
        return real(self, index)

    monkeypatch.setattr(sitelib._Views, "__init__", views)
    monkeypatch.setattr(sitelib._AheadPage, "__init__", ahead)
    monkeypatch.setattr(sitelib._Renderer, "page", page)
    result = build(kb_copy, tmp_path / "site", jobs=2)
    assert order == ["ahead", "views"]
    made_by = [line.rsplit(" ", 1) for line in log.read_text(encoding="utf-8").splitlines()]
    assert sorted(path for path, _ in made_by) == sorted(p for p in result.pages if p.endswith(".html"))
    (audit_pid,) = [pid for path, pid in made_by if path == "audit.html"]
    assert audit_pid != str(os.getpid()) and audit_pid not in {pid for path, pid in made_by if path != "audit.html"}
    monkeypatch.setattr(sitelib._Renderer, "page", real)
    build(kb_copy, tmp_path / "single", jobs=1)
    assert snapshot(tmp_path / "site") == snapshot(tmp_path / "single")


def audit_renderer(root: Path, tmp_path: Path):
    """(knowledge base, graph, a renderer of its audit page alone): what ``_AheadPage`` is given."""
    kb = load_kb(root)
    graph = build_graph(kb)
    env = sitelib.make_env(sitelib.template_dirs(kb.root, None))
    site = sitelib.site_info(kb, True)
    return kb, graph, sitelib._Renderer(env, kb, "nl", site, [sitelib._audit_spec(kb, graph)], tmp_path / "out", None, tmp_path / "site")


def test_the_process_making_the_audit_page_sends_its_coverage_figures(kb_copy, tmp_path):
    """The audit page starts with the coverage figures; the process making it sends them as soon as it
    has them, the same figures this process would compute."""
    import time

    from kb import graph as graphlib

    kb, graph, renderer = audit_renderer(kb_copy, tmp_path)
    ahead = sitelib._AheadPage(renderer, share=lambda: graphlib.stats(kb, graph))
    assert graph not in graphlib._MEMO or not any(key[0] == "_stats" for key in graphlib._MEMO[graph])  # not computed here
    ahead.start()
    try:
        deadline = time.monotonic() + 30
        figures = ahead.shared()
        while figures is None and time.monotonic() < deadline:
            time.sleep(0.02)
            figures = ahead.shared()
        assert figures == graphlib.stats(kb, build_graph(kb))
        assert ahead.result()[0] == "audit.html"
    finally:
        ahead.stop()


def test_the_audit_process_does_not_wait_for_its_figures_to_be_read(kb_copy, tmp_path):
    """Figures bigger than a pipe holds (as at 100,000 claims) do not hold the audit page up until this
    process reads them: the page comes first here, and the figures can still be read after it."""
    _, _, renderer = audit_renderer(kb_copy, tmp_path)
    big = "figures " * 1_000_000  # 8 MB; a pipe holds 64 KB
    ahead = sitelib._AheadPage(renderer, share=lambda: big)
    ahead.start()
    try:
        assert ahead.conn.poll(60), "the page never came: the process waits for its figures to be read"
        assert ahead.shared() == big
        assert ahead.result()[0] == "audit.html"
    finally:
        ahead.stop()


_ORPHAN_SCRIPT = """
import os, sys, time
import kb.site as sitelib

class Spec:
    path = "audit.html"

class Renderer:
    specs = [Spec()]
    def page(self, index):
        return ("audit.html", "digest", 1, True)

ahead = sitelib._AheadPage(Renderer(), share=lambda: "figures " * 200_000)  # 1.6 MB: more than a pipe holds
ahead.start()
print(ahead.process.pid, flush=True)
time.sleep(float(sys.argv[1]))
os._exit(0)  # the build dies without stopping it: killed, out of memory
"""


@pytest.mark.parametrize("after", [0.0, 1.0])
def test_the_audit_process_ends_when_the_build_is_killed(tmp_path, after):
    """A build killed from outside must not leave its audit process behind, blocked on sending figures
    nobody reads and holding the command's output open (``$(kb build)`` would never return)."""
    import os
    import subprocess
    import sys
    import time

    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN_SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(sitelib.__file__).resolve().parent.parent)}
    build = subprocess.Popen([sys.executable, str(script), str(after)], stdout=subprocess.PIPE, text=True, env=env)
    pid = int(build.stdout.readline())
    build.wait(timeout=60)

    def gone() -> bool:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                return handle.read().rsplit(")", 1)[-1].split()[0] == "Z"  # ended, not yet reaped by its new parent
        except OSError:
            return True

    deadline = time.monotonic() + 10
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not gone():
        os.kill(pid, 9)
        raise AssertionError("the audit process outlived the build by 10 s")
    assert build.stdout.read() == ""  # and nothing holds the build's output open any more


def test_ctrl_c_is_left_to_the_build_not_the_audit_process(kb_copy, tmp_path, capfd):
    """Ctrl-C reaches the whole process group; the audit page's process ignores it (the build reports
    the interruption and stops that process), so it prints no traceback of its own, whatever it is doing."""
    import os
    import signal
    import time

    _, _, renderer = audit_renderer(kb_copy, tmp_path)
    started = tmp_path / "computing"

    def figures():
        started.write_text("now", encoding="utf-8")
        time.sleep(1.5)
        return "figures"

    ahead = sitelib._AheadPage(renderer, share=figures)
    ahead.start()
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(ahead.process.pid, signal.SIGINT)  # while it computes the figures
        assert ahead.result()[0] == "audit.html"
    finally:
        ahead.stop()
    assert "Traceback" not in capfd.readouterr().err


def test_the_home_page_uses_the_figures_the_audit_process_sent(kb_copy, tmp_path, monkeypatch):
    """The page workers take the coverage figures the audit page's process computed instead of computing
    them again (seconds at 100,000 claims): a build shows what ``_AheadPage.shared`` handed over."""
    import dataclasses

    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", 0)
    handed = []

    def shared(self):
        kb = load_kb(kb_copy)
        from kb import graph as graphlib

        figures = dataclasses.replace(graphlib.stats(kb, build_graph(kb)), claims=98765)  # marked: no build computes this
        handed.append(figures)
        return figures

    monkeypatch.setattr(sitelib._AheadPage, "shared", shared)
    build(kb_copy, tmp_path / "site", jobs=2)
    assert len(handed) == 1
    assert "98765" in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    build(kb_copy, tmp_path / "single", jobs=1)  # no process ahead: computed here
    assert "98765" not in (tmp_path / "single" / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("how", ["template error", "process killed"])
def test_a_failure_of_the_page_made_ahead_stops_the_build_and_keeps_the_site(kb_copy, tmp_path, monkeypatch, how):
    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", 0)
    site = tmp_path / "site"
    build(kb_copy, site, jobs=2)
    before = snapshot(site)
    options = {}
    if how == "template error":
        own = tmp_path / "own"
        own.mkdir()
        (own / "audit.html.j2").write_text('{% extends "base.html.j2" %}{% block content %}{{ audit.missing.field }}{% endblock %}',
                                           encoding="utf-8")
        options["templates"] = own
        expected = "audit.html.j2"
    else:
        import os

        def die(renderer, conn, *share):
            os._exit(3)

        monkeypatch.setattr(sitelib, "_ahead_worker", die)
        expected = "ended unexpectedly"
    edit(a_claim(kb_copy), r"^verdict: .*$", "verdict: overstated")  # an edit that reaches the audit
    with pytest.raises(RenderError, match=expected):
        build(kb_copy, site, jobs=2, **options)
    assert snapshot(site) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] == []


def test_a_failing_page_made_ahead_stops_the_workers_at_once(kb_copy, tmp_path, monkeypatch):
    """The build does not render every other page before it reports that the audit page failed."""
    import time

    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", 0)
    monkeypatch.setattr(sitelib, "_CHUNK", 1)
    own = tmp_path / "own"
    own.mkdir()
    (own / "audit.html.j2").write_text('{% extends "base.html.j2" %}{% block content %}{{ audit.missing.field }}{% endblock %}',
                                       encoding="utf-8")
    log = tmp_path / "made"
    real = sitelib._Renderer.page

    def slow(self, index):
        time.sleep(0.1)  # every other page is slow: 50 pages, over 2 s on two workers
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(self.specs[index].path + "\n")
        return real(self, index)

    monkeypatch.setattr(sitelib._Renderer, "page", slow)
    monkeypatch.setattr(sitelib, "_ahead_worker", lambda renderer, conn, *share: sitelib._send_outcome(conn, lambda: real(renderer, 0)))
    with pytest.raises(RenderError, match="audit.html.j2"):
        build(kb_copy, tmp_path / "site", jobs=2, templates=own)
    made = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    assert len(made) < 40  # of more than 50


def test_a_template_error_in_a_worker_stops_the_build_and_keeps_the_site(kb_copy, tmp_path, monkeypatch):
    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", 0)
    site = tmp_path / "site"
    build(kb_copy, site, jobs=2)
    before = snapshot(site)
    own = tmp_path / "own"
    (own / "site").mkdir(parents=True)
    (own / "site" / "claim.html.j2").write_text(
        '{% extends "base.html.j2" %}{% block content %}{{ claim.missing.field }}{% endblock %}', encoding="utf-8")
    with pytest.raises(RenderError, match="claim.html.j2"):
        build(kb_copy, site, jobs=2, templates=own)
    assert snapshot(site) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] == []


def test_long_indexes_are_split_into_pages(kb_copy, tmp_path, monkeypatch):
    monkeypatch.setattr(sitelib, "INDEX_ROWS", 10)
    site = tmp_path / "site"
    result = build(kb_copy, site)
    kb = load_kb(kb_copy)
    claim_pages = ["claims/index.html"] + [f"claims/page/{n}.html" for n in range(2, (len(kb.claims) + 9) // 10 + 1)]
    ref_pages = ["references/index.html"] + [f"references/page/{n}.html" for n in range(2, (len(kb.references) + 9) // 10 + 1)]
    assert len(claim_pages) == 5 and len(ref_pages) == 1
    assert [p for p in result.pages if p.startswith("claims/index") or p.startswith("claims/page/")] == claim_pages
    listed = []
    for number, path in enumerate(claim_pages, 1):
        html = (site / path).read_text(encoding="utf-8")
        root = "../" * path.count("/")
        listed += re.findall(r'<tr><td><a href="' + re.escape(root) + r'claims/([^"/]+)\.html">', html)
        # the pager links every page, marks this one, and every link resolves
        for other in claim_pages:
            if other != path:
                assert f'href="{root}{other}"' in html
        assert f'<span aria-current="page">{number}</span>' in html
        for href in re.findall(r'href="([^"#]+)(?:#v-([a-z-]+))?"', html):
            target = (site / Path(path).parent / href[0]).resolve()
            assert target.exists(), (path, href)
            if href[1]:
                assert f'id="v-{href[1]}"' in target.read_text(encoding="utf-8")
    assert sorted(listed) == sorted(kb.claims) and len(listed) == len(set(listed))
    # one more claim file: pages after it shift, and the incremental build agrees with a full one
    monkeypatch.setattr(sitelib, "INDEX_ROWS", 10)
    edit(a_claim(kb_copy), r"^verdict: .*$", "verdict: unsupported")
    assert build(kb_copy, site).incremental
    same_as_full_build(kb_copy, site, tmp_path)


def test_a_verdict_edit_changes_the_one_index_page_that_lists_the_claim(kb_copy, tmp_path, monkeypatch):
    """The claims index is cut into pages in reading order and grouped by verdict within a page, so a
    claim keeps its page when its verdict changes: the other pages stay as they were."""
    monkeypatch.setattr(sitelib, "INDEX_ROWS", 10)
    site = tmp_path / "site"
    build(kb_copy, site)
    kb = load_kb(kb_copy)
    views = sitelib._Views(kb, build_graph(kb), kb.config.language, kb.config.style)
    path = a_claim(kb_copy)
    number = views.index_of[path.stem] // 10 + 1
    holder = "claims/index.html" if number == 1 else f"claims/page/{number}.html"
    html = (site / holder).read_text(encoding="utf-8")
    first, last = (number - 1) * 10 + 1, min(number * 10, len(kb.claims))
    assert f"{first}–{last}" in html  # "Beweringen 11–20 van 43 ..."
    listed = re.findall(r'<tr><td><a href="[./]*claims/([^"/]+)\.html">', html)
    assert sorted(listed) == sorted(views.sequence[first - 1:last])
    verdict = kb.claims[path.stem].verdict
    other = "unsupported" if verdict != "unsupported" else "overstated"
    edit(path, r"^verdict: .*$", f"verdict: {other}")
    before = snapshot(site)
    result = build(kb_copy, site)
    assert result.incremental
    index_pages = [p for p in result.rendered if p.startswith(("claims/index", "claims/page/"))]
    assert index_pages == [holder]
    after = snapshot(site)
    assert [p for p in after if after[p] != before.get(p) and p.startswith(("claims/index", "claims/page/"))] == [holder]
    section = re.search(rf'<section id="v-{other}".*?</section>', (site / holder).read_text(encoding="utf-8"), flags=re.S)
    assert section is not None and f"claims/{path.stem}.html" in section.group(0)
    same_as_full_build(kb_copy, site, tmp_path)


def test_a_shorter_index_leaves_no_empty_folder(kb_copy, tmp_path, monkeypatch):
    """Pages that are gone go with the folders they leave empty, as a full build has none of them."""
    monkeypatch.setattr(sitelib, "INDEX_ROWS", 10)
    site = tmp_path / "site"
    build(kb_copy, site)
    assert (site / "claims" / "page" / "2.html").is_file()
    monkeypatch.setattr(sitelib, "INDEX_ROWS", 1000)
    assert build(kb_copy, site).incremental
    fresh = build(kb_copy, tmp_path / "fresh").target
    folders = lambda root: sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())  # noqa: E731
    assert not (site / "claims" / "page").exists() and folders(site) == folders(fresh)
    assert snapshot(site) == snapshot(fresh)


def test_the_home_page_names_a_bounded_number_of_single_source_claims(kb_copy, tmp_path, monkeypatch):
    from kb.graph import stats

    kb = load_kb(kb_copy)
    single = [c for c in stats(kb, build_graph(kb)).single_source if c in kb.claims]
    assert len(single) > 2
    monkeypatch.setattr(sitelib, "HOME_LIST", 2)
    site = tmp_path / "site"
    build(kb_copy, site, lang="en")
    html = (site / "index.html").read_text(encoding="utf-8")
    section = html[html.index('id="single-title"'):]
    section = section[:section.index("</section>")]
    assert len(re.findall(r'<li>', section)) == 2
    assert f'<a href="audit.html">and {len(single) - 2} more</a>' in section


def test_page_digests_depend_on_values_not_object_identity():
    a = "".join(["krachttraining", " helpt"])
    b = "".join(["krachttraining ", "helpt"])
    assert a == b and a is not b
    shared = {"text": a, "again": a}
    separate = {"text": a, "again": b}
    assert sitelib._page_digest("t", shared) == sitelib._page_digest("t", separate)
    assert sitelib._page_digest("t", shared) != sitelib._page_digest("t", {"text": a, "again": "other"})


def test_a_build_after_loading_from_the_cache_renders_nothing(kb_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("KB_CACHE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    site = tmp_path / "site"
    assert not build(kb_copy, site).incremental  # parsed from the files
    second = build(kb_copy, site)  # loaded from .kb-cache
    assert second.incremental and second.rendered == ()


def test_a_reference_page_lists_a_bounded_number_of_claims(kb_copy, tmp_path, monkeypatch):
    from kb.graph import impact

    kb = load_kb(kb_copy)
    graph = build_graph(kb)
    key = max(kb.references, key=lambda k: len(impact(graph, k).claims))
    affected = impact(graph, key).claims
    citing = {c.id for c in kb.claims.values() if any(ev.ref == key for ev in c.evidence)}
    assert len(affected) > 3 and len(citing) > 2
    monkeypatch.setattr(sitelib, "REF_LIST", 2)
    site = tmp_path / "site"
    build(kb_copy, site, lang="en")
    html = (site / "references" / sitelib.reference_filename(key)).read_text(encoding="utf-8")
    uses = html[html.index('id="uses-title"'):html.index('id="impact-title"')]
    assert f"({len(citing)})" in uses and uses.count('<li class="use">') == 2
    assert f"{len(citing) - 2} more not listed on this page; this command lists every one: <code>kb list --ref {key}</code>" in uses
    rows = html[html.index('id="impact-title"'):]
    assert rows.count("<tr") == 3  # the header and two claims
    assert f"{len(affected) - 2} more not listed on this page; this command lists every one: <code>kb impact {key}</code>" in rows
    assert f"{len(affected)} claim(s) affected" in rows
    orphaned = [link for link in affected if link.orphaned]
    if orphaned:  # the claims a retraction would leave unsupported come first
        assert 'class="breaks"' in rows[:rows.index("</tr>", rows.index("<tbody>"))]


def test_the_audit_page_is_compared_by_what_it_shows(kb_copy, tmp_path):
    """The audit's view model holds every problem, the page a hundred of each kind: its manifest digest is
    of the page's bytes, so an edit that leaves the page as it was does not write it again."""
    site = tmp_path / "site"
    build(kb_copy, site)

    def recorded() -> str:
        return json.loads((site / MANIFEST).read_text(encoding="utf-8"))["pages"]["audit.html"][0]

    assert recorded() == "=" + hashlib.blake2b((site / "audit.html").read_bytes(), digest_size=16).hexdigest()
    path = next(p for p in sorted((kb_copy / "claims").glob("*.yaml"))
                if re.search(r"^verdict: supported$", p.read_text(encoding="utf-8"), flags=re.MULTILINE)
                and "\nverdict_reason:" in p.read_text(encoding="utf-8"))
    edit(path, r"^verdict_reason: .*$", 'verdict_reason: "Nieuw."')  # shown on its own pages, not on the audit
    again = build(kb_copy, site)
    assert again.incremental and "audit.html" not in again.rendered and f"claims/{path.stem}.html" in again.rendered
    edit(path, r"^verdict: supported$", "verdict: overstated")
    again = build(kb_copy, site)
    assert "audit.html" in again.rendered
    assert recorded() == "=" + hashlib.blake2b((site / "audit.html").read_bytes(), digest_size=16).hexdigest()
    same_as_full_build(kb_copy, site, tmp_path)
