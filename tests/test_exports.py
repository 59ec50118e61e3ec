"""The public surface is exactly what __all__ says, and every exception is under GlifError."""

from __future__ import annotations

import aioglif
import aioglif.testing


def test_all_names_exist_and_nothing_private_leaks() -> None:
    for module in (aioglif, aioglif.testing):
        assert sorted(set(module.__all__)) == sorted(module.__all__)
        for name in module.__all__:
            assert hasattr(module, name), name
    public = {n for n in dir(aioglif) if not n.startswith("_")}
    submodules = {"cli", "client", "crawl", "dispatch", "graph", "models", "pagination", "testing", "wire"}
    assert public - submodules - set(aioglif.__all__) == set()


def test_every_exception_is_a_glif_error() -> None:
    errors = [getattr(aioglif, n) for n in aioglif.__all__ if n.endswith(("Error", "Redirects"))]
    assert len(errors) >= 12
    for cls in errors:
        assert issubclass(cls, aioglif.GlifError), cls


def test_version() -> None:
    assert aioglif.__version__ == "0.1.0"
