"""kb's own citation styles, as pybtex plugins: ``vancouver`` and ``apa`` (plus the ``apa`` label style).

They are registered in two ways, so that ``--style vancouver`` works everywhere:

- entry points in pyproject.toml (group ``pybtex.style.formatting``), which any pybtex user of an
  installed kb sees, and
- ``pybtex.plugin.register_plugin`` when this package is imported, for a source checkout that was
  never installed (kb.cite imports it).

pybtex's own ``plain``, ``unsrt``, ``alpha`` and ``unsrtalpha`` stay available next to them.

kb itself finds its own styles and pybtex's four by name (``kb.cite.get_style``), their parts (name,
label and sorting styles) and pybtex's backends by class or module, never through pybtex's ``find_plugin``: that
reads the entry points of every installed package on each call (13-20 ms on a 2-core machine), and a
build made eight such calls.
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
    """Make kb's styles known to pybtex where the entry points do not (a source checkout). One reading
    of every installed package's entry points (13-20 ms on a 2-core machine): ``register_plugin``
    reads them all again for each plugin, even with ``force``."""
    from importlib.metadata import entry_points

    points = entry_points()
    for group, name, cls in PLUGINS:
        if not points.select(group=group, name=name):
            register_plugin(group, name, cls)


register()
