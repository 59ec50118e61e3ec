"""The ``aioglif`` command line (also ``python -m aioglif``).

Where things go:

- ``_app.py``: the top-level parser, the global options and the list of command modules.
- one module per command group, each with ``add_parsers(sub)`` setting ``handler`` (a function
  ``(args) -> int`` exit status): ``_get.py`` (get, me), ``_list.py``, ``_run.py`` (run,
  run --batch), ``_crawl.py``, ``_graph.py`` (validate, create), ``_fake_server.py``.
  A new command is a module (or a parser in its group's module) and one line in ``_app.py``.
- ``_client.py``: the only place a command builds a :class:`~aioglif.GlifClient` from flags
  (one meaning of ``--rate``; the commands differ only in the default).
- ``_exit.py``: exit codes and the one mapping from exceptions to a message and an exit code.
- ``_output.py``: how records are printed (tables, tab-separated lines, JSON).
"""

from ._app import main

__all__ = ["main"]
