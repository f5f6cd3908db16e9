"""kb: an evidence and citation knowledge base for health articles.

The pipeline is four plain stages; each takes one typed object and returns the next::

    kb = load_kb("path/to/kb")        # folder -> KnowledgeBase (+ load diagnostics)
    problems = validate(kb)           # KnowledgeBase -> sorted list[Diagnostic]
    g = build_graph(kb)               # KnowledgeBase -> networkx.DiGraph (why, impact, stats)
    build_site(kb, g, "build/")       # -> the static site; or build_audit / render_handout

Every public name is loaded on first use (PEP 562): ``import kb`` itself imports nothing, so ``kb check``
starts fast (the graph, site, audit and handout stages import networkx, Jinja2 and pybtex's formatting)
and the ``kb`` command is ready to take Ctrl-C within milliseconds (kb/cli ``run``).
"""

import sys as _sys
from importlib import import_module as _import_module
from types import ModuleType as _ModuleType

__version__ = "0.1.0"

#: Public name -> the module that provides it.
_LAZY = {
    **dict.fromkeys(("ConfigError", "Diagnostic", "KbError", "LoadError", "Location", "RenderError", "Severity"), "errors"),
    "export_document": "export",
    "load_kb": "load",
    **dict.fromkeys(("Article", "Claim", "Evidence", "KnowledgeBase", "Reference"), "model"),
    "validate": "validate",
    **dict.fromkeys(("build_graph", "why", "impact", "stats"), "graph"),
    "build_site": "site",
    "build_audit": "audit",
    **dict.fromkeys(("build_handout", "render_handout"), "handout"),
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(_import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'kb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(_ModuleType):
    """kb itself: ``kb.validate`` is always the function, as when this file imported it, never the module
    kb/validate.py of the same name, which the import system sets as the package's attribute ``validate``
    once it has been loaded (by whatever loaded it)."""

    @property
    def validate(self):
        from .validate import validate

        return validate

    @validate.setter
    def validate(self, module) -> None:
        pass  # the module kb.validate: reached through sys.modules, as every submodule can be


_sys.modules[__name__].__class__ = _Package


__all__ = [
    "Article",
    "Claim",
    "ConfigError",
    "Diagnostic",
    "Evidence",
    "KbError",
    "KnowledgeBase",
    "LoadError",
    "Location",
    "Reference",
    "RenderError",
    "Severity",
    "__version__",
    "build_audit",
    "build_graph",
    "build_handout",
    "build_site",
    "impact",
    "render_handout",
    "stats",
    "why",
    "export_document",
    "load_kb",
    "validate",
]
