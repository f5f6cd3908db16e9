"""A knowledge-base file that is a symbolic link to a file outside the knowledge base is not read
(kb/inputs.py): a claim file linked to a secret was read and quoted back in an error message, which a
CI log shows to anyone. A link within the knowledge base is read as before."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import age, make_kb

SECRET = "SECRET_TOKEN=abc123"
MESSAGE = "cannot read file: a symbolic link to a file outside the knowledge base"


@pytest.fixture(autouse=True)
def _own_cache_key(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # never the user's ~/.cache


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(SECRET + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("cache", ["1", "0"])
@pytest.mark.parametrize("name", ["claims/leak.yaml", "references/leak.bib", "articles/leak.md", "kb.yaml"])
def test_a_link_to_a_file_outside_is_not_read(mini_kb, run_kb, secret, monkeypatch, name, cache):
    monkeypatch.setenv("KB_CACHE", cache)
    link = mini_kb / name
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    code, out, err = run_kb(mini_kb, "check")
    assert code == 1 and SECRET not in out + err and "Traceback" not in err
    assert f"{name}: error: {MESSAGE}; copy the file into the knowledge base instead of linking to it [unreadable]" in err.splitlines()


def test_a_link_within_the_knowledge_base_is_read(mini_kb, run_kb):
    claim = next((mini_kb / "claims").glob("*.yaml"))
    shared = mini_kb / "shared" / claim.name
    shared.parent.mkdir()
    shutil.move(claim, shared)
    claim.symlink_to(os.path.relpath(shared, claim.parent))
    code, out, err = run_kb(mini_kb, "check")
    assert code == 0, err


def test_a_link_pointed_outside_after_it_was_cached_is_not_read(mini_kb, run_kb, secret):
    """The cache kept the claim read through a link within the knowledge base; the link then names the
    secret (another inode: the walk sees a change, and the file is read again, or not)."""
    claim = next((mini_kb / "claims").glob("*.yaml"))
    shared = mini_kb / "shared.yaml"
    shutil.move(claim, shared)
    claim.symlink_to(shared)
    age(mini_kb)
    assert run_kb(mini_kb, "check")[0] == 0
    assert run_kb(mini_kb, "check")[0] == 0  # from the cache
    claim.unlink()
    claim.symlink_to(secret)
    code, out, err = run_kb(mini_kb, "check")
    assert code == 1 and SECRET not in out + err
    assert f"claims/{claim.name}: error: {MESSAGE}; copy the file into the knowledge base instead of linking to it [unreadable]" in err.splitlines()
