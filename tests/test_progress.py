"""Progress you can trust: batch progress off a terminal prints each count once, in steps."""

from __future__ import annotations

import pytest

from aioglif._batch import _Progress
from aioglif.dispatch import DispatchStats


def test_batch_progress_off_a_terminal_does_not_repeat_lines(capsys: pytest.CaptureFixture[str]) -> None:
    progress = _Progress(200, terminal=False)
    for done in range(201):
        for _ in range(3):  # several results may leave the count where it was
            progress.update(DispatchStats(ok=done))
    lines = capsys.readouterr().err.splitlines()
    counts = [line.split()[1] for line in lines]
    assert len(counts) == len(set(counts))  # no line twice
    assert counts[-1] == "200/200" and 10 <= len(lines) <= 21  # every 5%, and the end


def test_crawl_time_is_shares_of_the_wall_clock_not_sums_over_requests() -> None:
    from aioglif.cli._crawl import _time_shares

    line = _time_shares(
        {
            "seconds": 19.0,
            "limiter_seconds": 247.0,
            "network_seconds": 38.0,
            "decode_seconds": 0.95,
            "write_seconds": 1.9,
        }
    )
    assert "247" not in line  # a sum over 16 concurrent requests is not time the crawl took
    assert line == (
        "19.0s; decoding 5% and writing 10% of it; on average 2.0 requests in flight and 13.0 waiting"
        " for the rate limit"
    )


def test_crawl_eta_is_a_lower_bound_while_glifs_are_found_then_converges() -> None:
    from aioglif.cli._crawl import _Eta

    eta = _Eta()
    # 100 runs/s; the planned runs grow with the glifs found during the first 20 s.
    shown = [eta.estimate(float(t), min(t, 20) * 10, t * 100, 2000 + min(t, 20) * 100) for t in range(1, 41)]
    assert shown[10].startswith(">= ")  # glifs still being found: more runs will come
    assert shown[35] == "4s"  # t=36: 4,000 planned, 3,600 done, at 100/s
    assert shown[38] == "1s"
