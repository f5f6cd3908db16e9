"""Helpers shared by the subcommand modules: loading, printing diagnostics, writing output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterable

from ..errors import ConfigError, Diagnostic, KbError, Severity
from ..heap import freeze_loaded, paused_collector
from ..load import load_kb
from ..model import KnowledgeBase
from ..output import write_atomic
from ..validate import validate

__all__ = ["add_output_options", "changing_references", "check_templates_dir", "emit", "graph_for", "has_errors", "keep", "load_checked", "load_valid",
           "print_diagnostics", "summary_line", "to_json", "told_lock"]

#: The big objects of the running command (see ``keep``).
_KEPT: list = []


def keep(*objects) -> None:
    """Keep the knowledge base and graph of the running command alive until the process ends.

    ``kb`` (``kb.cli.run``) ends the process with ``os._exit`` once the command is done: freeing a
    100,000-claim knowledge base object by object takes seconds and gains nothing. That only helps if
    they are not freed first, when the command's function returns. Only the last command's objects
    are kept (tests run many commands in one process)."""
    _KEPT[:] = objects


def summary_line(diagnostics: Iterable[Diagnostic]) -> str:
    diagnostics = list(diagnostics)
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def print_diagnostics(diagnostics: list[Diagnostic], *, quiet: bool = False) -> None:
    for d in diagnostics:
        if quiet and d.severity is not Severity.ERROR:
            continue
        print(d, file=sys.stderr)
    if diagnostics and not quiet:
        print(summary_line(diagnostics), file=sys.stderr)


def load_checked(args, *, ignore: Iterable[str] = ()) -> tuple[KnowledgeBase, list[Diagnostic]]:
    """Load and validate the knowledge base named by --kb; returns it with its diagnostics."""
    with paused_collector():  # what loading and validating make lives on (kept, then frozen): see kb/heap.py
        kb = load_kb(args.kb)
        keep(kb)
        ignored = set(ignore)
        diagnostics = [d for d in validate(kb) if d.code not in ignored]
    freeze_loaded()  # it lives until the command ends (keep): see kb/heap.py
    return kb, diagnostics


def load_valid(args) -> KnowledgeBase:
    """Load and validate; print the errors and raise KbError if there are any (warnings pass)."""
    kb, diagnostics = load_checked(args)
    if has_errors(diagnostics):
        print_diagnostics([d for d in diagnostics if d.severity is Severity.ERROR])
        raise KbError("the knowledge base has errors; fix them first (kb check)")
    return kb


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def add_output_options(parser, formats: list[str], default: str) -> None:
    parser.add_argument("--format", choices=formats, default=default, help=f"output format (default: {default})")
    parser.add_argument("-o", "--output", metavar="FILE", type=name("a file name"), help="write to FILE instead of standard output (atomically)")
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def check_templates_dir(args) -> None:
    """ConfigError if ``--templates DIR`` was given and DIR is not a folder."""
    if args.templates and not Path(args.templates).is_dir():
        state = "is not a folder" if Path(args.templates).exists() else "does not exist"
        raise ConfigError(f"template folder {args.templates!r} {state}")


def check_style(args) -> None:
    """ConfigError naming the styles there are if ``--style`` names none, before any work: whether or not
    the command gets to format a reference (a claim without evidence, ``--format json``)."""
    if getattr(args, "style", None):
        from ..cite import get_style

        get_style(args.style)


def year(value: str) -> int:
    """``--as-of YEAR``: a four-digit year (argparse turns the ValueError into a usage error, exit 2)."""
    if not (value.isascii() and value.isdigit() and len(value) == 4 and value[0] != "0"):
        raise ValueError(value)
    return int(value)


year.__name__ = "year"  # argparse names the type in its message: "invalid year value: '-5'"


def name(what: str):
    """The argparse type of an option that names one thing (``--tag TAG``, ``--style NAME``, ``-o FILE``, ``--kb DIR``,
    ...): one ``what``, not empty. An empty value (``--tag ''``, often a shell variable that was not set) would otherwise
    mean no filter, or the default, or the current folder; argparse makes the ArgumentTypeError a usage error (exit 2):
    ``argument --tag: expected a tag, got ''``."""
    def check(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
        return value

    return check


def name_list(what: str):
    """The argparse type of ``--claims A,B``: comma-separated ``what``, none of them empty. ``--claims ,,,`` would
    otherwise select every claim, and ``--claims pain,`` hides a name that was meant to follow."""
    def check(value: str) -> str:
        items = [item.strip() for item in value.split(",")]
        if not any(items):
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {value!r}")
        if not all(items):
            raise argparse.ArgumentTypeError(f"empty item in {value!r}; remove the extra comma")
        return value

    return check


def changing_references(kb_dir: str, *, dry_run: bool, quiet: bool):
    """The lock of the knowledge base's references/ while a command rewrites files in it (kb import, kb
    retractions, kb extract): two at once each read a .bib, add to it and write it back, and one would lose
    the other's entries (or kb extract, taking its parts back, another's). Nothing to hold for a dry run, or
    when there is no such folder (the command then says so, or makes it)."""
    import contextlib
    import os

    folder = os.path.join(kb_dir, "references")
    if dry_run or not os.path.isdir(folder):
        return contextlib.nullcontext()
    return told_lock(folder, f"another kb command is changing {folder}", quiet=quiet)


def told_lock(folder: str, holder: str, *, quiet: bool):
    """``kb.output.folder_lock`` on ``folder``, saying (unless ``quiet``) "kb: HOLDER; waiting for it to end ..."
    when another command holds it (kb build's lock on the site's folder, and ``changing_references``)."""
    from ..output import folder_lock

    def waiting() -> None:
        if not quiet:
            print(f"kb: {holder}; waiting for it to end ...", file=sys.stderr, flush=True)

    return folder_lock(folder, waiting)


def emit(args, text: str | bytes) -> None:
    """Write command output to -o FILE (atomically, refusing to overwrite without --force) or stdout."""
    if getattr(args, "output", None) and args.output != "-":
        write_atomic(args.output, text, force=args.force)
        if not args.quiet:
            print(f"wrote {args.output}", file=sys.stderr)
    elif isinstance(text, bytes):
        sys.stdout.buffer.write(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def to_json(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def graph_for(kb: KnowledgeBase):
    """The evidence graph of ``kb`` (kb.graph.build_graph), kept with it until the process ends (``keep``)."""
    from ..graph import build_graph

    graph = build_graph(kb)
    keep(kb, graph)
    return graph
