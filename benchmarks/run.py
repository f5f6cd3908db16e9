#!/usr/bin/env python3
"""Time kb on synthetic knowledge bases of growing size; print a table, write JSON, draw a log-log plot.

    python benchmarks/run.py --sizes 1000,10000,100000

For each size N (with N/5 references) it generates a knowledge base (benchmarks/generate.py) and
times, each in a fresh process, wall clock including interpreter start-up, with the peak resident
memory of the process (or of its largest worker):

* ``floor``: read every file, parse every claim file with PyYAML's CSafeLoader and the BibTeX with
  pybtex, nothing else: what any tool that reads these files must pay;
* ``check cold``: ``kb check`` with no .kb-cache; ``check warm``: again, nothing changed;
* ``build cold``: ``kb build`` with no .kb-cache and no site;
* ``check after edit`` / ``build after edit``: after changing one claim file's verdict reason (a
  different file for each, so each pays for its own change): the reviewer's everyday edit, which a
  build meets with its quick update (kb/siteupdate.py);
* ``build after verdict edit``: after changing a third claim's verdict, which reaches the home page,
  a page of the claims index, the audit and the pages of the references it rests on (the quick
  update makes them from a part and the records the manifest keeps);
* ``why`` on a summary claim and ``impact`` on the most cited reference.

The floor, ``check cold`` and ``build cold`` run ``--repeat`` times (default 2), each from a clean
state, and so do the three operations after an edit, each run after an edit of its own; the fastest
run counts, as timeit does: the machine's own slow spells make a single run vary by 5-30 %, which is
more than the margin of some targets. ``check warm``, ``why`` and ``impact`` run once. kb runs from a
copy of the committed code, compiled to bytecode first as an installed kb is.

A command that does not exist in this kb is reported as "not available"; one that runs past
``--timeout`` as "timed out". The OS file cache is warm for every measurement (the files were
just written), so "cold" means "without kb's own cache". Needs matplotlib for the plot only
(benchmarks/requirements.txt); kb itself does not.
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import generate  # noqa: E402  (benchmarks/generate.py)

OPS = ["floor", "check cold", "check warm", "check after edit", "build cold", "build after edit", "build after verdict edit", "why",
       "impact"]

FLOOR = r"""
import os, sys, yaml
from pybtex.database.input.bibtex import Parser
root = sys.argv[1]
n = 0
for folder, suffixes in (("claims", (".yaml", ".yml")), ("articles", (".md",)), ("references", (".bib",))):
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
        for name in filenames:
            if not name.endswith(suffixes):
                continue
            with open(os.path.join(dirpath, name), "rb") as handle:
                raw = handle.read()
            if folder == "claims":
                yaml.load(raw, Loader=yaml.CSafeLoader)
            elif folder == "references":
                Parser().parse_string(raw.decode("utf-8"))
            n += 1
print(n)
"""


def run(argv: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run a command; wall time, peak RSS (KB, largest process of the tree) and exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd="/")
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    stderr = proc.stderr.read()  # until the child closes it
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = stderr.decode("utf-8", "replace")
    result = {"seconds": round(wall, 3), "peak_mb": round(usage.ru_maxrss / 1024, 1), "exit": proc.returncode}
    if timed_out.is_set():
        result.update(status="timed out", seconds=None)
    elif proc.returncode == 2 and "invalid choice" in text:
        result.update(status="not available", seconds=None)
    elif proc.returncode != 0:
        result.update(status=f"failed (exit {proc.returncode})", error=text.strip().splitlines()[-3:])
    else:
        result["status"] = "ok"
    return result


def kb_cmd(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kb", "--kb", str(root), *args]


def edit_claim(path: Path, note: str) -> None:
    """Change one claim file the way an editor would: a new verdict reason, same structure."""
    text = path.read_text(encoding="utf-8")
    text, count = re.subn(r'^verdict_reason: .*$', f'verdict_reason: "{note}"', text, count=1, flags=re.MULTILINE)
    assert count == 1, path
    path.write_text(text, encoding="utf-8")


def edit_verdict(path: Path) -> None:
    """Change one claim file's verdict (supported <-> overstated), the reason with it."""
    text = path.read_text(encoding="utf-8")
    old = re.search(r"^verdict: (\S+)$", text, flags=re.MULTILINE).group(1)
    new = "overstated" if old == "supported" else "supported"
    text = re.sub(r"^verdict: .*$", f"verdict: {new}", text, count=1, flags=re.MULTILINE)
    text = re.sub(r"^verdict_reason: .*$", f'verdict_reason: "Changed to {new} by the benchmark."', text, count=1, flags=re.MULTILINE)
    path.write_text(text, encoding="utf-8")


