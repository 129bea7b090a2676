"""App-wide signals: views refresh on these instead of calling each other."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class AppSignals(QObject):
    """One instance per running window; passed to every view through :class:`UiContext`.

    Payloads are domain records (``Patient``, ``Episode``, ``WalkSession``) so listeners can
    decide whether the change concerns what they show.
    """

    patient_saved = Signal(object)  # Patient
    episode_saved = Signal(object)  # Episode
    session_recorded = Signal(object)  # WalkSession (new, edited or marked in error)
    clinic_changed = Signal(object)  # ClinicInfo
    data_reset = Signal()  # bulk change (demo data, import): reload everything
    settings_changed = Signal()  # workstation settings (e.g. auto-lock minutes) saved
    records_changed = Signal(object)  # list[RecordChange] stored by another workstation
