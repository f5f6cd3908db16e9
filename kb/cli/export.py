"""kb export: the knowledge base in machine-readable formats."""

from __future__ import annotations

from ..export import export_document
from ._common import add_output_options, emit, load_valid, to_json

#: format name -> function(kb) -> str | bytes. Other modules add graph and bibliography formats.
EXPORTERS = {"json": lambda kb: to_json(export_document(kb))}
EXPORTERS["graphml"] = lambda kb: __import__("kb.graph_export", fromlist=["x"]).export_graphml(kb)
EXPORTERS["gexf"] = lambda kb: __import__("kb.graph_export", fromlist=["x"]).export_gexf(kb)
EXPORTERS["node-link"] = lambda kb: __import__("kb.graph_export", fromlist=["x"]).export_node_link(kb)
EXPORTERS["dot"] = lambda kb: __import__("kb.graph_export", fromlist=["x"]).export_dot(kb)
EXPORTERS["turtle"] = lambda kb: __import__("kb.rdf", fromlist=["x"]).export_turtle(kb)
EXPORTERS["jsonld"] = lambda kb: __import__("kb.rdf", fromlist=["x"]).export_jsonld(kb)
EXPORTERS["csl-json"] = lambda kb: __import__("kb.importers", fromlist=["x"]).export_csl_json(kb)
EXPORTERS["bibtex"] = lambda kb: __import__("kb.importers", fromlist=["x"]).export_bibtex(kb)
EXPORTERS["ris"] = lambda kb: __import__("kb.importers", fromlist=["x"]).export_ris(kb)


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export the knowledge base (json, ...)",
                              description="Export the whole knowledge base. json: claims and references, normalised and resolved (docs/export.md). graphml, gexf, node-link, dot: the evidence graph; turtle, jsonld: RDF with CiTO, BIBO, PROV (docs/graph.md). csl-json, bibtex, ris: the references (docs/references.md).")
    add_output_options(p, sorted(EXPORTERS), "json")
    p.set_defaults(handler=cmd_export)


def cmd_export(args) -> int:
    kb = load_valid(args)
    emit(args, EXPORTERS[args.format](kb))
    return 0
