"""Keeping Python's cyclic garbage collector out of the way of big, long-lived allocations."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["freeze_loaded", "loaded_frozen", "paused_collector", "thaw_loaded"]


@contextmanager
def paused_collector() -> Iterator[None]:
    """Pause the cyclic collector while a block builds many objects that live on (the evidence graph,
    the site's view index, a big manifest). Each collection walks every container made so far, and at
    100,000 claims those walks were most of the time: building the graph 4.9 s -> 2.9 s, reading a
    20 MB manifest 2.4 s -> 0.2 s, the view index 3.8 s -> 2.2 s. Objects are still freed by reference
    counting as they go; only cycles wait for the collector, which runs again after the block (as it
    was: a block inside another leaves it paused).

    Within a command that froze what it loaded (``freeze_loaded``), what the block made is frozen with
    it when the block ends (and thawed with it, ``thaw_loaded``): otherwise the first collections after
    the block walk all of it once more, 0.8 s after the site's view index and page list at 100,000
    claims, to find nothing to free."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if _FROZEN:
                gc.freeze()
            gc.enable()


def freeze_loaded() -> None:
    """Keep the collector from walking every object alive now for the rest of the command (``gc.freeze``):
    for what a command loaded and keeps until it ends (kb/cli ``keep``). A loaded knowledge base or its index is
    hundreds of thousands of objects; without this, each collection set off later, by the imports and
    the graph a command needs after loading, walks all of them: at 100,000 claims that was 0.5-0.8 s of
    a 1.5-3 s ``kb why`` or quick ``kb build``. Frozen objects are still freed by reference counting;
    only reference cycles among them are kept until ``thaw_loaded`` (the end of ``kb.cli.main``)."""
    global _FROZEN
    gc.freeze()
    _FROZEN = True


#: Did ``freeze_loaded`` freeze, for ``thaw_loaded`` to undo?
_FROZEN = False


def loaded_frozen() -> bool:
    """Has ``freeze_loaded`` frozen, and ``thaw_loaded`` not yet thawed? Then what is made until the
    command ends may be frozen too (kb/site.py, before forking page workers), and thawed with it."""
    return _FROZEN


def thaw_loaded() -> None:
    """Undo ``freeze_loaded`` (``gc.unfreeze``) when the command is over, so that a caller running many
    commands in one process (tests, scripts) gets the memory of their cycles back; the ``kb`` command
    itself ends its process right after (kb.cli ``run``)."""
    global _FROZEN
    if _FROZEN:
        gc.unfreeze()
        _FROZEN = False
