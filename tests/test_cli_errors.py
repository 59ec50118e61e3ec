"""No traceback from the command line, ever: bad arguments, bad files, a corrupt or full
database, a resume with other flags, and arguments made up by hypothesis all end in one line
and a documented exit code (0 ok, 1 failed or missing, 2 bad input, 130 interrupted)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aioglif.cli._graph
from aioglif.cli import main
from aioglif.testing import fake_server_process

from .conftest import Pipe, sqlite

EXIT_CODES = {0, 1, 2, 130}


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    args = ("--seed", "2", "--glifs", "8", "--runs", "30", "--users", "3", "--spheres", "1")
    with fake_server_process(*args) as base:
        yield base


@pytest.fixture
def env(api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GLIF_API_URL", api + "/api")
    monkeypatch.setenv("GLIF_SIMPLE_API_URL", api + "/simple")
    monkeypatch.setenv("GLIF_API_TOKEN", "fake-token")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help, or a usage error
        code = exc.code if isinstance(exc.code, int) else 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert code in EXIT_CODES, (argv, code, err)
    return code, err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files(tmp: Path) -> dict[str, Path]:
    chain = [
        {"name": f"b{i}", "type": "TextBlock", "params": {"value": f"{{b{i + 1}}}"}} for i in range(999)
    ] + [{"name": "b999", "type": "TextInputBlock", "params": {}}]
    made = {
        "chain": json.dumps({"nodes": chain}).encode(),
        "bad_utf8": b'{"nodes": [{"name": "\xff\xfe"}]}',
        "empty": b"",
        "bom": b'\xef\xbb\xbf{"nodes": []}',
        "nul": b'{"nodes": []}\x00',
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "ls": '{"nodes": [{"name": "a\u2028b", "type": "TextBlock"}]}'.encode(),
        "csv": b"a,b\n\xff,2\n",
    }
    out = {}
    for name, body in made.items():
        out[name] = tmp / f"{name}.json"
        out[name].write_bytes(body)
    return out


BAD_ARGS: list[tuple[list[str], int]] = [
    (["--api-url", "http://127.0.0.1:99999/api", "list", "glifs"], 2),
    (["--api-url", "ftp://127.0.0.1/api", "list", "glifs"], 2),
    (["--rate", "inf", "list", "glifs"], 2),
    (["--rate", "nan", "list", "glifs"], 2),
    (["--timeout", "0", "list", "glifs"], 2),
    (["--timeout", "-1e999", "me"], 2),
    (["get", "glif", ""], 2),
    (["get", "glif", "no-such-glif"], 1),
    (["list", "glifs", "--limit", "0"], 2),
    (["run", "no-such-glif", "--input", "x"], 2),
    (["run", "g", "--batch", "in.csv", "--out", "o.jsonl", "--stop-grace", "-1"], 2),
    (["run", "g", "--batch", "in.csv", "--out", "o.jsonl", "--stop-grace", "nan"], 2),
    (["run", "g", "--batch", "in.csv", "--out", "o.jsonl", "--stop-grace", "inf"], 2),
    (["crawl", "--out", "/nonexistent/dir/out.sqlite"], 2),
    (["crawl", "--out", "."], 2),
    (["nonsense"], 2),
    ([], 2),
]


@pytest.mark.parametrize(("argv", "code"), BAD_ARGS)
def test_bad_arguments_exit_with_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int
) -> None:
    got, err = run(argv, capsys)
    assert got == code, err
    lines = [x for x in err.splitlines() if x.startswith("aioglif")]
    assert len(lines) == 1, err


@pytest.mark.parametrize("name", ["chain", "bad_utf8", "empty", "bom", "nul", "deep", "ls", "csv"])
@pytest.mark.parametrize("command", [["validate"], ["create", "--name", "x"], ["run", "g", "--batch"]])
def test_odd_files_never_give_a_traceback(
    env: Path, capsys: pytest.CaptureFixture[str], name: str, command: list[str]
) -> None:
    path = files(env)[name]
    before = digest(path)
    code, err = run([*command, str(path)], capsys)
    assert code in (0, 1, 2), err
    assert digest(path) == before


def test_a_corrupt_database_is_refused_untouched(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = env / "out.sqlite"
    assert run(["crawl", "--out", str(out), "--progress", "none"], capsys)[0] == 0
    data = bytearray(out.read_bytes())
    page = 4096
    data[2 * page : 4 * page] = b"\xa5" * (2 * page)  # the header stays, tables are garbage
    out.write_bytes(bytes(data))
    before = digest(out)
    code, err = run(["crawl", "--out", str(out), "--progress", "none", "--incremental"], capsys)
    assert code == 2, err
    assert "damaged" in err or "not an aioglif database" in err or "malformed" in err
    assert digest(out) == before


def test_changed_flags_on_resume_exit_2_untouched(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = env / "out.sqlite"
    assert run(["crawl", "--out", str(out), "--progress", "none"], capsys)[0] == 0
    with sqlite(out) as db:  # as a crawl killed in the middle leaves it
        db.execute("UPDATE crawls SET status='running'")
    before = digest(out)
    code, err = run(["crawl", "--out", str(out), "--progress", "none", "--featured"], capsys)
    assert code == 2 and "same flags" in err
    assert digest(out) == before


def _limit_file_size() -> None:
    # Writes past 200 KB fail as on a full disk (EFBIG), instead of the signal killing us.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE stands in for a full disk")
def test_a_full_disk_is_one_line_and_the_crawl_resumes(api: str, tmp_path: Path) -> None:
    out = tmp_path / "out.sqlite"
    argv = [sys.executable, "-m", "aioglif", "--api-url", api + "/api", "--token", "fake-token"]
    argv += ["crawl", "--out", str(out), "--runs", "--progress", "none"]
    env = {**os.environ, "GLIF_API_TOKEN": ""}
    full = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, env=env, preexec_fn=_limit_file_size, check=False
    )
    assert full.returncode in (1, 2), full.stderr
    assert "Traceback" not in full.stderr
    assert "disk is full" in full.stderr or "is the disk full?" in full.stderr, full.stderr
    assert len(full.stderr.strip().splitlines()) == 1, full.stderr
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr


COMMANDS = ["get", "me", "list", "run", "crawl", "validate", "create"]
WORDS = [
    "glif", "run", "user", "sphere", "glifs", "runs", "spheres", "bots", "--json", "--by-id",
    "--limit", "--user", "--input", "--batch", "--out", "--rate", "--timeout", "--featured",
    "--concurrency", "--max-credits", "--incremental", "--jsonl", "--strict", "--runs", "-1", "0",
    "1", "inf", "nan", "1e999", "x=y", "=", "", " ", "\x00", "\u2028", "out.sqlite", ".", "/",
]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    command=st.sampled_from(COMMANDS),
    rest=st.lists(st.sampled_from(WORDS) | st.text(max_size=8), max_size=6),
)
def test_any_argv_ends_in_a_documented_exit_code(
    env: Path, capsys: pytest.CaptureFixture[str], command: str, rest: list[str]
) -> None:
    if "\x00" in command:
        return
    run([command, *rest], capsys)


TOKEN = "fake-token"  # the fake server's


def test_an_echoed_token_reaches_no_output_and_no_file(
    api: str, env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every answer of the Simple API quotes the Authorization header in the run's "error".
    monkeypatch.setenv("GLIF_API_TOKEN", TOKEN)
    glifs = json.loads(urllib.request.urlopen(api + "/api/glifs?limit=100&includes=spells.data").read())
    glif = next(g for g in glifs if any(n["type"] == "TextInputBlock" for n in g["data"]["nodes"]))
    name = next(n["name"] for n in glif["data"]["nodes"] if n["type"] == "TextInputBlock")
    echo = {"faults": [{"kind": "echo", "status": 200}] * 20, "path": "/simple"}
    urllib.request.urlopen(urllib.request.Request(api + "/_fake/inject", json.dumps(echo).encode())).read()
    inputs = env / "in.csv"
    inputs.write_text(f"{name}\nfirst\nsecond\n")
    outputs: list[str] = []
    for argv in (
        ["run", glif["id"], "--input", f"{name}=x"],
        ["run", glif["id"], "--batch", str(inputs), "--out", str(env / "results.jsonl")],
        ["--json", "get", "glif", glif["id"]],
    ):
        with contextlib.suppress(SystemExit):
            main(argv)
        out = capsys.readouterr()
        outputs += [out.out, out.err]
    assert any("***" in text for text in outputs)  # the echo was seen, redacted
    for text in outputs:
        assert TOKEN not in text
    written = [p for p in env.rglob("*") if p.is_file()]
    results = (env / "results.jsonl").read_text()
    assert results.count("***") >= 2  # both rows ran, failed with the token redacted
    for path in written:
        assert TOKEN.encode() not in path.read_bytes(), path


def test_timeout_ends_a_drip(api: str, env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # One answer drips a byte every 0.2 s (minutes for a page); --timeout 2 ends that attempt
    # and the retry gets the normal answer (which a loaded machine may take a second to read).
    drip = {"faults": [{"kind": "drip", "seconds": 0.2}], "path": "/api/glifs"}
    urllib.request.urlopen(urllib.request.Request(api + "/_fake/inject", json.dumps(drip).encode())).read()
    stats = json.loads(urllib.request.urlopen(api + "/_fake/stats").read())
    code, err = run(["--timeout", "2", "--json", "list", "glifs", "--limit", "3"], capsys)
    assert code == 0, err
    after = json.loads(urllib.request.urlopen(api + "/_fake/stats").read())
    assert after["requests"] - stats["requests"] >= 2  # the dripped attempt, then the retry


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["table", "json"])
def test_output_stdout_cannot_encode_does_not_fail_a_finished_crawl(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], json_flag: list[str]
) -> None:
    # A Latin-1 locale, and an --out name that is not UTF-8 (a lone surrogate in Python): the
    # crawl finished, then printing its summary failed with exit 2, "bad arguments".
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="latin-1", errors="strict"))
    code, err = run([*json_flag, "crawl", "--featured", "--out", "crawl\udcff\u00e9.sqlite"], capsys)
    assert code == 0, err
    sys.stdout.flush()
    text = raw.getvalue().decode("latin-1")
    if json_flag:
        assert json.loads(text)["output"] == "crawl\udcff\u00e9.sqlite"  # JSON's escapes, valid
    else:
        assert "crawl\\udcff\u00e9.sqlite" in text


def test_a_graph_file_without_an_end_is_refused_without_reading_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(aioglif.cli._graph, "MAX_GRAPH_FILE", 2**20)
    with Pipe(tmp_path / "graph.json", 2**20 + 10) as pipe:
        code, err = run(["validate", str(pipe.path)], capsys)
        assert not pipe.closed.is_set()  # refused while the pipe was still open
    assert code == 2 and "larger than" in err


def test_an_out_that_is_a_pipe_is_refused(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = env / "out.jsonl"
    os.mkfifo(out)
    (env / "in.jsonl").write_text('["a"]\n')
    # Opening the pipe to see whose it is waited for a writer forever; this only ends such a wait.
    unblock = threading.Timer(30, lambda: os.close(os.open(out, os.O_WRONLY | os.O_NONBLOCK)))
    unblock.start()
    try:
        code, err = run(
            ["run", "clxxxxxxxxxxxxxxxxxxxxxxx", "--batch", "in.jsonl", "--out", str(out)], capsys
        )
    finally:
        unblock.cancel()
    assert code == 2 and "not a regular file" in err
