"""Long jobs that leave room for everyone else: a duty cycle and a lower priority.

A backup read flat out keeps a core busy in this process and another in the database
server, so a chart opened meanwhile (here or on another workstation sharing the server)
waits for a core. A paced job works in short slices and sleeps between them in
proportion, so it takes at most a share of a core (and the server's process serving it
idles while the job sleeps); run in a thread of lowered priority, it also yields to the
window and to other programs whenever they want the core.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

SHARE = 0.5
"""Fraction of the wall time a paced job works."""
SLICE_S = 0.03
"""Work done before a pause: short, so that a chart open waits at most about this long."""
NICE = 2
"""How much a heavy job's thread lowers its priority (Linux nice steps): a little, so it
gives way to the window and to chart opens when they want a core. At 10 a backup on a
machine kept busy by other programs got about 7 % of the time it waited for and ran for
over ten minutes, long enough for a day's automatic backup to be lost when the window is
closed."""


class Pacer:
    """Call between chunks of a long job: after each slice of work it sleeps so that the
    job works ``share`` of the wall time.

    Work is wall time, since waiting for the database server is work the server does for
    the job, minus the time the thread sat ready while other programs held the cores
    (``waited``, Linux's scheduler statistics): a thread of lowered priority on a busy
    machine already gives way, and pausing for that time too would stall it for nothing.
    """

    def __init__(self, share: float = SHARE, slice_s: float = SLICE_S,
                 sleep: Callable[[float], Any] = time.sleep,
                 clock: Callable[[], float] = time.perf_counter,
                 waited: Callable[[], float] | None = None) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.ratio = (1 - share) / share
        self.slice_s = slice_s
        self.sleep = sleep
        self.clock = clock
        self.waited = waited if waited is not None else runqueue_wait
        self.since = clock()
        self.waited_since: float | None = None  # read in the job's thread, at first use
        self.paused_s = 0.0

    def __call__(self) -> None:
        now = self.clock()
        if self.waited_since is None:
            self.waited_since = self.waited()
        elapsed = now - self.since
        if elapsed < self.slice_s:
            return
        waited = self.waited()
        pause = max(0.0, elapsed - (waited - self.waited_since)) * self.ratio
        if pause > 0:
            self.sleep(pause)
            self.paused_s += pause
        self.since = self.clock()
        self.waited_since = self.waited()


def runqueue_wait() -> float:
    """Seconds the calling thread has waited for a core so far (Linux; 0 elsewhere)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def run_lowered(task: Callable[[], T], nice: int = NICE) -> T:
    """``task()`` in a thread of its own whose scheduling priority is lowered by ``nice``
    (where the system allows a thread's own priority to be lowered: Linux), returning its
    result or raising its exception here.

    A thread of its own because a lowered priority cannot be raised again without
    privileges: a pooled worker thread would stay slow for every later task.
    """
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            lower_this_thread(nice)
            outcome["value"] = task()
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    # A daemon thread: an interrupted command line exits; a half-written backup is a
    # registered .part file, removed at the next start.
    worker = threading.Thread(target=body, name="backstep-heavy-job", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def lower_this_thread(nice: int = NICE) -> bool:
    """Lower the calling thread's priority on Linux (elsewhere ``setpriority`` would apply
    to the whole process, the window included); whether it was lowered."""
    if not sys.platform.startswith("linux") or nice <= 0:
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:
        return False
    return True
