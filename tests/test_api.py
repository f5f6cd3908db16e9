"""The public API is exactly what kb.__all__ says."""

import kb


def test_all_names_exist():
    for name in kb.__all__:
        assert hasattr(kb, name), name


def test_public_api_is_documented_set():
    public = {n for n in dir(kb) if not n.startswith("_") and not isinstance(getattr(kb, n), type(kb))}
    assert public <= set(kb.__all__) | {"annotations"}
