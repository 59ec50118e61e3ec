"""Testing support: a fake Glif server with synthetic data and fault injection.

Use it in your own tests::

    async with FakeGlifServer(FakeData.generate(glifs=50)) as server:
        async with GlifClient(server.token, api_url=server.api_url,
                              simple_api_url=server.simple_api_url) as client:
            ...
"""

from ._behaviour import EXACT_PROFILES, PROFILES, Behaviour, ListRules
from ._data import DOCS_GLIF_ID, DOCS_USERNAME, FakeData, iso
from ._gate import Gate
from ._memory import MemoryWire
from ._process import fake_server_process
from ._server import FakeGlifServer, Fault, Faults, RecordedRequest

__all__ = [
    "DOCS_GLIF_ID",
    "DOCS_USERNAME",
    "EXACT_PROFILES",
    "PROFILES",
    "Behaviour",
    "ListRules",
    "FakeData",
    "FakeGlifServer",
    "Fault",
    "Faults",
    "Gate",
    "MemoryWire",
    "RecordedRequest",
    "fake_server_process",
    "iso",
]
