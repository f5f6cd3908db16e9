"""Where the files shipped with kb live: templates/, schema/ and data/.

In an installed wheel they sit inside the package (``kb/templates``...); in a source checkout or an
editable install they are the top-level folders of the repository. One function finds both.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["resource_dir"]

_PACKAGE = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    """The folder of shipped resources called ``name`` (templates, schema or data)."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"kb is installed without its {name}/ folder; reinstall the package")
