"""kb's own citation styles, as pybtex plugins: ``vancouver`` and ``apa`` (plus the ``apa`` label style).

They are registered in two ways, so that ``--style vancouver`` works everywhere:

- entry points in pyproject.toml (group ``pybtex.style.formatting``), which any pybtex user of an
  installed kb sees, and
- ``pybtex.plugin.register_plugin`` when this package is imported, for a source checkout that was
  never installed (kb.cite imports it).

pybtex's own ``plain``, ``unsrt``, ``alpha`` and ``unsrtalpha`` stay available next to them.
"""

from __future__ import annotations

from pybtex.plugin import register_plugin

from .apa import ApaLabelStyle, ApaStyle
from .vancouver import VancouverStyle

__all__ = ["ApaLabelStyle", "ApaStyle", "VancouverStyle", "register"]

#: (plugin group, name, class) of every plugin kb provides.
PLUGINS = (
    ("pybtex.style.formatting", "vancouver", VancouverStyle),
    ("pybtex.style.formatting", "apa", ApaStyle),
    ("pybtex.style.labels", "apa", ApaLabelStyle),
)


def register() -> None:
    """Make kb's styles known to pybtex (harmless if the entry points already did)."""
    for group, name, cls in PLUGINS:
        register_plugin(group, name, cls)


register()
