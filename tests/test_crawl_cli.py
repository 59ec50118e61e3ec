"""``aioglif crawl`` as a real process: killed with SIGKILL and resumed, Ctrl-C, bad input."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aioglif.cli import main
from aioglif.testing import fake_server_process

from .conftest import sqlite

TABLES = ("glifs", "runs", "users", "spheres")


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    """A fake Glif API in a process of its own, shared by this module's tests (read-only)."""
    args = (
        "--seed",
        "9",
        "--glifs",
        "200",
        "--runs",
        "2500",
        "--users",
        "20",
        "--spheres",
        "2",
        "--latency",
        "0.003",
    )
    with fake_server_process(*args) as base:
        yield base + "/api"


def crawl_args(api: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "aioglif",
        "--api-url",
        api,
        "--token",
        "fake-token",
        "crawl",
        "--out",
        str(out),
        "--runs",
        "--rate",
        "150",
        "--progress",
        "none",
        *extra,
    ]


def contents(path: Path) -> dict[str, dict[str, object]]:
    with sqlite(path) as db:
        return {t: {i: json.loads(j) for i, j in db.execute(f"SELECT id, json FROM {t}")} for t in TABLES}


@pytest.fixture(scope="module")
def reference(api: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    out = tmp_path_factory.mktemp("ref") / "ref.sqlite"
    done = subprocess.run(crawl_args(api, out), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return contents(out)


def test_reference_crawl_is_whole(reference: dict[str, dict[str, object]]) -> None:
    assert len(reference["runs"]) == 2500
    assert len(reference["glifs"]) > 150


def gate(api: str, after: int | None) -> None:
    """Close the fake server's gate after ``after`` more requests (None: open it)."""
    req = urllib.request.Request(
        api.removesuffix("/api") + "/_fake/gate", data=json.dumps({"after": after}).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def held(api: str) -> int:
    with urllib.request.urlopen(api.removesuffix("/api") + "/_fake/gate", timeout=10) as r:
        return int(json.loads(r.read())["held"])


def rows(path: Path, table: str) -> int:
    try:
        with sqlite(f"file:{path}?mode=ro", uri=True) as db:
            return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.Error:
        return 0  # not created yet


def until(condition: Callable[[], bool], proc: subprocess.Popen[Any], what: str) -> None:
    """Wait for progress (not for time): ``condition`` true while the crawl still runs."""
    deadline = time.monotonic() + 60  # only against a hang: the wait ends by progress
    while not condition():
        assert proc.poll() is None, f"the crawl ended before {what}"
        assert time.monotonic() < deadline, f"no progress: {what}"
        time.sleep(0.02)


def test_killed_five_times_the_resumed_crawl_equals_an_uninterrupted_one(
    api: str, reference: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    out = tmp_path / "killed.sqlite"
    rng = random.Random(4)
    try:
        for _ in range(5):
            # Killed after 10-30 more requests: the crawl needs hundreds, so each kill lands
            # in the middle, at a point chosen by progress and different each time.
            gate(api, rng.randint(10, 30))
            proc = subprocess.Popen(
                crawl_args(api, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                until(lambda: held(api) > 0, proc, "the gate held a request")
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            gate(api, None)
    finally:
        gate(api, None)
    done = subprocess.run(crawl_args(api, out), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stdout
    assert contents(out) == reference


def test_ctrl_c_stops_gracefully_and_the_next_run_resumes(
    api: str, reference: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    out = tmp_path / "stopped.sqlite"
    gate(api, 60)
    try:
        proc = subprocess.Popen(
            crawl_args(api, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            # Runs are written and the server holds the next requests: Ctrl-C must not wait for them.
            until(lambda: held(api) > 0 and rows(out, "runs") > 0, proc, "runs were written")
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.wait(timeout=30)
    finally:
        gate(api, None)
    assert proc.returncode == 130, stderr
    assert "run the same command to resume" in stderr
    partial = contents(out)
    assert 0 < len(partial["runs"]) < len(reference["runs"])
    done = subprocess.run(crawl_args(api, out), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert contents(out) == reference


def test_exit_status_1_when_something_is_missing(api: str, tmp_path: Path) -> None:
    out = tmp_path / "missing.sqlite"
    done = subprocess.run(
        crawl_args(api, out, "--glif", "no-such-glif"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "glif:no-such-glif" in done.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--user", "nobody-at-all"], "no such user"),
        (["--sphere", "no-such-sphere"], "no such sphere"),
    ],
)
def test_a_scope_that_does_not_exist_exits_2_and_writes_nothing(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = tmp_path / "x.sqlite"
    code = main(["--api-url", api, "--token", "fake-token", "crawl", "--out", str(out), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_bad_outputs_exit_2_and_nothing_is_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = "http://127.0.0.1:9/api"  # nothing listens: a request would exit 1, not 2
    text = tmp_path / "notes.txt"
    text.write_text("not a database " * 100)
    other = tmp_path / "other.sqlite"
    with sqlite(other) as db:
        db.execute("CREATE TABLE theirs (x)")
    before = (text.read_bytes(), other.read_bytes())
    cases = [
        ([str(tmp_path / "missing-dir" / "out.sqlite")], "does not exist"),
        ([str(text)], "not an aioglif database"),
        ([str(other)], "not an aioglif database"),
        ([str(tmp_path)], "is a directory"),
    ]
    for out, message in cases:
        assert main(["--api-url", nowhere, "crawl", "--out", *out]) == 2
        err = capsys.readouterr().err
        assert message in err
        assert err.count("\n") == 1  # one line
    assert (text.read_bytes(), other.read_bytes()) == before


@pytest.mark.parametrize("flag", [["--rate", "0"], ["--concurrency", "0"], ["--rate", "-3"]])
def test_bad_numbers_exit_2(flag: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["crawl", "--out", str(tmp_path / "x.sqlite"), *flag])
    assert info.value.code == 2
    assert not (tmp_path / "x.sqlite").exists()


def test_simulate_runs_the_whole_job_offline(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "aioglif",
            "crawl",
            "--simulate",
            "--runs",
            "--simulate-glifs",
            "120",
            "--simulate-runs",
            "800",
            "--progress",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "GLIF_API_TOKEN": ""},
    )
    assert done.returncode == 0, done.stderr
    assert "complete" in done.stdout
    with sqlite(tmp_path / "aioglif-simulated.sqlite") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 800
