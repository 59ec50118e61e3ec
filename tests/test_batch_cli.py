"""``aioglif run --batch`` as a real process: results, resume, unknown jobs, Ctrl-C, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioglif.cli import main
from aioglif.testing import fake_server_process


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, str, str]]:
    """A fake Glif API process whose runs take 0.2 s; yields (api url, simple url, "glif input")."""
    args = (
        "--seed",
        "5",
        "--glifs",
        "30",
        "--runs",
        "10",
        "--run-latency",
        "0.2",
        "--max-concurrent-runs",
        "8",
        "--credits",
        "1000000",
    )
    with fake_server_process(*args) as base:
        glifs = json.loads(urllib.request.urlopen(base + "/api/glifs?limit=100&includes=spells.data").read())
        glif = next(x for x in glifs if any(n["type"] == "TextInputBlock" for n in x["data"]["nodes"]))
        name = next(n["name"] for n in glif["data"]["nodes"] if n["type"] == "TextInputBlock")
        yield base + "/api", base + "/simple", glif["id"] + " " + name


def batch(api: tuple[str, str, str], tmp: Path, *extra: str, rows: int = 40) -> tuple[list[str], Path]:
    glif_id, name = api[2].split()
    inputs = tmp / "inputs.csv"
    inputs.write_text(name + "\n" + "".join(f"value {i}\n" for i in range(rows)))
    argv = [
        sys.executable,
        "-m",
        "aioglif",
        "--api-url",
        api[0],
        "--simple-api-url",
        api[1],
        "--token",
        "fake-token",
        "run",
        glif_id,
        "--batch",
        str(inputs),
        "--out",
        str(tmp / "out.jsonl"),
        "--concurrency",
        "8",
        *extra,
    ]
    return argv, tmp / "out.jsonl"


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_a_batch_runs_every_row_once_and_a_rerun_skips_them(
    api: tuple[str, str, str], tmp_path: Path
) -> None:
    argv, out = batch(api, tmp_path)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    results = lines(out)
    assert sorted(int(r["key"]) for r in results) == list(range(1, 41))  # type: ignore[call-overload]
    assert all(r["ok"] and r["price"] for r in results)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0
    assert "40 done before, 0 to run" in again.stderr
    assert len(lines(out)) == 40


def test_resume_from_a_partial_out_reports_unknown_jobs(api: tuple[str, str, str], tmp_path: Path) -> None:
    argv, out = batch(api, tmp_path)
    assert subprocess.run(argv, capture_output=True, timeout=60, check=False).returncode == 0
    kept = out.read_text().splitlines()[:10]
    out.write_text("\n".join(kept) + "\n" + '{"key": "torn li')  # a line torn by a crash
    ledger = out.with_name(out.name + ".ledger")
    submitted = [json.loads(x)["key"] for x in kept] + ["39", "40"]  # sent, never answered
    ledger.write_text("".join(json.dumps({"key": k}) + "\n" for k in submitted))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1  # something is unknown
    assert "2 job(s) were sent before but have no result" in done.stderr
    keys = [r["key"] for r in lines(out)]
    assert len(keys) == 38
    assert len(set(keys)) == 38
    assert "39" not in keys
    retried = subprocess.run(
        [*argv, "--retry-unknown"], capture_output=True, text=True, timeout=60, check=False
    )
    assert retried.returncode == 0, retried.stderr
    keys = [r["key"] for r in lines(out)]
    assert sorted(keys, key=int) == [str(i) for i in range(1, 41)]


def test_ctrl_c_waits_for_runs_in_flight_and_loses_nothing(api: tuple[str, str, str], tmp_path: Path) -> None:
    argv, out = batch(api, tmp_path, rows=80)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "waiting for those in flight" in stderr
    first = [r["key"] for r in lines(out)]
    submitted = {json.loads(x)["key"] for x in out.with_name(out.name + ".ledger").read_text().splitlines()}
    assert 0 < len(first) < 80
    assert submitted == set(first)  # every run that was sent has its result: none is unknown
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    keys = [r["key"] for r in lines(out)]
    assert sorted(keys, key=int) == [str(i) for i in range(1, 81)]  # each once


def test_bad_batch_input_exits_2_before_any_run(
    api: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    glif_id, name = api[2].split()
    base = ["--api-url", api[0], "--simple-api-url", api[1], "--token", "fake-token", "run", glif_id]
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(f"{name},not_an_input\na,b\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(f'{{"{name}": "a"}}\n{{"{name}": "b"}}\n{{oops\n')
    cases = [
        (wrong, "not_an_input are not inputs of the glif"),
        (tmp_path / "missing.csv", "cannot read"),
        (broken, "broken.jsonl:3: not valid JSON"),
    ]
    for path, message in cases:
        out = tmp_path / f"{path.stem}.out.jsonl"
        assert main([*base, "--batch", str(path), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()
    with pytest.raises(SystemExit) as info:
        main([*base, "--batch", str(wrong), "--out", str(tmp_path / "x"), "--concurrency", "0"])
    assert info.value.code == 2
