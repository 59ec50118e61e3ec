"""aioglif: an asyncio client for the Glif API, with a fake Glif server for tests."""

from . import _logs
from ._config import Settings, Timeouts, Token
from ._errors import (
    APIStatusError,
    AuthenticationError,
    ClientClosedError,
    ConnectError,
    GlifError,
    ListingError,
    NotFoundError,
    OutOfCreditsError,
    PageIgnoredError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseDecodeError,
    ResponseTooLarge,
    RunFailedError,
    ServerError,
    TimeoutError,
    TooManyRedirects,
    TransportError,
)
from ._raw import RawResponse
from ._retry import RetryPolicy
from ._stats import Stats
from ._version import __version__
from .client import GlifClient
from .models import (
    Bot,
    BotGlif,
    BotSkill,
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

_logs.configure_from_env()

__all__ = [
    "APIStatusError",
    "AsyncPaginator",
    "AuthenticationError",
    "Bot",
    "BotGlif",
    "BotSkill",
    "ClientClosedError",
    "ConnectError",
    "Counts",
    "Credits",
    "Glif",
    "GlifClient",
    "GlifError",
    "Graph",
    "ListingError",
    "Me",
    "Node",
    "NotFoundError",
    "OutOfCreditsError",
    "OutputFull",
    "Page",
    "PageIgnoredError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ResponseDecodeError",
    "ResponseTooLarge",
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
    "RawResponse",
    "__version__",
]
