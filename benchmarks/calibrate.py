#!/usr/bin/env python3
"""How fast is this machine at what kb is made of? The reference figures of issue #7, measured here.

    python benchmarks/calibrate.py --update-docs

Issue #7 set kb's targets on a 2-core machine on which it also measured the building blocks kb uses
(PyYAML, pybtex, networkx, Jinja2) at 100,000 claims and 20,000 references. This script times the
same operations on this machine, on a knowledge base made by benchmarks/generate.py (100,000 claims,
20,000 references, seed 1, unless ``--kb`` names one already made; the figures of another size are
scaled linearly to the issue's), each in this one process and without kb, and prints each figure next to the issue's, with their ratio: how much slower or faster
this machine is at the same work, so that a reader can tell a slow machine from slow code. The
ratios say nothing about whether a target is met; ``benchmarks/run.py`` measures kb against the
targets as they are written.

What is timed (fastest of ``--repeat`` runs, default 2):

* reading the bytes of every claim file;
* parsing every claim file with PyYAML's libyaml-backed ``CSafeLoader``;
* parsing claim files with PyYAML's pure-Python ``SafeLoader`` (a sample of ``--sample`` files,
  default 10,000, scaled to all of them: the whole would take minutes);
* parsing the BibTeX file with pybtex;
* formatting references with pybtex's ``unsrt`` style and plain-text backend (a sample of
  ``--sample`` / 5 entries, scaled to all of them);
* building a networkx DiGraph of 120,000 nodes and 250,000 edges (seeded random edges);
* rendering 100,000 claim rows (id, text, verdict) to HTML with an autoescaping Jinja2 template.

``--update-docs`` writes the table between the calibration markers of docs/performance.md.
"""

from __future__ import annotations

import argparse
import gc
import glob
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402  (benchmarks/generate.py)
from run import between_markers, cpu_name  # noqa: E402  (benchmarks/run.py)

#: The sizes of issue #7's figures; measured on another size, a figure is scaled to them (linearly).
CLAIMS, REFERENCES = 100_000, 20_000
#: The figures issue #7 gives "on this kind of machine (2 cores)", in seconds, for 100,000 claims and
#: 20,000 references (formatting: 1.8 ms an entry).
ISSUE_SECONDS = {
    "read": 1.1,
    "csafe": 7.5,
    "safe": 52.0,
    "pybtex parse": 5.7,
    "pybtex format": 35.0,
    "networkx": 1.4,
    "jinja2": 3.3,
}
LABELS = {
    "read": "read the bytes of 100,000 claim files",
    "csafe": "parse them with PyYAML `CSafeLoader`",
    "safe": "parse them with PyYAML `SafeLoader` (pure Python)",
    "pybtex parse": "parse 20,000 BibTeX entries with pybtex",
    "pybtex format": "format 20,000 entries with a pybtex style",
    "networkx": "networkx graph of 120,000 nodes, 250,000 edges",
    "jinja2": "Jinja2: 100,000 claim rows to HTML",
}
ROWS = """{%- for c in claims %}<tr><td><a href="claims/{{ c.id }}.html">{{ c.id }}</a></td><td>{{ c.text }}</td><td class="v-{{ c.verdict }}">{{ c.verdict }}</td></tr>
{% endfor %}"""


