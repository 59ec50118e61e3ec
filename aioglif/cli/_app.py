"""The top-level parser: the global options and the commands, each from its group's module.

Global options are accepted before or after the command (``aioglif --json list glifs`` and
``aioglif list glifs --json``), as git and gh accept theirs: each command's parser gets them
too, with ``SUPPRESS`` defaults so that one given after the command overrides and one not
given leaves the top-level value alone.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence

from .. import __version__, _logs
from .._config import ENV_API_URL, ENV_SIMPLE_API_URL, ENV_TOKEN
from . import _crawl, _fake_server, _get, _graph, _list, _probe, _run
from ._client import positive
from ._exit import run_handler

__all__ = ["main"]

# In the order ``aioglif --help`` lists them.
_COMMAND_MODULES = (_fake_server, _crawl, _get, _graph, _list, _probe, _run)


def _global_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, on the top parser (``top``) or on a command's parser."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    g = p.add_argument_group("global options (before or after the command)")
    g.add_argument(
        "--api-url",
        default=default(None),
        help=f"REST API base (default: ${ENV_API_URL} or https://glif.app/api)",
    )
    g.add_argument(
        "--simple-api-url",
        default=default(None),
        help=f"Simple API base (default: ${ENV_SIMPLE_API_URL} or https://simple-api.glif.app)",
    )
    g.add_argument(
        "--token",
        default=default(None),
        help=f"API token (default: ${ENV_TOKEN}); prefer the variable: argv is visible to other users",
    )
    g.add_argument(
        "--rate",
        type=positive(float),
        default=default(None),
        metavar="R",
        help="send at most R requests per second (default: 10; crawl: found from the 429s; run --batch: "
        "no limit but --concurrency)",
    )
    g.add_argument(
        "--timeout",
        type=positive(float),
        default=default(None),
        metavar="SECONDS",
        help="at most this long per attempt of a request, to its last byte, runs included"
        " (default: 300 for reads, 900 for runs); retries multiply it",
    )
    g.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print JSON: one object per line for lists, one compact object otherwise",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="log to stderr: -v what happens (info), -vv every request (debug)",
    )
    g.add_argument(
        "--log-level",
        choices=_logs.LEVELS,
        type=str.lower,
        default=default(None),
        help=f"log to stderr at this level (default: ${_logs.ENV_LOG}, else warnings only)",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aioglif", description="Talk to the Glif API, or serve a fake one.")
    p.add_argument("--version", action="version", version=f"aioglif {__version__}")
    _global_options(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMAND_MODULES:
        module.add_parsers(sub)
    for command in sub.choices.values():
        _global_options(command, top=False)
    return p


def _log_level(args: argparse.Namespace) -> str | None:
    if args.log_level:
        return str(args.log_level)
    if args.verbose:
        return "info" if args.verbose == 1 else "debug"
    return _logs.level_from_env()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``aioglif ARGS`` and return its exit status (argparse exits 2 itself on a usage error)."""
    _tolerant_stdout()
    args = _parser().parse_args(argv)

    def command(args: argparse.Namespace) -> int:
        level = _log_level(args)  # a bad $GLIF_LOG is a usage error like a bad flag
        if level is not None:
            _logs.configure(level)
        return int(args.handler(args))

    return run_handler(command, args)


def _tolerant_stdout() -> None:
    """What stdout cannot encode is written escaped, as on stderr: a glif named in emoji under a
    Latin-1 locale, or a file name that is not UTF-8, must not fail a command that has done its
    work (a crawl finished, a batch paid for) while it prints the summary."""
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper) and out.errors == "strict":
        out.reconfigure(errors="backslashreplace")
