"""``aioglif run --batch``: the job store, identity, reruns, refusals, kills, two processes."""

from __future__ import annotations

import json
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aioglif.cli import main
from aioglif.testing import fake_server_process

from .conftest import sqlite

JOBS = 40


class Api:
    def __init__(self, base: str, glifs: list[dict[str, Any]]) -> None:
        self.base = base
        with_one = [g for g in glifs if _names(g)]
        self.glif, self.other = with_one[0]["id"], with_one[1]["id"]
        self.name, self.other_name = _names(with_one[0])[0], _names(with_one[1])[0]

    def control(self, what: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        with urllib.request.urlopen(urllib.request.Request(self.base + "/_fake/" + what, data=data)) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]

    def reset(self, **faults: Any) -> None:
        self.control("faults", {"run_latency": 0.05, "max_concurrent_runs": 8, **faults})
        self.control("reset", {})

    @property
    def runs_started(self) -> int:
        return int(self.control("stats")["runs_started"])

    def argv(self, inputs: Path, out: Path, *extra: str, glif: str | None = None) -> list[str]:
        return [
            *("--api-url", self.base + "/api", "--simple-api-url", self.base + "/simple"),
            *("--token", "fake-token", "run", glif or self.glif, "--batch", str(inputs)),
            *("--out", str(out), "--concurrency", "8", *extra),
        ]


def _names(glif: dict[str, Any]) -> list[str]:
    return [n["name"] for n in glif["data"]["nodes"] if n["type"] == "TextInputBlock"]


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    args = ("--seed", "5", "--glifs", "30", "--runs", "10", "--credits", "1000000")
    with fake_server_process(*args) as base:
        glifs = json.loads(urllib.request.urlopen(base + "/api/glifs?limit=100&includes=spells.data").read())
        yield Api(base, glifs)


@pytest.fixture
def fresh(api: Api) -> Api:
    api.reset()
    return api


def write_inputs(path: Path, name: str, values: list[str]) -> Path:
    path.write_text(name + "\n" + "".join(f"{v}\n" for v in values))
    return path


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").split("\n") if x]


