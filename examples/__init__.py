"""Small real programs on aioglif. Each runs as ``python examples/NAME.py`` against the API
(``GLIF_API_TOKEN``, and ``GLIF_API_URL`` / ``GLIF_SIMPLE_API_URL`` for another server); the
tests run each against the fake server, and ``mypy --strict`` checks them as user code."""
