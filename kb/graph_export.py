"""The evidence graph in the formats graph tools read: GraphML, GEXF, node-link JSON and DOT.

Every function takes the graph from ``graph.build_graph`` and returns text (``str``).

- GraphML (Gephi, Cytoscape, yEd, networkx): attribute values must be scalars, so lists are joined
  with ``"; "`` and missing values (None) are left out. GraphML node ids must be XML NMTOKENs, so a
  character outside that set (the ``/`` of ``section:<article>/<section>``) becomes ``.``; every
  node keeps its real id in the ``node_id`` attribute.
- GEXF (Gephi): the same flattened attributes; node ids are kept as they are.
- Both XML formats replace characters XML 1.0 cannot carry (control characters) by U+FFFD.
- node-link JSON: networkx's ``node_link_data`` with ``edges="edges"``. (``kb export --format json``
  is the whole knowledge-base document, see docs/export.md; this is the graph.)
- DOT (Graphviz): claims grouped by section in clusters, references coloured by study type, edges
  styled by relation. ``to_dot(g, drawing=True)`` leaves authors, venues and tags out and is what
  ``kb graph`` draws; the export keeps every node and edge and carries the data as ``kb_*`` attributes.
"""

from __future__ import annotations

import io
import json
import re
import textwrap
from typing import Any

import networkx as nx

from .model import RELATIONS

__all__ = [
    "EDGE_STYLES",
    "export_dot",
    "export_gexf",
    "export_graphml",
    "export_node_link",
    "STUDY_TYPE_COLOURS",
    "VERDICT_COLOURS",
    "flatten",
    "graphml_id",
    "to_dot",
    "to_gexf",
    "to_graphml",
    "to_node_link",
    "xml_safe",
]

#: Fill colour of reference nodes by study type (strong designs in greens, reviews in oranges); one
#: entry for each of kb.bib.STUDY_TYPES and "" (tests/test_graph_export.py checks they match).
STUDY_TYPE_COLOURS = {
    "cochrane-overview": "#1a9850",
    "systematic-review-meta-analysis": "#66bd63",
    "systematic-review": "#a6d96a",
    "guideline": "#d9ef8b",
    "position-statement": "#fee08b",
    "randomised-trial": "#abd9e9",
    "cohort-study": "#74add1",
    "cross-sectional": "#c6dbef",
    "narrative-review": "#fdae61",
    "other": "#d9d9d9",
    "": "#ffffff",
}
#: Fill colour of claim nodes by verdict; one entry for each of kb.model.VERDICTS (checked by the tests).
VERDICT_COLOURS = {
    "supported": "#e5f5e0",
    "overstated": "#fff3cd",
    "source-misdescribed": "#fde0dd",
    "unsupported": "#f4cccc",
    "uncited": "#eeeeee",
}
#: Graphviz edge attributes by relation (evidence links) or by rel (other edges).
EDGE_STYLES = {
    "supports": {"color": "#1a9850", "style": "solid", "penwidth": "2"},
    "partially-supports": {"color": "#66bd63", "style": "dashed", "penwidth": "1.5"},
    "disputes": {"color": "#d73027", "style": "bold", "penwidth": "2"},
    "mentions": {"color": "#999999", "style": "dotted", "penwidth": "1"},
    "derived_from": {"color": "#4575b4", "style": "solid", "arrowhead": "empty", "penwidth": "1.5"},
    "contains": {"color": "#cccccc", "style": "solid", "arrowhead": "none"},
    "authored_by": {"color": "#bbbbbb", "style": "solid", "arrowsize": "0.5"},
    "published_in": {"color": "#bbbbbb", "style": "dashed", "arrowsize": "0.5"},
    "tagged": {"color": "#bbbbbb", "style": "dotted", "arrowsize": "0.5"},
}

_NOT_NMTOKEN = re.compile(r"[^\w.\-:\u00b7]", re.UNICODE)


