"""The command line scripts like git and gh: options anywhere, ``--json`` everywhere, plain lines
when piped, streaming, quiet on a closed pipe, log levels, help on every flag, a free port."""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioglif.cli import main
from aioglif.cli._app import _parser
from aioglif.testing import fake_server_process

from .conftest import sqlite

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with fake_server_process("--seed", "3", "--glifs", "40", "--runs", "400", "--users", "8") as base:
        yield base


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    logger = logging.getLogger("aioglif")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


def flags(api: str) -> list[str]:
    return ["--api-url", api + "/api", "--simple-api-url", api + "/simple", "--token", "fake-token"]


def out_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_global_options_go_before_or_after_the_command(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*flags(api), "--json", "list", "glifs", "--limit", "3"]) == 0
    before = out_lines(capsys)
    assert main(["list", "glifs", "--limit", "3", "--json", *flags(api)]) == 0
    assert out_lines(capsys) == before and len(before) == 3
    args = _parser().parse_args(["--rate", "3", "crawl", "--token", "T", "-v"])
    assert (args.token, args.rate, args.verbose) == ("T", 3.0, 1)
    args = _parser().parse_args(["--token", "A", "crawl", "--rate", "5"])
    assert (args.token, args.rate) == ("A", 5.0)  # one not repeated keeps the value given before


def glif_with_inputs(api: str) -> str:
    with urllib.request.urlopen(api + "/api/glifs?limit=100&includes=spells.data") as r:
        glifs = json.loads(r.read())
    return str(
        next(g["id"] for g in glifs if any(n["type"].endswith("InputBlock") for n in g["data"]["nodes"]))
    )


def test_json_on_every_command(api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    glif = glif_with_inputs(api)
    assert main([*flags(api), "list", "glifs", "--limit", "1", "--json"]) == 0
    user = json.loads(out_lines(capsys)[0])["user"]["username"]
    graph = str(SAMPLES / "seed-create-glif-request.json")
    one_object = [
        ["get", "glif", glif],
        ["get", "user", user],
        ["me"],
        ["run", glif],
        ["create", graph],
        ["crawl", "--out", str(tmp_path / "c.sqlite"), "--glif", glif, "--progress", "none"],
    ]
    for argv in one_object:
        assert main([*argv, "--json", *flags(api)]) == 0, argv
        lines = out_lines(capsys)
        assert len(lines) == 1, (argv, lines)  # one compact object, not indented
        assert isinstance(json.loads(lines[0]), dict)
    assert main(["validate", graph, "--json"]) == 0
    report = json.loads(out_lines(capsys)[0])
    assert report["valid"] is True and report["problems"] == []
    assert main(["get", "glif", glif, "--inputs", "--json", *flags(api)]) == 0
    inputs = [json.loads(x) for x in out_lines(capsys)]
    assert inputs and all({"name", "type", "label", "default"} <= set(i) for i in inputs)
    assert main(["list", "runs", "--limit", "150", "--json", *flags(api)]) == 0
    assert len({json.loads(x)["id"] for x in out_lines(capsys)}) == 150


def test_piped_output_is_tab_separated_whole_values(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "glifs", "--limit", "5", "--json", *flags(api)]) == 0
    records = [json.loads(x) for x in out_lines(capsys)]
    assert main(["list", "glifs", "--limit", "5", *flags(api)]) == 0
    rows = [line.split("\t") for line in out_lines(capsys)]
    assert [r[0] for r in rows] == [r["id"] for r in records]  # no header, ids whole
    assert [r[1] for r in rows] == [r["name"].replace("\t", "\\t") for r in records]
    assert all(len(r) == 6 for r in rows)


def test_tab_separated_values_escape_what_would_break_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from aioglif.cli._output import print_rows

    print_rows(["id", "name"], [["x", "a\tb\nc\\d\r"]])
    assert capsys.readouterr().out == "x\ta\\tb\\nc\\\\d\\r\n"


