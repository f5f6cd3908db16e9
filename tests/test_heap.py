"""kb/heap.py: the cyclic collector paused for a block, and running again after it."""

from __future__ import annotations

import gc

import pytest

from kb.heap import paused_collector


def test_the_collector_is_paused_in_the_block_and_runs_again_after_it():
    assert gc.isenabled()
    with paused_collector():
        assert not gc.isenabled()
        with paused_collector():  # inside another: still paused when the inner one ends
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_in_the_block_still_lets_the_collector_run_again():
    with pytest.raises(ValueError):
        with paused_collector():
            raise ValueError("stop")
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off():
    gc.disable()
    try:
        with paused_collector():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("in_command", [False, True])
def test_what_a_paused_block_made_is_frozen_only_within_a_command(in_command):
    """Within a command that froze what it loaded, a paused block's objects are frozen with it as the
    block ends (no collection walks them again); outside one, the block leaves them to the collector."""
    import kb.heap as heap

    class Node:
        pass

    gc.unfreeze()
    try:
        if in_command:
            heap.freeze_loaded()
        before = gc.get_freeze_count()
        with paused_collector():
            made = [Node() for _ in range(1000)]
        frozen = gc.get_freeze_count() - before
        in_generations = any(made[-1] is o for o in gc.get_objects())
        assert gc.isenabled()
        if in_command:
            assert frozen >= 1000 and not in_generations
        else:
            assert frozen == 0 and in_generations
    finally:
        heap.thaw_loaded()
        gc.unfreeze()


def test_what_a_command_loaded_is_out_of_the_collectors_sight(tmp_path):
    """kb/cli load_checked freezes what it loaded (it lives until the command ends): later collections
    do not walk the knowledge base again."""
    import argparse

    from conftest import copy_repo_kb

    from kb.cli._common import load_checked

    root = copy_repo_kb(tmp_path / "kb")
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        kb, _ = load_checked(argparse.Namespace(kb=str(root)))
        claim = next(iter(kb.claims.values()))
        assert gc.get_freeze_count() > len(kb.claims)
        assert not any(claim is o for o in gc.get_objects())  # frozen objects are not in any generation
    finally:
        gc.unfreeze()


def test_a_command_run_in_this_process_leaves_nothing_frozen(tmp_path, monkeypatch, capsys):
    """kb.cli.main freezes what it loaded while it runs and thaws it at the end: a caller running many
    commands in one process gets the memory of their reference cycles back."""
    from conftest import copy_repo_kb

    from kb.cli import main

    root = copy_repo_kb(tmp_path / "kb")
    gc.unfreeze()
    for _ in range(2):
        assert main(["--kb", str(root), "check"]) == 0
        assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("in_command", [False, True])
def test_page_workers_leave_the_collector_as_they_found_it(tmp_path, monkeypatch, in_command):
    """Building with page workers freezes the heap they share. Called by a command that froze what it
    loaded, it leaves that to the command's thaw (unfreezing now would set off a collection of
    everything: seconds at 100,000 claims); called on its own, it unfreezes when the workers are done."""
    from conftest import copy_repo_kb

    import kb.heap as heap
    import kb.site as sitelib
    from kb.graph import build_graph
    from kb.load import load_kb

    monkeypatch.setattr(sitelib, "PARALLEL_MIN_PAGES", 0)
    kb = load_kb(copy_repo_kb(tmp_path / "kb"))
    graph = build_graph(kb)
    calls = []
    real_freeze, real_unfreeze = gc.freeze, gc.unfreeze
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze") or real_freeze())
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze") or real_unfreeze())
    real_unfreeze()
    try:
        if in_command:
            heap.freeze_loaded()
        calls.clear()
        sitelib.build_site(kb, graph, tmp_path / "site", jobs=2)
        assert (tmp_path / "site" / "index.html").is_file()
        if in_command:
            assert set(calls) == {"freeze"} and heap.loaded_frozen() and gc.get_freeze_count() > 0  # left to the command
            heap.thaw_loaded()
        else:
            assert calls == ["freeze", "unfreeze"]
        assert gc.get_freeze_count() == 0
    finally:
        heap.thaw_loaded()
        real_unfreeze()
