"""Log output from the ``GLIF_LOG`` environment variable, as openai-python reads ``OPENAI_LOG``.

``GLIF_LOG=info`` or ``GLIF_LOG=debug`` sends aioglif's log records to stderr with no code
change; unset, aioglif adds no handler (the application's logging configuration decides).
The command line's ``-v``, ``-vv`` and ``--log-level`` go through :func:`configure` too.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Final

__all__ = ["ENV_LOG", "LEVELS", "configure", "configure_from_env", "level_from_env"]

ENV_LOG: Final = "GLIF_LOG"
LEVELS: Final = ("debug", "info", "warning", "error", "critical")
_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def level_from_env() -> str | None:
    """The level ``GLIF_LOG`` names (lower case), None if unset; ValueError if it names none."""
    raw = os.environ.get(ENV_LOG, "").strip().lower()
    if not raw:
        return None
    if raw not in LEVELS:
        raise ValueError(f"{ENV_LOG}={raw!r}: use one of {', '.join(LEVELS)}")
    return raw


def configure(level: str) -> None:
    """Log aioglif's records at ``level`` and above to stderr (once; calling again sets the level)."""
    logger = logging.getLogger("aioglif")
    logger.setLevel(level.upper())
    for handler in logger.handlers:
        if isinstance(handler, _StderrHandler):
            handler.setStream(sys.stderr)  # the current one: tests and tools replace sys.stderr
            return
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure` adds, recognized when it is called again."""


def configure_from_env() -> None:
    try:
        level = level_from_env()
    except ValueError:
        return  # a library import must not fail over a log setting; the CLI reports it
    if level is not None:
        configure(level)