def _scalar(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


#: Characters XML 1.0 cannot carry at all (C0 controls other than tab/newline/CR, surrogates, U+FFFE/F).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(value: Any) -> Any:
    """Strings with characters XML cannot carry replaced by U+FFFD; other values unchanged."""
    return _NOT_XML.sub("\ufffd", value) if isinstance(value, str) else value


def flatten(g: nx.DiGraph, *, relabel=None, xml: bool = False) -> nx.DiGraph:
    """A copy whose attributes are all scalars (lists joined with "; ", None left out).

    ``relabel``: a function giving each node its new id (the old one is kept as ``node_id``).
    ``xml``: also replace characters that XML cannot carry (see ``xml_safe``).
    """
    keep_id = relabel is not None
    relabel = relabel or (lambda n: n)
    clean = xml_safe if xml else (lambda v: v)

    def attrs_of(data: dict) -> dict:
        return {k: clean(_scalar(v)) for k, v in data.items() if v is not None}

    h = nx.DiGraph()
    h.graph.update(attrs_of(g.graph))
    for n, data in g.nodes(data=True):
        attrs = attrs_of(data)
        if keep_id:
            attrs["node_id"] = clean(n)
        h.add_node(clean(relabel(n)), **attrs)
    for s, t, data in g.edges(data=True):
        h.add_edge(clean(relabel(s)), clean(relabel(t)), **attrs_of(data))
    return h


def graphml_id(node: str) -> str:
    """The GraphML id of a node: characters not allowed in an XML NMTOKEN become '.'."""
    return _NOT_NMTOKEN.sub(".", node)


def _graphml_relabel(g: nx.DiGraph):
    mapping = {}
    used: set[str] = set()
    for n in g.nodes:
        candidate = base = graphml_id(n)
        i = 1
        while candidate in used:
            i += 1
            candidate = f"{base}.{i}"
        used.add(candidate)
        mapping[n] = candidate
    return mapping.__getitem__


def to_graphml(g: nx.DiGraph) -> str:
    """GraphML 1.0 text, valid against the published GraphML schema."""
    buffer = io.BytesIO()
    nx.write_graphml(flatten(g, relabel=_graphml_relabel(g), xml=True), buffer, encoding="utf-8", prettyprint=True)
    return buffer.getvalue().decode("utf-8")


def to_gexf(g: nx.DiGraph) -> str:
    """GEXF 1.2 text (networkx's writer)."""
    buffer = io.BytesIO()
    nx.write_gexf(flatten(g, xml=True), buffer, encoding="utf-8", prettyprint=True)
    return buffer.getvalue().decode("utf-8")


def to_node_link(g: nx.DiGraph) -> str:
    """networkx node-link JSON (keys: directed, multigraph, graph, nodes, edges)."""
    try:
        data = nx.node_link_data(g, edges="edges")
    except TypeError:  # networkx < 3.4 names the keyword "link"
        data = nx.node_link_data(g, link="edges")
    return json.dumps(data, ensure_ascii=False, indent=2, default=_scalar) + "\n"


# ------------------------------------------------------------------------------------------ DOT

def _q(value: Any) -> str:
    """A DOT double-quoted escString (labels, tooltips): backslashes and quotes escaped, newlines as \\n."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return '"' + text.replace("\n", "\\n") + '"'


def _q_raw(value: Any) -> str:
    """A DOT double-quoted string for data (kb_*) attributes, which Graphviz keeps verbatim.

    Only quotes are escaped; a newline stays a newline. DOT cannot end a quoted string with a
    backslash, so a value ending in one gets a space appended (the one change to the data).
    """
    text = str(value).replace('"', '\\"')
    if text.endswith("\\"):
        text += " "
    return '"' + text + '"'


_ESCSTRING_ATTRS = {"label", "tooltip", "xlabel", "headlabel", "taillabel", "URL", "href", "id", "comment"}


def _attrs(attrs: dict[str, Any]) -> str:
    return "[" + ", ".join(f"{k}={_q(v) if k in _ESCSTRING_ATTRS or not k.startswith('kb_') else _q_raw(v)}"
                           for k, v in attrs.items() if v is not None and v != "") + "]"


def _wrap_id(text: str, width: int = 26) -> str:
    return "\n".join(textwrap.wrap(text, width=width, break_on_hyphens=True, break_long_words=True)) or text


def _data_attrs(data: dict) -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        if v is None:
            continue
        v = _scalar(v)
        out[f"kb_{k}"] = ("true" if v else "false") if isinstance(v, bool) else v
    return out


def _node_style(n: str, d: dict) -> dict[str, Any]:
    kind = d.get("kind")
    if kind == "claim":
        return {"label": _wrap_id(d["claim_id"]) + f"\n[{d['verdict']}]", "shape": "box", "style": "rounded,filled",
                "fillcolor": VERDICT_COLOURS.get(d.get("verdict"), "#ffffff"), "tooltip": d.get("text_en") or d.get("text_nl")}
    if kind == "reference":
        colour = STUDY_TYPE_COLOURS.get(d.get("study_type") or "", "#ffffff")
        extra = "" if d.get("verified") else "\n(unverified)"
        if d.get("retraction"):
            extra += f"\n{d['retraction'].upper()}"
        return {"label": f"{d['label']}\n{d.get('study_type') or 'study type unknown'}{extra}", "shape": "note",
                "style": "filled", "fillcolor": colour, "tooltip": d.get("title"),
                "color": "#d73027" if d.get("retraction") else "#333333"}
    if kind == "author":
        return {"label": d["label"], "shape": "ellipse", "fontsize": "9", "color": "#bbbbbb"}
    if kind == "venue":
        return {"label": d["label"], "shape": "folder", "fontsize": "9", "color": "#bbbbbb"}
    if kind == "tag":
        return {"label": f"#{d['label']}", "shape": "plaintext", "fontsize": "9"}
    if kind == "section":
        return {"label": d["label"], "shape": "plaintext", "fontsize": "9"}
    if kind == "article":
        return {"label": d["label"], "shape": "tab", "style": "bold"}
    return {"label": d.get("label", n), "shape": "box"}


def _edge_style(d: dict) -> dict[str, Any]:
    if d.get("rel") == "evidence":
        style = dict(EDGE_STYLES.get(d.get("relation"), {}))
        style["tooltip"] = f"{d.get('relation')}, certainty {d.get('certainty')}" + ("" if d.get("cited_in_article") else ", added by reviewer")
        if not d.get("cited_in_article"):
            style["arrowhead"] = "odot"
        return style
    return dict(EDGE_STYLES.get(d.get("rel"), {}))


def to_dot(g: nx.DiGraph, *, drawing: bool = False, all_nodes: bool = False) -> str:
    """DOT text. ``drawing``: the readable picture (claims, references and derived_from only,
    unless ``all_nodes``), without data attributes; otherwise every node and edge, with data."""
    shown_kinds = {"claim", "reference"} if drawing and not all_nodes else None

    def shown(n: str) -> bool:
        kind = g.nodes[n].get("kind")
        if shown_kinds is None:
            return True
        return kind in shown_kinds

    lines = [
        "digraph evidence {",
        f"  graph {_attrs({'label': g.graph.get('name', ''), 'labelloc': 't', 'rankdir': 'LR', 'fontname': 'Helvetica', 'compound': 'true', 'newrank': 'true', 'nodesep': '0.25', 'ranksep': '1.2'})};",
        f"  node {_attrs({'fontname': 'Helvetica', 'fontsize': '10'})};",
        f"  edge {_attrs({'fontname': 'Helvetica', 'fontsize': '8'})};",
    ]

    def node_line(n: str, indent: str) -> str:
        d = g.nodes[n]
        attrs = _node_style(n, d)
        if not drawing:
            attrs.update(_data_attrs(d))
        return f"{indent}{_q(n)} {_attrs(attrs)};"

    placed: set[str] = set()
    sections = sorted((n for n, d in g.nodes(data=True) if d.get("kind") == "section"),
                      key=lambda n: (g.nodes[n].get("article", ""), g.nodes[n].get("order", 0), n))
    for i, sid in enumerate(sections):
        sd = g.nodes[sid]
        members = sorted(t for t in g.successors(sid) if g.nodes[t].get("kind") == "claim")
        if not members and drawing:
            continue
        lines.append(f"  subgraph cluster_{i} {{")
        cluster = {"label": sd.get("title") or sd.get("section"), "style": "rounded", "color": "#999999",
                   "fontsize": "11", "tooltip": f"section {sd.get('section')}"}
        lines.append(f"    graph {_attrs(cluster)};")
        if not drawing:
            lines.append(node_line(sid, "    "))
            placed.add(sid)
        for cid in members:
            lines.append(node_line(cid, "    "))
            placed.add(cid)
        lines.append("  }")

    refs = sorted(n for n, d in g.nodes(data=True) if d.get("kind") == "reference")
    if refs:
        lines.append("  subgraph sources {")
        lines.append(f"    graph {_attrs({'rank': 'same'})};")
        for rid in refs:
            lines.append(node_line(rid, "    "))
            placed.add(rid)
        lines.append("  }")
    for n in sorted(g.nodes):
        if n not in placed and shown(n):
            lines.append(node_line(n, "  "))

    for s, t, d in sorted(g.edges(data=True), key=lambda e: (e[0], e[1])):
        if not (shown(s) and shown(t)):
            continue
        if drawing and d.get("rel") == "contains":
            continue
        attrs = _edge_style(d)
        if not drawing:
            attrs.update(_data_attrs(d))
        lines.append(f"  {_q(s)} -> {_q(t)} {_attrs(attrs)};")

    if drawing:
        lines += _legend(g)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _legend(g: nx.DiGraph) -> list[str]:
    """A legend cluster: the study-type and verdict colours in use, and the edge styles."""
    types = sorted({d.get("study_type") or "" for _, d in g.nodes(data=True) if d.get("kind") == "reference"})
    lines = ["  subgraph cluster_legend {", f"    graph {_attrs({'label': 'legend', 'style': 'dashed', 'color': '#bbbbbb', 'fontsize': '10'})};"]
    for i, st in enumerate(types):
        lines.append(f"    legend_type_{i} {_attrs({'label': st or 'study type unknown', 'shape': 'note', 'style': 'filled', 'fillcolor': STUDY_TYPE_COLOURS.get(st, '#ffffff'), 'fontsize': '9'})};")
    verdicts = [v for v in VERDICT_COLOURS if any(d.get("verdict") == v for _, d in g.nodes(data=True) if d.get("kind") == "claim")]
    for i, verdict in enumerate(verdicts):
        lines.append(f"    legend_verdict_{i} {_attrs({'label': f'claim: {verdict}', 'shape': 'box', 'style': 'rounded,filled', 'fillcolor': VERDICT_COLOURS[verdict], 'fontsize': '9'})};")
    for i, rel in enumerate((*RELATIONS, "derived_from")):
        a, b = f"legend_rel_{i}a", f"legend_rel_{i}b"
        lines.append(f"    {a} {_attrs({'label': '', 'shape': 'point', 'width': '0.05'})};")
        lines.append(f"    {b} {_attrs({'label': rel, 'shape': 'plaintext', 'fontsize': '9'})};")
        lines.append(f"    {a} -> {b} {_attrs(EDGE_STYLES[rel])};")
    lines.append("  }")
    return lines


# ------------------------------------------------------------------ kb export --format ... (fn(kb) -> str)

def export_graphml(kb) -> str:
    from .graph import build_graph
    return to_graphml(build_graph(kb))


def export_gexf(kb) -> str:
    from .graph import build_graph
    return to_gexf(build_graph(kb))


def export_node_link(kb) -> str:
    from .graph import build_graph
    return to_node_link(build_graph(kb))


def export_dot(kb) -> str:
    from .graph import build_graph
    return to_dot(build_graph(kb))
