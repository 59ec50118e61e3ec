"""The README's commands are the ones CI runs, and its examples are real code."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from aioglif.testing import DOCS_GLIF_ID, DOCS_USERNAME, FakeData, FakeGlifServer

ROOT = Path(__file__).parent.parent


def _command(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\n```bash\n(.+?)\n```", text, re.S)
    assert match, f"README has no {marker} block"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _command("test-command") in ci


def test_readme_main_command_uses_the_cli() -> None:
    assert "aioglif" in _command("main-command")


def test_readme_python_examples_compile() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.+?)```", text, re.S)
    assert blocks
    for block in blocks:
        compile(block, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


# --- every Python example runs against the fake server and type-checks -------------------------
#
# A block that continues an earlier one says so in the README with `<!-- continues: NAMES -->`
# right above it; each name is a prelude below, run (and type-checked) before the block. A block
# that cannot run by design would carry `<!-- not-run: reason -->`; today none does.

PRELUDES = {
    "client": "from aioglif import GlifClient\nclient = GlifClient()\nawait client.__aenter__()\n",
    "g": "g = await client.get_glif('clkbasluf0000mi08h541a3j4')\n",
}
POSTLUDES = {"client": "await client.aclose()\n"}


@dataclass
class Example:
    line: int
    source: str  # the prelude, the block, the postlude
    skip: str | None  # the README's reason not to run it


def _examples() -> list[Example]:
    text = (ROOT / "README.md").read_text()
    found = []
    pattern = r"(?:<!-- (continues|not-run): ([^>]*?) -->\n)?```python\n(.+?)```"
    for match in re.finditer(pattern, text, re.S):
        kind, detail, block = match.groups()
        names = [n.strip() for n in detail.split("(")[0].split(",")] if kind == "continues" else []
        assert all(n in PRELUDES for n in names), f"unknown prelude in {detail!r}"
        before = "".join(PRELUDES[n] for n in names)
        after = "".join(POSTLUDES.get(n, "") for n in reversed(names))
        line = text.count("\n", 0, match.start(3)) + 1
        found.append(Example(line, before + block + after, detail if kind == "not-run" else None))
    return found


def _run(example: Example) -> None:
    """One example in a fresh thread and event loop, as a user runs a script (so that a block's
    own ``anyio.run`` works); top-level ``await`` allowed; ``test_*`` functions it defines are
    called."""
    code = compile(example.source, f"README.md:{example.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, object] = {"__name__": "readme_example"}

    async def call_tests() -> None:
        for name, value in list(namespace.items()):
            if name.startswith("test_") and inspect.iscoroutinefunction(value):
                await value()

    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)
    asyncio.run(call_tests())


def test_the_readme_has_examples_and_few_exceptions() -> None:
    examples = _examples()
    assert len(examples) >= 7
    assert sum(e.skip is not None for e in examples) <= 2


@pytest.mark.anyio
async def test_every_readme_example_runs_against_the_fake_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = FakeData.generate(seed=3, users=6, glifs=40, runs=300, spheres=2)
    async with FakeGlifServer(data) as server:
        monkeypatch.setenv("GLIF_API_TOKEN", server.token)
        monkeypatch.setenv("GLIF_API_URL", server.api_url)
        monkeypatch.setenv("GLIF_SIMPLE_API_URL", server.simple_api_url)
        monkeypatch.chdir(tmp_path)  # the crawl example writes glif.sqlite where it runs
        for example in _examples():
            if example.skip is None:
                await anyio.to_thread.run_sync(_run, example)
    out = capsys.readouterr().out
    quickstart = data.glif_by_id[DOCS_GLIF_ID]
    assert out.startswith(quickstart["name"]), out[:200]  # the quickstart's glif, as the docs show
    assert "rejected=0" in out and "ok=3" in out  # the dispatch example's runs all ran
    assert "'status': 'complete'" in out  # the crawl example's summary


def test_every_readme_example_type_checks(tmp_path: Path) -> None:
    paths = []
    for example in _examples():
        path = tmp_path / f"readme_line_{example.line}.py"
        # mypy refuses `async with` outside a function even with top-level await allowed: the
        # example becomes the body of a coroutine function (same names, same types).
        body = "".join(f"    {line}" if line.strip() else line for line in example.source.splitlines(True))
        path.write_text(f"async def _example() -> None:\n{body}")
        paths.append(str(path))
    # One mypy call for all of them (a call costs seconds): each example is its own module.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            *paths,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_generated_dataset_holds_the_docs_ids() -> None:
    for seed in (0, 1, 7):
        data = FakeData.generate(seed=seed, users=3, glifs=10, runs=20)
        glif = data.glif_by_id[DOCS_GLIF_ID]
        assert glif["publishedAt"] and DOCS_USERNAME in data.user_by_name
        assert {n["name"] for n in glif["data"]["nodes"]} >= {"username", "topic"}
        # Renamed in place, nothing added: the seed's counts stay what they were.
        assert len(data.glifs) == 10 and len(data.users) == 3
    assert FakeData.generate(users=0, glifs=0).glifs == []
