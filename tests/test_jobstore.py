"""The batch's job store: identity, states across a crash, exports we recognise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aioglif._jobstore import JobRecord, JobStore, identity
from aioglif._protocol import run_error_kind
from aioglif._store import StoreLocked

from .conftest import sqlite


def test_identity_is_the_glif_the_canonical_inputs_and_the_key() -> None:
    a = identity("g", {"x": "1", "y": "2"}, None)
    assert a == identity("g", {"y": "2", "x": "1"}, None)  # order of names does not matter
    assert a != identity("h", {"x": "1", "y": "2"}, None)
    assert a != identity("g", {"x": "1", "y": "3"}, None)
    assert a != identity("g", {"x": "1", "y": "2"}, "row-7")
    assert identity("g", ["a\u2028b"], None) != identity("g", ["a", "b"], None)


def test_a_job_sent_by_a_process_that_died_is_unknown_after(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl.jobs.sqlite"
    jobs = [(identity("g", {"x": str(i)}, None), "g", {"x": str(i)}, None, i + 1) for i in range(3)]
    store = JobStore(path)
    assert store.begin(jobs) == 0
    store.submitted(jobs[0][0])
    store.submitted(jobs[1][0])
    store.record(jobs[1][0], JobRecord("ok", output=["a", "list"], result='{"output": ["a", "list"]}'))
    store.db.close()  # the process dies: no clean close
    assert store._lock_file is not None
    store._lock_file.close()
    again = JobStore(path)
    assert again.begin(jobs) == 1
    states = {j.id: j.state for j in again.jobs([j[0] for j in jobs]).values()}
    assert [states[j[0]] for j in jobs] == ["unknown", "ok", "pending"]
    with pytest.raises(StoreLocked):
        JobStore(path)
    out = tmp_path / "out.jsonl"
    assert again.export(out, "jsonl") == 3
    rows = [json.loads(x) for x in out.read_text().split("\n") if x]
    assert [r["state"] for r in rows] == ["unknown", "ok", "pending"]
    assert rows[1]["output"] == ["a", "list"] and rows[1]["result"] == {"output": ["a", "list"]}
    assert again.wrote(out)
    out.write_text(out.read_text() + "\n")
    assert not again.wrote(out)
    again.close()


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Rate limit exceeded", "rate_limited"),
        ("Too many requests, slow down", "rate_limited"),
        ("Too many concurrent runs: wait for one to finish", "rate_limited"),
        ("Not enough credits", "out_of_credits"),
        ("You have run out of credits", "out_of_credits"),
        ("Glif not found", "not_found"),
        ("could not fetch glif", "not_found"),
        ("Prompt is required", "failed"),
        ("Run failed: the model returned an error", "failed"),
    ],
)
def test_the_simple_apis_error_texts_are_classified(message: str, kind: str) -> None:
    assert run_error_kind(message) == kind


def test_a_store_of_schema_1_gains_the_recovered_column_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl.jobs.sqlite"
    jobs = [(identity("g", {"x": "1"}, None), "g", {"x": "1"}, None, 1)]
    with JobStore(path) as store:
        store.begin(jobs)
        store.submitted(jobs[0][0])
        store.settle()
    with sqlite(path) as db:  # as version 1 wrote it
        db.execute("ALTER TABLE jobs DROP COLUMN recovered")
        db.execute("UPDATE meta SET value='1' WHERE key='schema'")
    db.close()
    with JobStore(path) as store:
        assert store.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("2",)
        assert store.counts() == {"unknown": 1}
        [candidate] = store.candidates("g", [jobs[0][0]])
        assert (candidate.state, candidate.run_id) == ("unknown", None)
        store.adopt(jobs[0][0], "run-1", JobRecord("ok", price="0.5", output="hi", result='{"id": "run-1"}'))
        [row] = list(store.export_rows())
    assert (row["state"], row["recovered"], row["output"], row["price"]) == ("ok", True, "hi", "0.5")
