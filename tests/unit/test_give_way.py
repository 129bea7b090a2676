"""A long import lets a waiting thread in by a real sleep, once every 40 ms of its own work
(the clock and the sleep are stood in for, so nothing here depends on timing)."""

from __future__ import annotations

import pytest

from clinic_app.domain import imports


def test_a_long_job_sleeps_once_every_40_ms(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    slept: list[float] = []
    monkeypatch.setattr(imports.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(imports.time, "sleep", slept.append)
    monkeypatch.setattr(imports, "_last_turn", [0.0])
    imports.give_way()  # a job that never gave way: its first call does
    assert slept == [0.001]
    for _ in range(3):  # 30 ms later: not yet
        now[0] += 0.01
        imports.give_way()
    assert slept == [0.001]
    now[0] += 0.01  # 40 ms since the last turn
    imports.give_way()
    imports.give_way()
    assert slept == [0.001, 0.001]
