"""kb: an evidence and citation knowledge base for health articles.

The pipeline is four plain stages; each takes one typed object and returns the next::

    kb = load_kb("path/to/kb")        # folder -> KnowledgeBase (+ load diagnostics)
    problems = validate(kb)           # KnowledgeBase -> sorted list[Diagnostic]
    g = build_graph(kb)               # KnowledgeBase -> networkx.DiGraph (why, impact, stats)
    build_site(kb, g, "build/")       # -> the static site; or build_audit / render_handout

The graph, site, audit and handout stages import networkx, Jinja2 and pybtex's formatting, so they
are loaded on first use (PEP 562) and ``kb check`` starts fast.
"""

from importlib import import_module as _import_module


from .errors import ConfigError, Diagnostic, KbError, LoadError, Location, RenderError, Severity
from .export import export_document
from .load import load_kb
from .model import Article, Claim, Evidence, KnowledgeBase, Reference
from .validate import validate

__version__ = "0.1.0"

#: Public names provided by the later, heavier stages: name -> module.
_LAZY = {
    "build_graph": "graph",
    "why": "graph",
    "impact": "graph",
    "stats": "graph",
    "build_site": "site",
    "build_audit": "audit",
    "build_handout": "handout",
    "render_handout": "handout",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(_import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'kb' has no attribute {name!r}")


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
