"""The command line, in-process for argument errors and as a real process against the fake server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aioglif.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "glifs", "--limit", "0"],
        ["list", "sphere-glifs"],
        ["run", "g", "--input", "no-equals-sign"],
        ["get", "glif", ""],
    ],
)
def test_bad_arguments_exit_2_before_any_request(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # The API URL points nowhere reachable: a request would fail with exit 1, not 2.
    assert main(["--api-url", "http://127.0.0.1:9/api", *argv]) == 2
    assert capsys.readouterr().err.startswith("aioglif: error:")


def test_connection_failure_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--api-url", "http://127.0.0.1:9/api", "list", "glifs"]) == 1
    assert "ConnectError" in capsys.readouterr().err


def fake_server_process(
    *command: str, data: tuple[str, ...] = ("--glifs", "30", "--runs", "60")
) -> subprocess.CompletedProcess[str]:
    """``aioglif fake-server DATA -- COMMAND`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "aioglif", "fake-server", "--port", "0", *data, "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_commands_against_a_fake_server_process() -> None:
    script = (
        "set -e\n"
        "aioglif --json list glifs --limit 3 > glifs.jsonl\n"
        "id=$(head -n1 glifs.jsonl | python -c \"import json,sys; print(json.load(sys.stdin)['id'])\")\n"
        'aioglif get glif "$id" --json > glif.json\n'
        'aioglif --json run "$id" > run.json\n'
        "aioglif me > me.txt\n"
        "aioglif list runs --limit 2 > runs.txt\n"
        "if aioglif get glif nope 2> nf.txt; then exit 9; fi\n"
        "for f in glifs.jsonl glif.json run.json me.txt; do cat $f; echo ===; done; cat nf.txt\n"
    )
    done = fake_server_process("sh", "-c", f'cd "$(mktemp -d)" && {script}')
    assert done.returncode == 0, done.stderr
    glifs, glif, run, me, not_found = done.stdout.split("===\n")
    rows = [json.loads(line) for line in glifs.splitlines()]
    assert len(rows) == 3
    assert json.loads(glif)["id"] == rows[0]["id"] and json.loads(glif)["data"]["nodes"]
    assert json.loads(run)["id"] == rows[0]["id"]
    assert "credits:" in me
    assert "NotFoundError" in not_found


def test_fake_server_passes_on_the_commands_exit_status() -> None:
    done = fake_server_process("sh", "-c", "exit 3", data=("--glifs", "5", "--runs", "0"))
    assert done.returncode == 3


def test_create_validate_and_inputs_from_the_command_line(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_bytes((Path(__file__).parent / "samples" / "seed-create-glif-request.json").read_bytes())
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [{"name": "x", "type": "GPTBlock", "params": {"prompt": "{y}"}}]}')
    script = (
        f'id=$(aioglif create {good} --publish) && aioglif get glif "$id" --inputs'
        f" && if aioglif create {bad} --name nope 2> bad.txt; then exit 9; else echo rc=$?; fi && cat bad.txt"
    )
    done = fake_server_process("sh", "-c", f'cd "{tmp_path}" && {script}')
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("query\tTextInputBlock\tquery\t")
    assert "rc=2" in done.stdout
    assert "{y} names no block" in done.stdout
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(bad)]) == 1
    assert main(["validate", str(tmp_path / "missing.json")]) == 2
