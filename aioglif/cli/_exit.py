"""Exit codes, and the one mapping from what a command raises to a message and an exit code.

Every exception ends here as one line on stderr and a documented code; none reaches the user as
a traceback. ``AIOGLIF_DEBUG=1`` re-raises what is not a known failure, for bug reports.
"""

from __future__ import annotations

import argparse
import errno
import os
import sqlite3
import sys
from collections.abc import Callable

from .._config import ENV_TOKEN
from .._errors import GlifError
from .._redact import redact
from .._store import StoreError

__all__ = [
    "EXIT_CLOSED_PIPE",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "describe",
    "exit_code",
    "run_handler",
]

EXIT_OK = 0
EXIT_ERROR = 1  # the API or the network failed, something asked for is missing, or the disk is full
EXIT_USAGE = 2  # bad arguments or files, found before any request (argparse uses 2 too)
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT
EXIT_CLOSED_PIPE = 141  # the reader went away (``| head -1``), as a shell reports SIGPIPE

_RESUME = "run the same command again to resume"


def _members(exc: BaseException) -> tuple[BaseException, ...] | None:
    # An exception group, the builtin one or the backport Python 3.10 gets from anyio.
    inner = getattr(exc, "exceptions", None)
    return inner if isinstance(inner, tuple) and "ExceptionGroup" in type(exc).__name__ else None


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside task-group exception groups, in order."""
    inner = _members(exc)
    return [exc] if inner is None else [leaf for x in inner for leaf in _leaves(x)]


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def describe(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and the one line for ``exc``; None for what is not a known failure."""
    if _members(exc) is not None:
        leaves = _leaves(exc)
        # Ctrl-C first, then the first failure we know: the rest are its echoes in other tasks.
        for leaf in sorted(leaves, key=lambda x: not isinstance(x, KeyboardInterrupt)):
            found = describe(leaf)
            if found is not None:
                return found
        return None
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, StoreError):
        return EXIT_USAGE, f"error: {_first_line(exc)}"
    if isinstance(exc, GlifError):
        return EXIT_ERROR, f"{type(exc).__name__}: {_first_line(exc)}"
    if isinstance(exc, sqlite3.DatabaseError):
        return _database(exc)
    if isinstance(exc, OSError):
        return _os(exc)
    if isinstance(exc, (ValueError, RecursionError, UnicodeError)):
        return EXIT_USAGE, f"error: {_first_line(exc)}"
    return None


def _database(exc: sqlite3.DatabaseError) -> tuple[int, str]:
    text = _first_line(exc)
    if "full" in text:
        return EXIT_ERROR, f"error: the disk is full ({text}): free some space, then {_RESUME}"
    if "I/O" in text:
        # What SQLite says when a write fails: a full disk or quota, a file size limit, a device.
        return EXIT_ERROR, (
            f"error: writing the database failed ({text}): is the disk full? Free some space, then {_RESUME}"
        )
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return EXIT_ERROR, f"error: the database is busy ({text}): is another aioglif writing to it?"
    return EXIT_USAGE, (
        f"error: the database is damaged ({text}); everything committed before is kept: "
        "copy what you need with the sqlite3 shell's .recover, or use another --out"
    )


def _os(exc: OSError) -> tuple[int, str]:
    where = f" {exc.filename}" if exc.filename else ""
    reason = exc.strerror or _first_line(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return EXIT_ERROR, f"error: the disk is full writing{where}: free some space, then {_RESUME}"
    if exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EROFS):
        return EXIT_USAGE, f"error: cannot use{where}: {reason}"
    return EXIT_ERROR, f"error:{where} {reason}"


def exit_code(exc: BaseException, secret: str | None = None) -> int | None:
    """The exit code for an exception a command may raise, after printing why; None: not ours."""
    found = describe(exc)
    if found is None:
        return None
    code, line = found
    print(f"aioglif: {redact(line, secret)}", file=sys.stderr)
    return code


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    secret = getattr(args, "token", None) or os.environ.get(ENV_TOKEN) or None
    try:
        status = handler(args)
        sys.stdout.flush()  # a closed pipe shows here at the latest, while it can be mapped
        return status
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        if any(isinstance(leaf, BrokenPipeError) for leaf in _leaves(exc)):
            # Nothing to say: the reader is gone. Python would complain again when it flushes
            # stdout at exit, so stdout now points at /dev/null.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_CLOSED_PIPE
        code = exit_code(exc, secret)
        if code is not None:
            return code
        if os.environ.get("AIOGLIF_DEBUG"):
            raise
        line = f"aioglif: internal error: {type(exc).__name__}: {_first_line(exc)}"
        print(redact(line, secret) + " (a bug: AIOGLIF_DEBUG=1 shows where)", file=sys.stderr)
        return EXIT_ERROR