def popen(api: str, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aioglif", *argv, *flags(api)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def gate(api: str, after: int | None) -> dict[str, int]:
    body = json.dumps({"after": after}).encode()
    with urllib.request.urlopen(urllib.request.Request(api + "/_fake/gate", data=body, method="POST")) as r:
        return dict(json.loads(r.read()))


def gate_state(api: str) -> dict[str, int]:
    with urllib.request.urlopen(api + "/_fake/gate") as r:
        return dict(json.loads(r.read()))


def held(api: str) -> int:
    return gate_state(api)["held"]


def test_list_prints_each_page_as_it_arrives(api: str) -> None:
    # How many requests the first page takes (the client may probe how pages are numbered):
    gate(api, 10_000)
    subprocess.run(
        [sys.executable, "-m", "aioglif", "list", "runs", "--limit", "100", *flags(api)], check=True
    )
    first_page = gate_state(api)["passed"]
    gate(api, first_page)  # the server answers those, then holds every request after them
    try:
        with popen(api, "list", "runs", "--limit", "300", "--json", "--timeout", "30") as proc:
            assert proc.stdout is not None
            # The whole first page is printed while the server holds the next request.
            first = [proc.stdout.readline() for _ in range(100)]
            deadline = time.monotonic() + 60  # only against a hang: the wait ends by progress
            while held(api) < 1:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            gate(api, None)
            rest, err = proc.communicate(timeout=60)
    finally:
        gate(api, None)
    assert proc.returncode == 0, err
    assert len({json.loads(x)["id"] for x in first + rest.splitlines()}) == 300


def test_a_closed_pipe_ends_quietly(api: str) -> None:
    with popen(api, "--json", "list", "runs", "--limit", "400") as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert json.loads(proc.stdout.readline())["id"]
        proc.stdout.close()  # as `| head -1` does
        assert proc.wait(timeout=60) == 141  # as a shell reports SIGPIPE
        assert proc.stderr.read() == ""  # no traceback, no "Exception ignored"


def test_log_levels_from_flags_and_environment(
    api: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def stderr_of(*argv: str) -> str:
        assert main([*argv, "list", "spheres", "--limit", "1", *flags(api)]) == 0
        return capsys.readouterr().err

    logging.getLogger("aioglif").setLevel(logging.NOTSET)
    assert "GET " not in stderr_of()
    assert "GET " not in stderr_of("-v")
    assert "DEBUG aioglif: GET " in stderr_of("-vv")
    assert "DEBUG aioglif: GET " in stderr_of("--log-level", "debug")
    monkeypatch.setenv("GLIF_LOG", "debug")
    assert "DEBUG aioglif: GET " in stderr_of()
    assert "GET " not in stderr_of("--log-level", "warning")  # a flag beats the variable
    monkeypatch.setenv("GLIF_LOG", "loud")
    assert main(["me", *flags(api)]) == 2
    assert "GLIF_LOG" in capsys.readouterr().err


def test_every_flag_and_argument_has_help() -> None:
    top = _parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    parsers = [("aioglif", top), *sub.choices.items()]
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, parser in parsers
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction)
        and (not action.help or action.help == argparse.SUPPRESS)
    ]
    assert missing == []
    assert len(parsers) >= 9


def test_fake_server_picks_a_free_port_and_says_which() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "aioglif", "fake-server", "--json", "--glifs", "3", "--runs", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as server:
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            with urllib.request.urlopen(info["api_url"] + "/glifs") as r:
                assert len(json.loads(r.read())) == 3
            # The same port again: a one-line error, no traceback.
            done = subprocess.run(
                [sys.executable, "-m", "aioglif", "fake-server", "--port", str(info["port"])],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 2
            assert done.stderr.startswith(f"aioglif: error: cannot listen on 127.0.0.1:{info['port']}")
            assert "Traceback" not in done.stderr
        finally:
            server.terminate()


def test_crawl_spheres_harvests_every_sphere(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:

    with urllib.request.urlopen(api + "/api/spheres?limit=100") as r:
        slugs = {s["slug"] for s in json.loads(r.read())}
    out = tmp_path / "s.sqlite"
    assert main(["crawl", "--spheres", "--out", str(out), "--progress", "none", "--json", *flags(api)]) == 0
    assert json.loads(out_lines(capsys)[0])["status"] == "complete"
    with sqlite(out) as db:
        assert {slug for (slug,) in db.execute("SELECT slug FROM spheres")} == slugs
