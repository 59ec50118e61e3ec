"""The README's commands are the ones CI runs, and its examples are real code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

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
