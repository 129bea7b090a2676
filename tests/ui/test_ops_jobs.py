"""ops.run_job: progress reaches the GUI thread, cancel unwinds the task."""

from __future__ import annotations

import threading

from pytestqt.qtbot import QtBot

from clinic_app.ui import ops


def test_progress_arrives_on_the_gui_thread_in_order(qtbot: QtBot) -> None:
    gui = threading.get_ident()
    seen: list[tuple[int, int, bool]] = []
    results: list[str] = []

    def task(job: ops.Job) -> str:
        assert threading.get_ident() != gui
        for i in range(1, 4):
            job.progress(i, 3)
        return "done"

    ops.run_job(None, task, lambda done, total: seen.append(
        (done, total, threading.get_ident() == gui)), results.append)
    qtbot.waitUntil(lambda: results == ["done"])
    assert seen == [(1, 3, True), (2, 3, True), (3, 3, True)]


def test_cancel_raises_at_the_next_report_and_reaches_on_error(qtbot: QtBot) -> None:
    started, go_on = threading.Event(), threading.Event()
    reached: list[int] = []
    errors: list[BaseException] = []

    def task(job: ops.Job) -> None:
        job.progress(1)
        started.set()
        go_on.wait(5)
        reached.append(2)
        job.progress(2)  # raises: the job was cancelled meanwhile
        reached.append(3)

    def failed(exc: BaseException) -> bool:
        errors.append(exc)
        return True

    job = ops.run_job(None, task, lambda _n: None, None, failed)
    assert started.wait(5)
    job.cancel()
    go_on.set()
    qtbot.waitUntil(lambda: bool(errors))
    assert isinstance(errors[0], ops.Cancelled) and job.cancelled
    assert reached == [2]
