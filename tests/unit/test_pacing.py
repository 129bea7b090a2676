"""Paced heavy jobs: the duty cycle, and the lowered priority of their own thread."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from clinic_app.persistence import pacing


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_paced_job_works_its_share_of_the_time_in_short_slices() -> None:
    clock = FakeClock()
    pace = pacing.Pacer(share=0.25, slice_s=0.03, sleep=clock.sleep, clock=clock,
                        waited=lambda: 0.0)
    worked = 0.0
    for _ in range(1000):  # chunks of 7 ms of work
        clock.now += 0.007
        worked += 0.007
        pace()
    assert worked / clock.now == pytest.approx(0.25, abs=0.01)
    assert all(s == pytest.approx(3 * 0.035) for s in clock.slept)  # 5 chunks, then a pause
    assert pace.paused_s == pytest.approx(sum(clock.slept))


def test_no_pause_before_a_slice_of_work_is_done() -> None:
    clock = FakeClock()
    pace = pacing.Pacer(share=0.5, slice_s=0.03, sleep=clock.sleep, clock=clock,
                        waited=lambda: 0.0)
    clock.now += 0.029
    pace()
    assert clock.slept == []
    with pytest.raises(ValueError):
        pacing.Pacer(share=0)


def test_time_spent_waiting_for_a_core_is_not_paused_for_again() -> None:
    clock = FakeClock()
    queue = [0.0]
    pace = pacing.Pacer(share=0.5, slice_s=0.03, sleep=clock.sleep, clock=clock,
                        waited=lambda: queue[0])
    pace()
    clock.now += 0.1  # of which 0.08 s ready to run while others held the cores
    queue[0] += 0.08
    pace()
    assert clock.slept == [pytest.approx(0.02)]
    clock.now += 0.05
    queue[0] += 0.05  # not run at all
    pace()
    assert len(clock.slept) == 1
    assert pacing.runqueue_wait() >= 0.0


def test_a_job_runs_in_a_thread_of_its_own_and_hands_back_its_result_or_error() -> None:
    caller = threading.get_native_id()
    seen: list[int] = []

    def job() -> str:
        seen.append(threading.get_native_id())
        if sys.platform.startswith("linux"):
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return "done"

    assert pacing.run_lowered(job) == "done"
    assert seen[0] != caller
    if sys.platform.startswith("linux"):
        mine = os.getpriority(os.PRIO_PROCESS, caller)
        assert seen[1] == min(19, mine + pacing.NICE)  # lowered there, not here
        assert os.getpriority(os.PRIO_PROCESS, caller) == mine

    def failing() -> None:
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        pacing.run_lowered(failing)
