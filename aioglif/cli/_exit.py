"""Exit codes, and the one mapping from what a command raises to a message and an exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .._errors import GlifError
from ..crawl._store import StoreError

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "exit_code", "run_handler"]

EXIT_OK = 0
EXIT_ERROR = 1  # the API or the network failed, or something asked for is missing
EXIT_USAGE = 2  # bad arguments or files, found before any request (argparse uses 2 too)
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


def exit_code(exc: BaseException) -> int | None:
    """The exit code for an exception a command may raise, after printing why; None: not ours."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, (ValueError, StoreError)):
        print(f"aioglif: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, GlifError):
        print(f"aioglif: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return None


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return handler(args)
    except BaseException as exc:
        code = exit_code(exc)
        if code is None:
            raise
        return code
