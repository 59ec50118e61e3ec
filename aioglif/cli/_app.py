"""The top-level parser: the global options and the commands, each from its group's module."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import __version__
from .._config import ENV_API_URL, ENV_SIMPLE_API_URL, ENV_TOKEN
from . import _crawl, _fake_server, _get, _graph, _list, _probe, _run
from ._client import positive
from ._exit import run_handler

__all__ = ["main"]

# In the order ``aioglif --help`` lists them.
_COMMAND_MODULES = (_fake_server, _crawl, _get, _graph, _list, _probe, _run)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aioglif", description="Talk to the Glif API, or serve a fake one.")
    p.add_argument("--version", action="version", version=f"aioglif {__version__}")
    p.add_argument("--api-url", help=f"REST API base (default: ${ENV_API_URL} or https://glif.app/api)")
    p.add_argument("--simple-api-url", help=f"Simple API base (default: ${ENV_SIMPLE_API_URL})")
    p.add_argument("--token", help=f"API token (default: ${ENV_TOKEN}); prefer the variable: argv is visible")
    p.add_argument(
        "--rate",
        type=positive(float),
        help="max requests per second (default 10; crawl: found from 429s; run --batch: none)",
    )
    p.add_argument(
        "--timeout",
        type=positive(float),
        metavar="SECONDS",
        help="at most this long per attempt of a request, to its last byte, runs included"
        " (default: 300 for reads, 900 for runs); retries multiply it",
    )
    p.add_argument("--json", action="store_true", help="print records as JSON lines")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMAND_MODULES:
        module.add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_handler(args.handler, args)
