"""Database work off the GUI thread (the CollectionOp/QueryOp pattern of Anki).

``run_op(parent, task, on_success)`` runs ``task()`` in a worker of a private thread pool and
delivers its result (or exception) back on the GUI thread through a queued signal. Errors:

* ``on_error(exc)`` is offered the exception first and returns ``True`` if it handled it;
* otherwise a :class:`DomainError` (validation, conflict, not found ...) is shown to the user
  as it is: its message is written for them;
* anything else is logged with its traceback and shown as an unexpected error;
* except :class:`DatabaseDamagedError`, only logged: the integrity check reports it once.

If ``parent`` has been deleted by the time the result arrives, the callbacks are skipped.

``run_job`` is the same for a long task that reports progress and can be cancelled: the task
receives a :class:`Job`, passes ``job.progress`` to the use case as its progress callback,
and ``on_progress(*values)`` runs on the GUI thread; after ``job.cancel()`` the next progress
call raises :class:`Cancelled` inside the task, so the use case unwinds and its transaction
rolls back.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot
from PySide6.QtWidgets import QWidget

from clinic_app.domain.errors import DomainError
from clinic_app.ui import messages

log = logging.getLogger(__name__)

_pool: QThreadPool | None = None
_dispatcher: _Dispatcher | None = None
_running: dict[int, Op] = {}
_ids = itertools.count(1)


def pool() -> QThreadPool:
    """The thread pool for database work (a few threads: SQLite serialises writers anyway)."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(4)
        _pool.setExpiryTimeout(30_000)
    return _pool


def pending_count() -> int:
    """Operations started and not yet delivered (tests wait for 0)."""
    return len(_running)


def wait_all(msecs: int = 30_000) -> bool:
    """Block until every worker has finished (used at shutdown, before the database closes)."""
    return pool().waitForDone(msecs)


class _Dispatcher(QObject):
    """One long-lived object in the GUI thread that receives every outcome (queued).

    Per-operation QObjects are avoided on purpose: destroying a Python-subclassed QObject
    while its connections are torn down can touch an already-freed wrapper and crash.
    """

    done = Signal(int, bool, object)
    progress = Signal(int, object)

    def __init__(self) -> None:
        super().__init__()
        self.done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.progress.connect(self._progress, Qt.ConnectionType.QueuedConnection)

    @Slot(int, object)
    def _progress(self, op_id: int, values: object) -> None:
        op = _running.get(op_id)
        if op is not None and isinstance(values, tuple):
            op.report(values)

    @Slot(int, bool, object)
    def _deliver(self, op_id: int, ok: bool, payload: object) -> None:
        op = _running.pop(op_id, None)
        if op is not None:
            op.deliver(ok, payload)


def _get_dispatcher() -> _Dispatcher:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = _Dispatcher()
    return _dispatcher


class _Task(QRunnable):
    def __init__(self, op_id: int, fn: Callable[[], Any], dispatcher: _Dispatcher) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._id = op_id
        self._fn = fn
        self._dispatcher = dispatcher

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:  # delivered to the GUI thread, never swallowed
            self._dispatcher.done.emit(self._id, False, exc)
        else:
            self._dispatcher.done.emit(self._id, True, result)


class Op:
    """One background operation; create with :func:`run_op`."""

    def __init__(
        self,
        parent: QWidget | None,
        task: Callable[[], Any],
        on_success: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], bool] | None = None,
        title: str = "Backstep",
        on_progress: Callable[..., None] | None = None,
    ) -> None:
        self._parent = parent
        self._task = task
        self._on_success = on_success
        self._on_error = on_error
        self._on_progress = on_progress
        self._title = title
        self.id = next(_ids)

    def report(self, values: tuple[Any, ...]) -> None:
        """Called on the GUI thread with the values of one progress report."""
        if self._on_progress is not None and self._parent_alive():
            self._on_progress(*values)

    def start(self) -> Op:
        dispatcher = _get_dispatcher()
        _running[self.id] = self
        pool().start(_Task(self.id, self._task, dispatcher))
        return self

    def _parent_alive(self) -> bool:
        return self._parent is None or shiboken6.isValid(self._parent)

    def deliver(self, ok: bool, payload: object) -> None:
        """Called on the GUI thread with the task's result or exception."""
        if not self._parent_alive():
            return
        if ok:
            if self._on_success is not None:
                self._on_success(payload)
        else:
            assert isinstance(payload, BaseException)
            report_error(self._parent, payload, self._on_error, self._title)