def pick_targets(root: Path) -> tuple[str, str, list[Path]]:
    """A summary claim (for why), the most cited reference (for impact), and three plain claim files to
    edit (for check, build, and a verdict change)."""
    summaries = sorted(root.glob("claims/*-conclusie-*.yaml"))
    counts: dict[str, int] = {}
    plain = []
    for path in sorted(root.glob("claims/a0000[0-9]-*.yaml"))[:400]:
        text = path.read_text(encoding="utf-8")
        for key in re.findall(r"^  - ref: (\S+)$", text, flags=re.MULTILINE):
            counts[key] = counts.get(key, 0) + 1
        if "-conclusie-" not in path.name:
            plain.append(path)
    why = (summaries[len(summaries) // 2] if summaries else plain[0]).stem
    impact = max(sorted(counts), key=counts.get)
    # the build edit: a supported claim, whose verdict reason only its own page and its article's show (the
    # audit shows the reason of other verdicts: kb.audit.REASON_SHOWN)
    supported = [p for p in plain[8:] if re.search(r"^verdict: supported$", p.read_text(encoding="utf-8"), flags=re.MULTILINE)]
    return why, impact, [plain[3], supported[0], plain[11] if plain[11] != supported[0] else plain[12]]


def freeze_code(workdir: Path) -> tuple[Path, str]:
    """A copy of the committed kb (git archive HEAD) to run against, so that edits made to the
    working tree while the benchmark runs (which invalidate kb's cache: it fingerprints kb's
    source) do not change what is measured. Falls back to the working tree without git."""
    code = workdir / "code"
    shutil.rmtree(code, ignore_errors=True)
    code.mkdir(parents=True)
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD", "kb", "schema", "templates", "data"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
        # compiled as an installed kb is (pip writes the .pyc files when it installs), so that no run pays for
        # compiling kb's modules again (Python writes none where PYTHONDONTWRITEBYTECODE is set)
        compileall.compile_dir(str(code / "kb"), quiet=1)
        return code, commit
    except (OSError, subprocess.CalledProcessError):
        shutil.rmtree(code, ignore_errors=True)
        return REPO, "working tree"


def fastest(runs: list[dict]) -> dict:
    """One result for repeated runs of the same command: the fastest (with every time, and the
    largest peak memory of them all), or the first that did not end well."""
    bad = [r for r in runs if r["status"] != "ok"]
    if bad:
        return bad[0]
    best = dict(min(runs, key=lambda r: r["seconds"]))
    if len(runs) > 1:
        best["runs_seconds"] = [r["seconds"] for r in runs]
        best["peak_mb"] = max(r["peak_mb"] for r in runs)
    return best


def bench_size(n: int, refs: int, seed: int, workdir: Path, timeout: float, build_timeout: float, code: Path,
               repeat: int = 1) -> dict:
    root = workdir / f"kb{n}"
    site = workdir / f"site{n}"
    t = time.perf_counter()
    stats = generate.generate(root, n, refs, seed)
    generated = time.perf_counter() - t
    print(f"\n{n:,} claims, {refs:,} references: generated in {generated:.1f} s", file=sys.stderr)
    env = dict(os.environ, PYTHONPATH=str(code) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("KB_CACHE", None)
    why_id, impact_key, (edit_a, edit_b, edit_c) = pick_targets(root)
    results: dict[str, dict] = {}

    def measure(name: str, argv: list[str], limit: float = timeout, times: int = 1, before=None) -> None:
        runs = []
        for _ in range(times):
            if before is not None:
                before()
            runs.append(run(argv, limit, env))
        results[name] = r = fastest(runs)
        shown = f"{r['seconds']:.2f} s" if r["seconds"] is not None else r["status"]
        every = f"  (runs: {', '.join(f'{t:.2f}' for t in r['runs_seconds'])} s)" if "runs_seconds" in r else ""
        print(f"  {name:<24} {shown:>14}  {r['peak_mb']:>7.0f} MB  {r['status'] if r['status'] != 'ok' else ''}{every}", file=sys.stderr)

    def clear() -> None:
        shutil.rmtree(root / ".kb-cache", ignore_errors=True)
        shutil.rmtree(site, ignore_errors=True)

    # the measurements that leave nothing behind once cleared are repeated (--repeat): the fastest counts
    measure("floor", [sys.executable, "-c", FLOOR, str(root)], times=repeat)
    measure("check cold", kb_cmd(root, "-q", "check"), times=repeat, before=clear)
    measure("check warm", kb_cmd(root, "-q", "check"))
    measure("build cold", kb_cmd(root, "-q", "build", "-o", str(site)), build_timeout, times=repeat, before=clear)
    # the build and the check after an edit each see exactly one changed file since the last run (a build
    # checks first, as kb check does); the verdict build sees the check's edit too (it reaches the audit either way).
    # Each is repeated (--repeat) with a new edit before every run, and the fastest run counts.
    runs = itertools.count(1)
    measure("build after edit", kb_cmd(root, "-q", "build", "-o", str(site)), build_timeout, times=repeat,
            before=lambda: edit_claim(edit_b, f"Edited by the benchmark (build, run {next(runs)})."))
    measure("check after edit", kb_cmd(root, "-q", "check"), times=repeat,
            before=lambda: edit_claim(edit_a, f"Edited by the benchmark (check, run {next(runs)})."))
    measure("build after verdict edit", kb_cmd(root, "-q", "build", "-o", str(site)), build_timeout, times=repeat,
            before=lambda: edit_verdict(edit_c))
    measure("why", kb_cmd(root, "why", why_id))
    measure("impact", kb_cmd(root, "impact", impact_key))
    return {"claims": n, "references": refs, "articles": stats["articles"], "evidence_links": stats["evidence"],
            "generate_seconds": round(generated, 2), "why": why_id, "impact": impact_key, "results": results}


def cpu_name() -> str:
    """The processor's model name (Linux), or what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(code: Path, commit: str) -> dict:
    cpu = cpu_name()
    memory = "unknown"
    try:
        kb_total = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f"{kb_total / 1024 / 1024:.1f} GB"
    except (OSError, AttributeError):
        pass
    sys.path.insert(0, str(code))
    import kb

    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": memory, "python": platform.python_version(), "platform": platform.platform(),
            "kb": kb.__version__, "commit": commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def slopes(runs: list[dict], first: int = -2) -> dict[str, float | None]:
    """Log-log slope of time against claims from ``runs[first]`` to the largest size (1 = linear, 2 = quadratic)."""
    out: dict[str, float | None] = {}
    if len(runs) < 2:
        return out
    a, b = runs[first], runs[-1]
    for op in OPS:
        ta, tb = a["results"].get(op, {}).get("seconds"), b["results"].get(op, {}).get("seconds")
        out[op] = round(math.log(tb / ta) / math.log(b["claims"] / a["claims"]), 2) if ta and tb else None
    return out


def table(runs: list[dict]) -> str:
    """A Markdown table: time, time / floor, and peak memory for each operation and size."""
    sizes = [f"{r['claims']:,}" for r in runs]
    slope, whole = slopes(runs), slopes(runs, 0)
    head = "| operation | " + " | ".join(f"{s} claims" for s in sizes) + " | slope, last step | slope, whole range |"
    lines = [head, "|---" * (len(sizes) + 3) + "|"]
    for op in OPS:
        cells = []
        for r in runs:
            res = r["results"].get(op)
            if res is None:
                cells.append("not run")
            elif res["seconds"] is None or res["status"] != "ok":
                cells.append(res["status"])
            else:
                floor = r["results"]["floor"]["seconds"]
                ratio = "" if op == "floor" else f" ({res['seconds'] / floor:.2f}x)"
                cells.append(f"{res['seconds']:.2f} s{ratio}, {res['peak_mb']:.0f} MB")
        s, w = slope.get(op), whole.get(op)
        lines.append(f"| {op} | " + " | ".join(cells) + f" | {s if s is not None else ''} | {w if w is not None else ''} |")
    return "\n".join(lines)


def plot(runs: list[dict], out: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -r benchmarks/requirements.txt): no plot", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    xs = [r["claims"] for r in runs]
    for op in OPS:
        pts = [(r["claims"], r["results"].get(op, {}).get("seconds")) for r in runs]
        pts = [(x, y) for x, y in pts if y]
        if pts:
            style = dict(color="black", linewidth=2.5, linestyle="--") if op == "floor" else {}
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=op, **style)
    if len(xs) > 1:  # a linear reference line through the first floor point
        y0 = runs[0]["results"]["floor"]["seconds"]
        ax.plot(xs, [y0 * x / xs[0] for x in xs], color="grey", linewidth=0.8, linestyle=":", label="linear growth")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("claims (references = claims / 5)")
    ax.set_ylabel("wall time, s (incl. start-up)")
    ax.set_title("kb on synthetic knowledge bases")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return True


def targets(data: dict) -> str:
    """The issue's targets at the largest size measured, against what was measured."""
    run = data["runs"][-1]
    res = run["results"]
    floor = res["floor"]["seconds"]

    def seconds(op):
        r = res.get(op, {})
        return r.get("seconds") if r.get("status") == "ok" else None

    def shown(op):
        r = res.get(op, {})
        return f"{r['seconds']:.2f} s" if r.get("status") == "ok" else r.get("status", "not run")

    rows = []
    cold = seconds("check cold")
    rows.append(("`kb check` cold <= 1.2 x floor", f"{shown('check cold')} = {cold / floor:.2f} x floor ({floor:.2f} s)" if cold else shown("check cold"),
                 cold is not None and cold <= 1.2 * floor))
    for op, limit, label in (("check warm", 1, "`kb check` warm < 1 s"), ("check after edit", 1, "`kb check` after one edit < 1 s"),
                             ("build after edit", 3, "`kb build` after one edit < 3 s (a verdict reason)"),
                             ("build after verdict edit", 3, "`kb build` after one edit < 3 s (a verdict)"),
                             ("build cold", 60, "`kb build` cold < 60 s")):
        t = seconds(op)
        rows.append((label, shown(op) if t is not None else f"{shown(op)} (limit {data.get('build_timeout', '?')} s)" if op.startswith("build") else shown(op),
                     t is not None and t < limit))
    peak = max((r.get("peak_mb") or 0) for r in res.values())
    rows.append(("peak memory < 1.5 GB", f"{peak:.0f} MB (largest process)", peak < 1536))
    lines = [f"Targets at {run['claims']:,} claims and {run['references']:,} references:", "",
             "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {'yes' if ok else 'no'} |" for t, m, ok in rows]
    return "\n".join(lines)


def update_docs(doc: Path, data: dict) -> None:
    """Replace the block between the result markers in docs/performance.md with the measured figures."""
    m = data["machine"]
    block = "\n".join([
        "<!-- results: written by benchmarks/run.py --update-docs; do not edit by hand -->",
        f"Measured {m['date']} at commit `{m['commit']}` (kb {m['kb']}) on: {m['nproc']} cores, {m['cpu']}, "
        f"{m['memory']} memory, Python {m['python']}, {m['platform']}. The whole run took {data.get('total_seconds', 0):.0f} s.",
        "",
        "Each cell: wall time including start-up (time divided by the floor), peak memory of the largest process"
        + (f"; every operation but `check warm`, `why` and `impact` ran {data['repeat']} times, and the fastest run counts (every "
           "time is in performance.json, the memory is the largest of the runs). " if data.get("repeat", 1) > 1 else ". ")
        + "Slope: log-log slope of time against size (1 = linear, 2 = quadratic), between the two largest sizes and "
        "between the smallest and the largest; start-up time (about 0.3 s) flattens the slope of quick operations.",
        "",
        table(data["runs"]),
        "",
        targets(data),
        "",
        "`why` ran on " + ", ".join(f"`{r['why']}`" for r in data["runs"]) + "; `impact` on "
        + ", ".join(f"`{r['impact']}`" for r in data["runs"]) + ".",
        "<!-- results end -->",
    ])
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    marked = between_markers(text, "<!-- results:", "<!-- results end -->", block)
    doc.write_text(marked if marked is not None else text.rstrip() + "\n\n" + block + "\n", encoding="utf-8")


def between_markers(text: str, start: str, end: str, block: str) -> str | None:
    """``text`` with the part from the marker ``start`` to the marker ``end`` (both included) replaced by
    ``block``; None when either marker is missing."""
    first, last = text.find(start), text.find(end)
    if first < 0 or last < 0:
        return None
    return text[:first] + block + text[last + len(end):]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="claim counts, comma-separated (default 1000,10000,100000)")
    parser.add_argument("--refs-per-claim", type=float, default=0.2, help="references per claim (default 0.2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default="/tmp/kb-bench", help="where the knowledge bases are generated (default /tmp/kb-bench)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds before a command is stopped (default 300)")
    parser.add_argument("--build-timeout", type=float, default=300, help="the same for kb build (default 300)")
    parser.add_argument("--json", default=str(REPO / "docs" / "performance.json"), help="results file (default docs/performance.json)")
    parser.add_argument("--plot", default=str(REPO / "docs" / "performance.png"), help="plot file (default docs/performance.png)")
    parser.add_argument("--update-docs", action="store_true", help="write the table into docs/performance.md")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each operation but check warm, why and impact at each size, of which the fastest counts (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the generated knowledge bases")
    parser.add_argument("--from-json", metavar="FILE", help="measure nothing: redo the table, plot and docs from a results file")
    args = parser.parse_args(argv)
    if args.from_json:
        data = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        print(table(data["runs"]))
        plot(data["runs"], Path(args.plot))
        if Path(args.from_json).resolve() != Path(args.json).resolve():
            Path(args.json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        if args.update_docs:
            update_docs(REPO / "docs" / "performance.md", data)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    code, commit = freeze_code(workdir)
    print(f"running kb from {code} (commit {commit})", file=sys.stderr)
    data = {"machine": machine(code, commit), "runs": []}
    for n in sizes:
        data["runs"].append(bench_size(n, max(1, round(n * args.refs_per_claim)), args.seed, workdir, args.timeout, args.build_timeout, code,
                                       max(1, args.repeat)))
        if not args.keep:
            shutil.rmtree(workdir / f"kb{n}", ignore_errors=True)
            shutil.rmtree(workdir / f"site{n}", ignore_errors=True)
    data["total_seconds"] = round(time.perf_counter() - started, 1)
    data["build_timeout"] = args.build_timeout
    data["timeout"] = args.timeout
    data["repeat"] = max(1, args.repeat)
    data["slopes"] = slopes(data["runs"])
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print("\n" + table(data["runs"]))
    print(f"\nwhole run: {data['total_seconds']:.0f} s; results in {args.json}", file=sys.stderr)
    if plot(data["runs"], Path(args.plot)):
        print(f"plot in {args.plot}", file=sys.stderr)
    if args.update_docs:
        update_docs(REPO / "docs" / "performance.md", data)
        print("docs/performance.md updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
