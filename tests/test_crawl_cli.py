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
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioglif.cli import main
from aioglif.testing import fake_server_process

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
    with sqlite3.connect(path) as db:
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


def test_killed_five_times_the_resumed_crawl_equals_an_uninterrupted_one(
    api: str, reference: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    out = tmp_path / "killed.sqlite"
    rng = random.Random(4)
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(crawl_args(api, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.4, 1.2))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
    assert kills >= 3, "the crawl finished too early to be killed"
    done = subprocess.run(crawl_args(api, out), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stdout or kills < 5
    assert contents(out) == reference


def test_ctrl_c_stops_gracefully_and_the_next_run_resumes(
    api: str, reference: dict[str, dict[str, object]], tmp_path: Path
) -> None:
    out = tmp_path / "stopped.sqlite"
    proc = subprocess.Popen(crawl_args(api, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.8)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
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
    with sqlite3.connect(other) as db:
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
    with sqlite3.connect(tmp_path / "aioglif-simulated.sqlite") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 800
