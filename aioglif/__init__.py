"""aioglif: an asyncio client for the Glif API, with a fake Glif server for tests."""

from ._config import Settings, Timeouts, Token
from ._errors import (
    APIStatusError,
    AuthenticationError,
    ClientClosedError,
    ConnectError,
    GlifError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseDecodeError,
    RunFailedError,
    ServerError,
    TimeoutError,
    TooManyRedirects,
    TransportError,
)
from ._retry import RetryPolicy
from ._sender import Stats
from .client import GlifClient
from .models import (
    Counts,
    Credits,
    Glif,
    Graph,
    Me,
    Node,
    OutputFull,
    Run,
    RunNode,
    RunResult,
    RunSpell,
    Sphere,
    User,
)
from .pagination import AsyncPaginator, Page

__version__ = "0.1.0"

__all__ = [
    "APIStatusError",
    "AsyncPaginator",
    "AuthenticationError",
    "ClientClosedError",
    "ConnectError",
    "Counts",
    "Credits",
    "Glif",
    "GlifClient",
    "GlifError",
    "Graph",
    "Me",
    "Node",
    "NotFoundError",
    "OutputFull",
    "Page",
    "PermissionDeniedError",
    "RateLimitedError",
    "ResponseDecodeError",
    "RetryPolicy",
    "Run",
    "RunFailedError",
    "RunNode",
    "RunResult",
    "RunSpell",
    "ServerError",
    "Settings",
    "Sphere",
    "Stats",
    "TimeoutError",
    "Timeouts",
    "Token",
    "TooManyRedirects",
    "TransportError",
    "User",
    "__version__",
]
