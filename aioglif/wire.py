"""The wire: the one seam between aioglif's polite sender and the network.

A :class:`Wire` is any object with ``open()``, ``send(Request) -> Response`` and ``close()``;
``GlifClient(wire=...)`` takes one. Everything polite (the rate limiter, the in-flight cap, the
429 pause, retries, redirects, the token) stays above it, in the client. :class:`AiohttpWire`
is the one aioglif uses by default (it reads answers past ``large_body`` bytes one at a time,
so that concurrency does not multiply ``max_body``); :class:`aioglif.testing.MemoryWire` serves
the fake server without sockets. A wire of your own (a recorder, a replayer, another HTTP library) must:

- raise only :class:`aioglif.TransportError` (or a subclass) for what goes wrong on the way,
  with ``request_sent`` telling whether the request may have reached the server;
- honour ``Request.total_timeout`` (raise :class:`aioglif.TimeoutError`) and
  ``Request.max_body`` (raise :class:`aioglif.ResponseTooLarge`, counting decompressed bytes);
- never put the request's ``Authorization`` value in a message.
"""

from __future__ import annotations

from ._wire import AiohttpWire
from ._wiretypes import Request, Response, Wire

__all__ = ["AiohttpWire", "Request", "Response", "Wire"]
