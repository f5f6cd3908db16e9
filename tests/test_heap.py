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
