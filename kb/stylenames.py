"""The names of the citation styles that are always there, known without importing pybtex.

``kb check`` reads ``style:`` in kb.yaml and must say whether the style exists. For the styles named
here (pybtex's own four and kb's two) it can say so at once; only another name needs the installed
plugins searched (``kb.cite.style_names``), which imports pybtex's formatting machinery and kb's
styles and reads every installed package's entry points: about 0.07 s of a cold ``kb check`` of a
small knowledge base. kb.cite makes the styles themselves from these tables.
"""

from __future__ import annotations

__all__ = ["FIXED_STYLES", "OWN_STYLES", "PYBTEX_STYLES"]

#: pybtex's own formatting styles: (module of pybtex.style.formatting, and the modules of the name,
#: label and sorting styles each uses: its own ``default_*_style`` or pybtex's default), so that
#: kb.cite makes each from its classes without pybtex's search of every package's entry points;
#: tests/test_styles.py checks that they are what ``find_plugin`` makes of the names.
PYBTEX_STYLES = {
    "plain": ("plain", "plain", "number", "author_year_title"),
    "unsrt": ("unsrt", "plain", "number", "none"),
    "alpha": ("alpha", "plain", "alpha", "author_year_title"),
    "unsrtalpha": ("unsrtalpha", "plain", "alpha", "none"),
}
#: kb's own formatting styles (kb/styles ``PLUGINS``; tests/test_styles.py checks that they agree).
OWN_STYLES = ("vancouver", "apa")
#: The styles that are always there. Others come from installed plugins.
FIXED_STYLES = frozenset(PYBTEX_STYLES) | frozenset(OWN_STYLES)