def store_counts(out: Path) -> dict[str, int]:
    try:
        with sqlite(out.with_name(out.name + ".jobs.sqlite")) as db:
            return dict(db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    except sqlite3.Error:
        return {}


def as_process(argv: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aioglif", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_for(proc: subprocess.Popen[str], out: Path, states: tuple[str, ...], at_least: int) -> bool:
    """Wait until the store holds ``at_least`` jobs in ``states`` (progress, not time)."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if sum(store_counts(out).get(s, 0) for s in states) >= at_least:
            return True
        time.sleep(0.005)
    return False


def test_a_batch_runs_each_job_once_and_a_rerun_skips_them_by_identity(
    fresh: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "in.csv", fresh.name, [f"value {i}" for i in range(JOBS)])
    out = tmp_path / "out.jsonl"
    assert main(fresh.argv(inputs, out)) == 0
    results = lines(out)
    assert sorted(int(r["key"]) for r in results) == list(range(1, JOBS + 1))
    assert all(r["ok"] and r["state"] == "ok" and r["price"] and r["output"] for r in results)
    assert fresh.runs_started == JOBS
    assert "exit 0: every job" in capsys.readouterr().err
    # Rows reordered and one repeated: the same jobs, nothing runs.
    write_inputs(inputs, fresh.name, [f"value {i}" for i in reversed(range(JOBS))] + ["value 3"])
    assert main(fresh.argv(inputs, out)) == 0
    err = capsys.readouterr().err
    assert f"{JOBS} ok, 0 failed, 0 unknown, 0 never run; 0 to run now" in err
    assert "1 repeat an earlier row and are the same job" in err
    assert fresh.runs_started == JOBS
    assert len(lines(out)) == JOBS


def test_an_edited_input_runs_its_new_rows_and_another_glif_its_own_jobs(
    fresh: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "in.csv", fresh.name, ["a", "b"])
    out = tmp_path / "out.jsonl"
    assert main(fresh.argv(inputs, out)) == 0
    write_inputs(inputs, fresh.name, ["X1", "X2", "X3"])
    assert main(fresh.argv(inputs, out)) == 0
    assert fresh.runs_started == 5
    assert {r["inputs"][fresh.name] for r in lines(out)} == {"a", "b", "X1", "X2", "X3"}
    other = write_inputs(tmp_path / "other.csv", fresh.other_name, ["X1", "X2", "X3"])
    assert main(fresh.argv(other, out, glif=fresh.other)) == 0
    assert fresh.runs_started == 8
    assert sorted(r["glif_id"] for r in lines(out)) == sorted([fresh.glif] * 5 + [fresh.other] * 3)
    # A key column makes the same inputs different jobs.
    keyed = tmp_path / "keyed.csv"
    keyed.write_text(f"id,{fresh.name}\n1,same\n2,same\n")
    assert main(fresh.argv(keyed, out, "--key", "id")) == 0
    assert fresh.runs_started == 10
    assert "2 jobs in" in capsys.readouterr().err


def test_files_that_are_not_ours_are_refused_untouched(
    fresh: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "in.csv", fresh.name, ["a", "b"])
    precious = tmp_path / "precious.txt"
    precious.write_text("do not touch\n")
    crawl_db = tmp_path / "crawl.sqlite"
    with sqlite(crawl_db) as db:
        db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    crawl_bytes = crawl_db.read_bytes()
    cases = [
        (precious, "that aioglif did not write"),
        (inputs, "is the input file"),
        (crawl_db, "SQLite database"),
    ]
    for out, message in cases:
        before = out.read_bytes()
        assert main(fresh.argv(inputs, out)) == 2
        assert message in capsys.readouterr().err
        assert out.read_bytes() == before
        assert not out.with_name(out.name + ".jobs.sqlite").exists()
    assert crawl_db.read_bytes() == crawl_bytes
    # Our own export, changed since (a blank line added): refused too, and nothing is lost.
    out = tmp_path / "out.jsonl"
    assert main(fresh.argv(inputs, out)) == 0
    out.write_text(out.read_text() + "\n")
    assert main(fresh.argv(inputs, out)) == 2
    assert "was changed since aioglif wrote it" in capsys.readouterr().err
    out.unlink()
    assert main(fresh.argv(inputs, out)) == 0
    assert len(lines(out)) == 2
    assert fresh.runs_started == 2


def test_a_batch_whose_directory_moved_still_knows_its_own_export(
    fresh: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "in.csv", fresh.name, ["a", "b"])
    (tmp_path / "mv1").mkdir()
    assert main(fresh.argv(inputs, tmp_path / "mv1" / "out.jsonl")) == 0
    (tmp_path / "mv1").rename(tmp_path / "mv2")
    out = tmp_path / "mv2" / "out.jsonl"
    assert main(fresh.argv(inputs, out)) == 0  # was refused: "changed since aioglif wrote it"
    assert len(lines(out)) == 2 and fresh.runs_started == 2  # nothing run again
    # What is there is still only taken for ours while it holds what we wrote.
    out.write_text(out.read_text().replace('"ok"', '"OK"', 1))
    assert main(fresh.argv(inputs, out)) == 2
    assert "was changed since aioglif wrote it" in capsys.readouterr().err


def test_a_results_file_whose_name_is_not_utf8_is_written(
    fresh: Api, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # A byte that is not UTF-8 in the name (Python keeps it as a lone surrogate) failed the
    # export's record in the store after the runs were paid for: exit 2, no results file.
    inputs = write_inputs(tmp_path / "in.csv", fresh.name, ["a", "b"])
    out = tmp_path / "r\udcfe.jsonl"
    assert main(fresh.argv(inputs, out)) == 0, capfd.readouterr().err
    assert len(lines(out)) == 2
    assert main(fresh.argv(inputs, out)) == 0  # and it is known as ours the next time
    assert fresh.runs_started == 2


def test_failed_jobs_wait_for_retry_failed(
    fresh: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "in.csv", fresh.name, [f"v{i}" for i in range(10)])
    out = tmp_path / "out.jsonl"
    fresh.reset(run_failure_rate=1.0)
    assert main(fresh.argv(inputs, out)) == 1
    err = capsys.readouterr().err
    assert "0 ok, 10 failed" in err and "--retry-failed runs them" in err and "exit 1" in err
    assert {r["error_kind"] for r in lines(out)} == {"run_failed"}
    fresh.reset()
    assert main(fresh.argv(inputs, out)) == 1  # failed jobs are not run again by themselves
    assert fresh.runs_started == 0
    assert main(fresh.argv(inputs, out, "--retry-failed")) == 0
    assert fresh.runs_started == 10
    assert all(r["ok"] for r in lines(out))


def test_unknown_jobs_wait_for_retry_unknown(
    fresh: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = write_inputs(tmp_path / "in.csv", fresh.name, ["a", "b", "c"])
    out = tmp_path / "out.jsonl"
    assert main(fresh.argv(inputs, out)) == 0
    # As a process killed while its run was in flight leaves it: sent, no answer stored.
    with sqlite(out.with_name(out.name + ".jobs.sqlite")) as db:
        db.execute("UPDATE jobs SET state='submitted' WHERE row=2")
    capsys.readouterr()
    assert main(fresh.argv(inputs, out)) == 1
    err = capsys.readouterr().err
    assert "1 job(s) were sent by a run that ended before their answer came" in err
    assert "--retry-unknown runs them again" in err and "exit 1" in err
    assert fresh.runs_started == 3  # not paid for again by itself
    assert [r["state"] for r in lines(out)] == ["ok", "unknown", "ok"]
    assert main(fresh.argv(inputs, out, "--retry-unknown")) == 0
    assert fresh.runs_started == 4  # exactly that one
    assert [r["state"] for r in lines(out)] == ["ok", "ok", "ok"]


def test_output_of_any_shape_and_unknown_keys_are_kept(fresh: Api, tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.csv", fresh.name, ["a"])
    fresh.reset(run_output="list")
    out = tmp_path / "out.jsonl"
    assert main(fresh.argv(inputs, out)) == 0
    (line,) = lines(out)
    assert line["output"] == [line["result"]["outputFull"]["value"]]
    assert line["result"]["outputFull"]["width"] == 512  # a key no model knows


def test_csv_and_parquet_exports(fresh: Api, tmp_path: Path) -> None:
    import csv

    import pyarrow.parquet as pq

    inputs = write_inputs(tmp_path / "in.csv", fresh.name, ['"quoted, with comma"', "plain"])
    assert main(fresh.argv(inputs, tmp_path / "out.csv")) == 0
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [json.loads(r["inputs"])[fresh.name] for r in rows] == ["quoted, with comma", "plain"]
    assert main(fresh.argv(inputs, tmp_path / "out.parquet")) == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == 2 and table.column("state").to_pylist() == ["ok", "ok"]


def until(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    """Wait for progress (not for time): ``condition`` true while the batch still runs."""
    deadline = time.monotonic() + 60  # only against a hang: the wait ends by progress
    while not condition():
        assert proc.poll() is None, f"the batch ended before {what}"
        assert time.monotonic() < deadline, f"no progress: {what}"
        time.sleep(0.005)


def read_until(proc: subprocess.Popen[str], text: str) -> str:
    """Read the process's stderr until a line holds ``text`` (progress, not time)."""
    assert proc.stderr is not None
    lines: queue.Queue[str] = queue.Queue()

    def reader() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
            if text in line:
                return
        lines.put("")

    threading.Thread(target=reader, daemon=True).start()
    seen = []
    while True:
        line = lines.get(timeout=60)  # only against a hang
        seen.append(line)
        if not line or text in line:
            return "".join(seen)


def test_killed_at_five_moments_every_job_is_there_once_and_paid_once(api: Api, tmp_path: Path) -> None:
    api.reset(run_latency=0.1)
    jobs = 60
    inputs = write_inputs(tmp_path / "in.csv", api.name, [f"k{i}" for i in range(jobs)])
    out = tmp_path / "out.jsonl"
    rng = random.Random(9)
    try:
        for _ in range(5):
            # Killed after 4-12 more requests: each kill lands in the middle, at a point chosen
            # by progress (the batch can go no further) and different each time.
            api.control("gate", {"after": rng.randint(4, 12)})
            proc = as_process(api.argv(inputs, out))
            try:
                until(lambda: api.control("gate")["held"] > 0, proc, "the gate held a request")
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.communicate(timeout=30)
            assert proc.returncode == -signal.SIGKILL
    finally:
        api.control("gate", {"after": None})
    assert 0 < store_counts(out).get("ok", 0) < jobs
    done = as_process(api.argv(inputs, out))
    _, err = done.communicate(timeout=60)
    counts = store_counts(out)
    results = lines(out)
    assert sorted(r["row"] for r in results) == list(range(1, jobs + 1)), err  # each job once
    unknown = counts.get("unknown", 0)
    assert counts.get("ok", 0) + unknown == jobs
    assert done.returncode == (1 if unknown else 0), err
    # Paid once: a job killed in flight is unknown and not run again; each other ran once.
    assert jobs - unknown <= api.runs_started <= jobs


def test_two_processes_on_one_store_the_second_is_refused(api: Api, tmp_path: Path) -> None:
    api.reset(run_latency=0.1)
    inputs = write_inputs(tmp_path / "in.csv", api.name, [f"t{i}" for i in range(30)])
    out = tmp_path / "out.jsonl"
    api.control("gate", {"after": 6})  # the first process is held after a few runs
    try:
        first = as_process(api.argv(inputs, out))
        assert wait_for(first, out, ("submitted",), 1)
        second = as_process(api.argv(inputs, out))
        _, err = second.communicate(timeout=30)
        assert second.returncode == 2
        assert "in use by another process" in err
        assert "Traceback" not in err
    finally:
        api.control("gate", {"after": None})
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert api.runs_started == 30
    assert len(lines(out)) == 30


def test_ctrl_c_with_a_long_grace_waits_for_runs_in_flight_and_loses_nothing(
    api: Api, tmp_path: Path
) -> None:
    api.reset(run_latency=0.1)
    inputs = write_inputs(tmp_path / "in.csv", api.name, [f"c{i}" for i in range(60)])
    out = tmp_path / "out.jsonl"
    api.control("gate", {"after": 20})  # the batch cannot finish before Ctrl-C, however fast
    try:
        proc = as_process(api.argv(inputs, out, "--stop-grace", "600"))
        assert wait_for(proc, out, ("ok",), 10)
        # All 8 slots held, not merely one: until then the batch is still filling its slots.
        until(lambda: api.control("gate")["held"] >= 8, proc, "the gate held the 8 runs in flight")
        proc.send_signal(signal.SIGINT)
        err = read_until(proc, "in flight (--stop-grace)")
    finally:
        api.control("gate", {"after": None})  # the runs in flight get their answers
    _, rest = proc.communicate(timeout=30)
    err += rest
    assert proc.returncode == 130, err
    assert "waiting up to 600 s for the 8 in flight" in err
    first = lines(out)
    assert 0 < sum(r["ok"] for r in first) < 60
    assert {r["state"] for r in first} <= {"ok", "pending"}  # every run sent has its answer
    assert main(api.argv(inputs, out)) == 0
    assert sorted(r["row"] for r in lines(out)) == list(range(1, 61))
    assert api.runs_started == 60


def test_bad_batch_input_exits_2_before_any_run(
    fresh: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(f"{fresh.name},not_an_input\na,b\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(f'{{"{fresh.name}": "a"}}\n{{"{fresh.name}": "b"}}\n{{oops\n')
    short = tmp_path / "short.csv"
    short.write_text(f"{fresh.name},other\na\n")
    cases = [
        (wrong, "not_an_input are not inputs of the glif"),
        (tmp_path / "missing.csv", "cannot read"),
        (broken, "broken.jsonl:3: not valid JSON"),
        (short, "row 1 (line 2): 1 cells"),
    ]
    for path, message in cases:
        out = tmp_path / f"{path.stem}.out.jsonl"
        assert main(fresh.argv(path, out)) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()
    assert fresh.runs_started == 0
    with pytest.raises(SystemExit) as info:
        main([*fresh.argv(wrong, tmp_path / "x"), "--concurrency", "0"])
    assert info.value.code == 2


def test_a_key_column_that_is_an_input_of_the_glif_is_still_sent(fresh: Api, tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.csv", fresh.name, ["A", "B"])
    out = tmp_path / "out.jsonl"
    assert main(fresh.argv(inputs, out, "--key", fresh.name)) == 0
    results = lines(out)
    assert sorted(r["key"] for r in results) == ["A", "B"]
    # What the server ran on is the column's values, not the glif's default.
    assert sorted(r["result"]["inputs"][fresh.name] for r in results) == ["A", "B"]
    assert fresh.runs_started == 2


def test_runs_abandoned_by_a_second_ctrl_c_are_unknown_at_once(api: Api, tmp_path: Path) -> None:
    api.reset(run_latency=0.05)
    inputs = write_inputs(tmp_path / "in.csv", api.name, [f"x{i}" for i in range(30)])
    out = tmp_path / "out.jsonl"
    api.control("gate", {"after": 2})  # the glif is read (twice); every run is held
    try:
        proc = as_process(api.argv(inputs, out))
        assert wait_for(proc, out, ("submitted",), 8)
        while api.control("gate")["held"] < 8:
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        while "stopping" not in proc.stderr.readline():
            pass
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        api.control("gate", {"after": None})
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "now: 0 ok, 0 failed, 8 unknown, 22 never run" in err, err
    assert "--retry-unknown runs them again" in err
    assert store_counts(out) == {"unknown": 8, "pending": 22}
    assert sorted(r["state"] for r in lines(out)) == ["pending"] * 22 + ["unknown"] * 8


def test_ctrl_c_against_a_server_that_never_answers_gives_up_after_the_grace(
    api: Api, tmp_path: Path
) -> None:
    api.reset(run_latency=0.05)
    inputs = write_inputs(tmp_path / "in.csv", api.name, [f"n{i}" for i in range(30)])
    out = tmp_path / "out.jsonl"
    api.control("gate", {"after": 2 + 5})  # the glif is read (twice), 5 runs answer, the rest never
    try:
        proc = as_process(api.argv(inputs, out))
        assert wait_for(proc, out, ("ok",), 5)
        until(lambda: api.control("gate")["held"] == 8, proc, "8 runs held")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # only against a hang: the gate stays closed
    finally:
        api.control("gate", {"after": None})
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "waiting up to 1.5 s for the 8 in flight" in err
    assert "given up: 8 run(s) still in flight when the stop's grace ran out" in err
    assert "now: 5 ok, 0 failed, 8 unknown, 17 never run" in err, err
    assert store_counts(out) == {"ok": 5, "unknown": 8, "pending": 17}
    assert {r["error_kind"] for r in lines(out) if r["state"] == "unknown"} == {"abandoned"}
    # The next run goes on with what never ran, and leaves the unknown ones alone.
    again = as_process(api.argv(inputs, out))
    _, err = again.communicate(timeout=60)
    assert again.returncode == 1, err
    assert "this run: 17 sent, 17 ok" in err, err
    assert store_counts(out) == {"ok": 22, "unknown": 8}


def test_killed_during_the_grace_the_runs_in_flight_are_unknown_next_time(api: Api, tmp_path: Path) -> None:
    api.reset(run_latency=0.05)
    inputs = write_inputs(tmp_path / "in.csv", api.name, [f"q{i}" for i in range(20)])
    out = tmp_path / "out.jsonl"
    api.control("gate", {"after": 2 + 3})
    try:
        proc = as_process(api.argv(inputs, out, "--stop-grace", "600"))
        assert wait_for(proc, out, ("ok",), 3)
        until(lambda: api.control("gate")["held"] == 8, proc, "8 runs held")
        proc.send_signal(signal.SIGINT)
        read_until(proc, "in flight (--stop-grace)")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        api.control("gate", {"after": None})
    assert proc.returncode == -signal.SIGKILL
    assert store_counts(out) == {"ok": 3, "submitted": 8, "pending": 9}
    again = as_process(api.argv(inputs, out))
    _, err = again.communicate(timeout=60)
    assert again.returncode == 1, err
    assert "8 job(s) were sent by a run that ended before their answer came" in err, err
    assert "this run: 9 sent, 9 ok" in err, err
    assert store_counts(out) == {"ok": 12, "unknown": 8}


def _interrupt_with_runs_in_flight(api: Api, inputs: Path, out: Path, *extra: str) -> None:
    """4 runs answered, 8 held when Ctrl-C comes and given up at once; then the server makes
    the 8 (as a real one would, the client gone): they exist, and the store says unknown."""
    api.control("gate", {"after": 2 + 4})
    try:
        proc = as_process(api.argv(inputs, out, *extra))
        assert wait_for(proc, out, ("ok",), 4)
        until(lambda: api.control("gate")["held"] == 8, proc, "8 runs held")
        proc.send_signal(signal.SIGINT)
        read_until(proc, "in flight (--stop-grace)")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        api.control("gate", {"after": None})
    assert proc.returncode == 130, err
    assert store_counts(out) == {"ok": 4, "unknown": 8, "pending": 8}
    deadline = time.monotonic() + 60  # only against a hang
    while api.runs_started < 12:
        assert time.monotonic() < deadline, "the server did not make the runs given up"
        time.sleep(0.005)


def test_unknown_jobs_found_among_the_users_runs_are_recovered_not_paid_again(
    api: Api, tmp_path: Path
) -> None:
    api.reset(run_latency=0.05)
    inputs = write_inputs(tmp_path / "in.csv", api.name, [f"r{i}" for i in range(20)])
    out = tmp_path / "out.jsonl"
    _interrupt_with_runs_in_flight(api, inputs, out, "--public")
    again = as_process(api.argv(inputs, out, "--public"))
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert "8 unknown job(s) looked up among your runs of the glif: 8 found" in err, err
    assert "this run: 8 sent, 8 ok" in err, err
    assert api.runs_started == 20  # each job paid once
    results = lines(out)
    assert store_counts(out) == {"ok": 20}
    recovered = [r for r in results if r["recovered"]]
    assert len(recovered) == 8
    # Each has the answer of its own run (one run each): what the server ran on is the job's input.
    assert len({r["result"]["id"] for r in recovered}) == 8
    for r in recovered:
        assert r["result"]["inputs"][api.name] == r["inputs"][api.name]
        assert r["output"] == r["result"]["output"] is not None
        assert r["price"] is not None


def test_unknown_jobs_not_found_are_run_again_only_with_retry_unknown(api: Api, tmp_path: Path) -> None:
    api.reset(run_latency=0.05)
    inputs = write_inputs(tmp_path / "in.csv", api.name, [f"p{i}" for i in range(20)])
    out = tmp_path / "out.jsonl"
    _interrupt_with_runs_in_flight(api, inputs, out)  # private runs: not listed
    again = as_process(api.argv(inputs, out))
    _, err = again.communicate(timeout=60)
    assert again.returncode == 1, err
    assert "8 unknown job(s) looked up among your runs of the glif: 0 found" in err, err
    assert "only public runs are surely listed" in err
    assert store_counts(out) == {"ok": 12, "unknown": 8}
    assert api.runs_started == 20
    retried = as_process(api.argv(inputs, out, "--retry-unknown"))
    _, err = retried.communicate(timeout=60)
    assert retried.returncode == 0, err
    assert api.runs_started == 28  # the 8 were made twice: nobody could tell
    assert store_counts(out) == {"ok": 20}


def test_a_timeout_or_a_full_disk_is_exit_1_not_a_bad_out(
    fresh: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A timeout is also a builtin OSError: it was taken for "cannot use --out" and exit 2 (bad
    # arguments or files), where the README says 1 for the network and for a full disk.
    import errno

    from aioglif import GlifClient
    from aioglif import TimeoutError as GlifTimeout
    from aioglif._jobstore import JobStore

    inputs = write_inputs(tmp_path / "in.csv", fresh.name, ["a"])

    async def times_out(self: Any, glif_id: str) -> Any:
        raise GlifTimeout("no whole answer within the total timeout of 1s", method="GET", url="u")

    with monkeypatch.context() as m:
        m.setattr(GlifClient, "get_glif", times_out)
        assert main(fresh.argv(inputs, tmp_path / "a.jsonl")) == 1
    err = capsys.readouterr().err
    assert "TimeoutError" in err and "cannot use --out" not in err

    def disk_full(self: Any, *args: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(JobStore, "export", disk_full)
        assert main(fresh.argv(inputs, tmp_path / "b.jsonl")) == 1
    assert "disk is full" in capsys.readouterr().err