def best(function, repeat: int) -> float:
    """The fastest of ``repeat`` timed calls of ``function`` (the collector off while timing, as timeit does)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def measure(root: Path, repeat: int, sample: int, *, nodes: int = 120_000, edges: int = 250_000,
            rows: int = 100_000) -> tuple[dict[str, float], dict[str, int]]:
    """(seconds of each operation of ``ISSUE_SECONDS`` on the knowledge base at ``root``, how many files
    and entries the two sampled ones ran on). The graph and the rows are at the issue's sizes unless told
    otherwise (the tests make them small)."""
    import jinja2
    import networkx
    import yaml
    from pybtex.database.input.bibtex import Parser
    from pybtex.plugin import find_plugin

    files = sorted(glob.glob(str(root / "claims" / "**" / "*.yaml"), recursive=True))
    bib = next((root / "references").glob("*.bib")).read_text(encoding="utf-8")
    seconds: dict[str, float] = {}

    def read_all() -> list[bytes]:
        out = []
        for name in files:
            with open(name, "rb") as handle:
                out.append(handle.read())
        return out

    raws = read_all()
    data = Parser().parse_string(bib)
    entries = list(data.entries.values())
    per_claim, per_entry = CLAIMS / len(raws), REFERENCES / len(entries)  # scaled to the issue's sizes
    seconds["read"] = best(read_all, repeat) * per_claim
    seconds["csafe"] = best(lambda: [yaml.load(raw, Loader=yaml.CSafeLoader) for raw in raws], repeat) * per_claim
    part = raws[:sample]
    seconds["safe"] = best(lambda: [yaml.load(raw, Loader=yaml.SafeLoader) for raw in part], repeat) * CLAIMS / len(part)
    seconds["pybtex parse"] = best(lambda: Parser().parse_string(bib), repeat) * per_entry
    few = entries[:max(1, sample // 5)]
    style, backend = find_plugin("pybtex.style.formatting", "unsrt")(), find_plugin("pybtex.backends", "text")()
    seconds["pybtex format"] = best(lambda: [e.text.render(backend) for e in style.format_entries(few)], repeat) * REFERENCES / len(few)
    rng = random.Random(1)
    pairs = [(rng.randrange(nodes), rng.randrange(nodes)) for _ in range(edges)]

    def graph() -> None:
        g = networkx.DiGraph()
        g.add_nodes_from(range(nodes))
        g.add_edges_from(pairs)

    seconds["networkx"] = best(graph, repeat)
    claims = [{"id": f"c{n:06d}", "text": f"Krachttraining <helpt> bij pijn & stijfheid {n}", "verdict": "supported"} for n in range(rows)]
    template = jinja2.Environment(autoescape=True).from_string(ROWS)
    seconds["jinja2"] = best(lambda: template.render(claims=claims), repeat)
    return seconds, {"claims": len(raws), "references": len(entries), "safe": len(part), "pybtex format": len(few)}


def table(seconds: dict[str, float]) -> tuple[str, float]:
    lines = ["| operation | issue #7 | this machine | this machine / issue |", "|---|---|---|---|"]
    ratios = []
    for key, label in LABELS.items():
        ratio = seconds[key] / ISSUE_SECONDS[key]
        ratios.append(ratio)
        lines.append(f"| {label} | {ISSUE_SECONDS[key]:.1f} s | {seconds[key]:.1f} s | {ratio:.2f} |")
    return "\n".join(lines), statistics.median(ratios)


def update_docs(doc: Path, text: str) -> None:
    start_marker, end_marker = "<!-- calibration:", "<!-- calibration end -->"
    marked = between_markers(doc.read_text(encoding="utf-8"), start_marker, end_marker, text)
    if marked is None:
        raise SystemExit(f"{doc}: no calibration markers ({start_marker} ... {end_marker})")
    doc.write_text(marked, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kb", help="a knowledge base made by benchmarks/generate.py (default: make one in --workdir)")
    parser.add_argument("--workdir", default="/tmp/kb-bench", help="where to make it (default /tmp/kb-bench)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each measurement; the fastest counts (default 2)")
    parser.add_argument("--sample", type=int, default=10_000, help="claim files parsed with the pure-Python loader (default 10,000)")
    parser.add_argument("--update-docs", action="store_true", help="write the table into docs/performance.md")
    args = parser.parse_args(argv)
    if args.kb:
        root = Path(args.kb)
    else:
        root = Path(args.workdir) / "kb-calibrate"
        generate.generate(root, 100_000, 20_000, 1)
    started = time.perf_counter()
    seconds, sampled = measure(root, max(1, args.repeat), max(1, args.sample))
    rows, median = table(seconds)
    cpu = cpu_name()
    text = "\n".join([
        "<!-- calibration: written by benchmarks/calibrate.py --update-docs; do not edit by hand -->",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
        f"on a knowledge base of {sampled['claims']:,} claims and {sampled['references']:,} references (the fastest of "
        f"{args.repeat} runs; the pure-Python loader on {sampled['safe']:,} files and the formatting on "
        f"{sampled['pybtex format']:,} entries; every figure scaled to {CLAIMS:,} claims and {REFERENCES:,} references; "
        f"{time.perf_counter() - started:.0f} s in all):",
        "",
        rows,
        "",
        f"Median ratio: {median:.2f}.",
        "<!-- calibration end -->",
    ])
    print(text)
    if args.update_docs:
        update_docs(REPO / "docs" / "performance.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