def report_error(
    parent: QWidget | None,
    exc: BaseException,
    on_error: Callable[[BaseException], bool] | None = None,
    title: str = "Backstep",
) -> None:
    """Offer ``exc`` to ``on_error``; otherwise show it (domain errors) or log and show it."""
    if on_error is not None and on_error(exc):
        return
    # Imported here: the sign-in window uses this module before the data layers are loaded.
    from clinic_app.services.facade import DatabaseClosedError, DatabaseDamagedError

    if isinstance(exc, DatabaseClosedError):
        # A task that outlived its window's database (e.g. a refresh queued while closing):
        # nobody is waiting for its answer.
        log.info("%s dropped: the database was closed", title or "Operation")
        return
    if isinstance(exc, DatabaseDamagedError):
        # Reported once, by the start-up integrity check's own operation (app.run_gui and
        # MainWindow.attach): every query refused after it would repeat the same message.
        log.warning("%s refused: %s", title or "Operation", exc)
        return
    if isinstance(exc, DomainError):
        messages.warn(parent, title, str(exc))
        return
    log.error("Unexpected error in background operation", exc_info=exc)
    messages.warn(
        parent, title,
        "Something unexpected went wrong. Nothing was changed by the failed step; the details "
        "were written to the log.",
        details=f"{type(exc).__name__}: {exc}",
    )


class Cancelled(Exception):
    """Raised inside a job's task by :meth:`Job.progress` once the job was cancelled."""


class Job:
    """What a cancellable task sees: a progress callback and whether it was cancelled.

    ``cancel_event`` may be shared with the dialog that shows the job (it sets it)."""

    def __init__(self, cancel_event: threading.Event | None = None) -> None:
        self._cancel = cancel_event or threading.Event()
        self._op_id = 0

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the task to stop at its next progress report (any thread)."""
        self._cancel.set()

    def progress(self, *values: Any) -> None:
        """Hand ``values`` to the GUI thread's ``on_progress``, or raise :class:`Cancelled`.

        Runs in the worker: pass it to the use case as its progress callback."""
        if self._cancel.is_set():
            raise Cancelled
        _get_dispatcher().progress.emit(self._op_id, values)


def run_job(
    parent: QWidget | None,
    task: Callable[[Job], Any],
    on_progress: Callable[..., None],
    on_success: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], bool] | None = None,
    title: str = "Backstep",
    cancel_event: threading.Event | None = None,
) -> Job:
    """Run ``task(job)`` off the GUI thread with progress and cancel (see the module text);
    a cancelled job ends in ``on_error(Cancelled())``."""
    job = Job(cancel_event)
    op = Op(parent, lambda: task(job), on_success, on_error, title, on_progress)
    job._op_id = op.id
    op.start()
    return job


def run_later(parent: QWidget | None, fn: Callable[[], None], title: str = "Backstep") -> Op:
    """Call ``fn`` on the GUI thread once the events already queued there (a paint the
    caller just caused, results that arrived) have been handled. Counted as pending like a
    background operation until then, and skipped if ``parent`` is deleted meanwhile."""
    op = Op(parent, lambda: None, lambda _none: fn(), title=title)
    _running[op.id] = op
    _get_dispatcher().done.emit(op.id, True, None)  # queued, behind what is already there
    return op


def run_op(
    parent: QWidget | None,
    task: Callable[[], Any],
    on_success: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], bool] | None = None,
    title: str = "Backstep",
) -> Op:
    """Run ``task`` off the GUI thread; call ``on_success(result)`` on the GUI thread."""
    return Op(parent, task, on_success, on_error, title).start()
