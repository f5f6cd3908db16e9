"""kb build: check the knowledge base, build the evidence graph, render the static site."""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..errors import ConfigError, ExportError, Severity
from ..model import UI_LANGUAGES
from ._common import check_style, check_templates_dir, graph_for, has_errors, load_checked, name, print_diagnostics, told_lock


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build",
        help="check, then render the static site (annotated article, claim and reference pages, audit)",
        description="Check the knowledge base (stop with its errors, exit 1), build the evidence graph and render a static "
                    "site that works from the file system and any web server, with no network. A first build (or one after kb, "
                    "the templates, the language or the style changed) is written to a fresh folder next to the output folder "
                    "and swapped in only when the whole build succeeded; later builds render only the pages whose content "
                    "changed and move them into place (the manifest .kb-site.json in the site folder records what was built); after edits "
                    "to a few claims' verdict reasons, notes, reviewers, review dates, tags or verdicts only the pages that show them "
                    "are made (for a verdict: the claim's and its article's, its neighbours', linked claims', the references it rests on, "
                    "its page of the claims index, the home page and the audit), from the small part of the knowledge base they show "
                    "and what the manifest keeps.",
    )
    p.add_argument("-o", "--output", metavar="DIR", default="build", type=name("a folder"), help="the site folder (default: build/); kb replaces its pages")
    p.add_argument("--lang", choices=UI_LANGUAGES, help="interface language (default: the first language in kb.yaml)")
    p.add_argument("--style", type=name("a style name"), help="citation style for the bibliographies (default: the knowledge base's; see kb render --help)")
    p.add_argument("--templates", metavar="DIR", type=name("a folder"), help="a folder of templates that override the built-in ones by name (before <kb>/templates)")
    p.add_argument("-j", "--jobs", type=_jobs, metavar="N",
                   help="processes that render pages: kb's own and N-1 forked workers (default: one per core; used for sites of 2,000 pages or more; "
                        "with more than one, the audit page of a big site gets a process of its own besides)")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="print only errors")
    p.set_defaults(handler=cmd_build)


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


class _Progress:
    """A progress bar on stderr when it is a terminal; otherwise nothing until the summary."""

    def __init__(self, enabled: bool) -> None:
        self.tty = enabled and sys.stderr.isatty()
        self.width = 28
        self.last = 0.0

    def __call__(self, done: int, total: int, path: str) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if done < total and now - self.last < 0.05:
            return
        self.last = now
        filled = self.width * done // max(total, 1)
        name = path if len(path) <= 40 else "…" + path[-39:]
        sys.stderr.write(f"\r\x1b[2K  [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {name}")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()


def _build(kb, args, lang: str, quiet: bool):
    """build_site, with the references formatted on the other core while the graph is built and the claims anchored."""
    from ..cite import format_in_background
    from ..site import build_site

    formatted = format_in_background(kb, args.style)
    progress = _Progress(not quiet)
    try:
        graph = graph_for(kb)
        if not quiet and not sys.stderr.isatty():
            print(f"kb: building the site in {args.output} ...", file=sys.stderr)
        return build_site(kb, graph, args.output, lang=lang, style=args.style, templates=args.templates, progress=progress,
                          jobs=args.jobs, references_ready=formatted)
    finally:
        formatted.stop()  # only still running when the build failed before it needed the references
        progress.finish()


def _one_build_at_a_time(output: str, quiet: bool):
    """Hold a lock on the folder the site folder is in while the site is written: a second ``kb build``
    of the same site waits for the first (each build trusts the manifest it read; two at once could
    leave a page that no later build makes again)."""
    parent = os.path.dirname(os.path.realpath(output))  # absolute: the folder the (linked) site folder is in
    os.makedirs(parent, exist_ok=True)
    return told_lock(parent, f"another kb build is writing a site in {parent}", quiet=quiet)


def _site_error(output: str, exc: OSError) -> ExportError:
    """A one-line error for what the system refused while the site in ``output`` was written."""
    import errno

    where = f" ({exc.filename})" if exc.filename else ""
    hint = "check that the folder and the folder it is in are writable, and that the disk is not full"
    if exc.errno in (errno.EBUSY, errno.EXDEV):
        hint = (f"the site folder is a mount point (a container volume, say), which kb cannot replace as a whole: "
                f"build into a folder inside it, such as -o {os.path.join(output, 'site')}")
    return ExportError(f"cannot write the site in {output!r}: {exc.strerror or exc}{where}", hint=hint)


def cmd_build(args) -> int:
    from ..siteupdate import update_site

    quiet = getattr(args, "quiet", False)
    started = time.monotonic()
    kb, diagnostics = load_checked(args)
    if has_errors(diagnostics):
        print_diagnostics([d for d in diagnostics if d.severity is Severity.ERROR])
        print("kb: the knowledge base has errors; nothing was built (fix them, then run kb build again)", file=sys.stderr)
        return 1
    warnings = [d for d in diagnostics if d.severity is Severity.WARNING]
    if warnings and not quiet:
        print(f"kb: {len(warnings)} warning{'s' * (len(warnings) != 1)} (run kb check to see them)", file=sys.stderr)
    lang = args.lang or kb.config.language
    if lang not in UI_LANGUAGES:
        raise ConfigError(f"no interface words for language {lang!r}", hint=f"pass --lang with one of: {', '.join(UI_LANGUAGES)}")
    check_templates_dir(args)
    check_style(args)
    try:
        with _one_build_at_a_time(args.output, quiet):
            result = update_site(kb, args.output, lang=lang, style=args.style, templates=args.templates)  # None: a few claims' pages will not do
            if result is None:
                result = _build(kb, args, lang, quiet)
    except OSError as exc:  # the system refused a folder or file of the site (the previous site is left as it was)
        raise _site_error(args.output, exc) from None
    if not quiet:
        seconds = time.monotonic() - started
        index = os.path.join(args.output, "index.html")
        print(f"kb: built {len(result.pages)} files ({len(kb.claims)} claims, {len(kb.references)} references, "
              f"{len(kb.articles)} article{'s' * (len(kb.articles) != 1)}) in {seconds:.1f} s; language {lang}"
              + (f"; {len(result.rendered)} page{'s' * (len(result.rendered) != 1)} changed" if result.incremental else ""),
              file=sys.stderr)
        print(f"kb: open {index}", file=sys.stderr)
    return 0
