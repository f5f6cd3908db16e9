"""kb: an evidence and citation knowledge base for health articles.

The pipeline is four plain stages; each takes one typed object and returns the next::

    kb = load_kb("path/to/kb")        # folder -> KnowledgeBase (+ load diagnostics)
    problems = validate(kb)           # KnowledgeBase -> sorted list[Diagnostic]
"""

from .errors import ConfigError, Diagnostic, KbError, LoadError, Location, RenderError, Severity
from .export import export_document
from .load import load_kb
from .model import Article, Claim, Evidence, KnowledgeBase, Reference
from .validate import validate

__version__ = "0.1.0"

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
    "export_document",
    "load_kb",
    "validate",
]
