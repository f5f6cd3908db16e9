"""The command-line interface: the only code that reads argv, prints, or picks an exit code.

Each subcommand lives in a module of this package with a ``register(subparsers)`` function that
adds its parser and sets ``handler`` to a ``cmd_<name>(args) -> int`` of a few lines calling the
public API. Exit codes: 0 clean (or warnings only), 1 errors or a KbError, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from importlib import import_module

from .. import __version__

__all__ = ["main", "build_parser"]

#: Subcommand modules, in the order `kb --help` lists them.
COMMAND_MODULES = ("check", "query", "export", "graph", "build", "audit", "render", "init", "extract", "refs")


def build_parser() -> argparse.ArgumentParser:
    from ._common import name as named

    parser = argparse.ArgumentParser(
        prog="kb",
        description="Trace health claims to their sources: check, query and render an evidence knowledge base.",
        epilog="Run 'kb COMMAND --help' for a command's options. Docs: README.md and docs/.",
    )
    parser.add_argument("--version", action="version", version=f"kb {__version__}")
    parser.add_argument("--kb", metavar="DIR", default=".", type=named("a folder"), help="the knowledge-base folder (default: the current folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show more detail, and tracebacks for errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summaries, progress or warnings: only errors (a command's own output stays)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMAND_MODULES:
        import_module(f".{name}", __name__).register(subparsers)
    parser.set_defaults(commands=subparsers.choices)  # command name -> its parser, for _usage_error
    return parser


def _usage_error(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str], unknown: list[str]) -> None:
    """Exit 2 for arguments no parser took, with the usage of the command they follow (``kb list: error:
    unrecognized arguments: --bogus``), or kb's own when they come before the command."""
    command = args.commands.get(args.command) if args.command else None
    after = args.command in argv and unknown[0] in argv[argv.index(args.command) + 1:]
    (command if command is not None and after else parser).error(f"unrecognized arguments: {' '.join(unknown)}")


def run() -> None:
    """The ``kb`` command (and ``python -m kb``): ``main()``, then end the process at once.

    By then every file is written and closed and every worker process has ended; what is left is
    freeing the knowledge base and graph object by object (``_common.keep`` holds them), which takes
    seconds at 100,000 claims and changes nothing. ``main`` itself returns normally, for callers
    in the same process (tests, scripts). Ctrl-C before ``main`` handles it (while the modules of the
    commands are read) ends the same way, without a traceback: kb/__init__.py imports nothing, so only
    Python's own start-up comes before this."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("kb: interrupted", file=sys.stderr)
        code = 130
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    from ..errors import KbError

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _usage_error(parser, args, argv, unknown)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.handler(args)
    except KbError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"kb: {exc}" if exc.location is None else str(exc), file=sys.stderr)  # located: path:line:col: error: ...
        return 1
    except KeyboardInterrupt:
        print("kb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception:  # a bug in kb, not a user error: show it, and say how to report it
        traceback.print_exc()
        print(f"kb: internal error (kb {__version__}); this is a bug, please report it with the command you ran and the traceback above",
              file=sys.stderr)
        return 70
    finally:
        from ..cache import wait_writers
        from ..heap import thaw_loaded

        try:
            wait_writers()  # cache files still being written in the background (kb/cache.py): all written before the command returns
        except KeyboardInterrupt:  # interrupted again while waiting: the writer finishes its atomic write on its own
            pass
        thaw_loaded()  # what the command froze (kb/heap.py) is ordinary memory again for a caller in this process
