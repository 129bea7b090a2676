"""Shared machinery of the record dialogs: inline validation, dirty guard, keyboard saving."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from clinic_app.domain.changes import RecordChange
from clinic_app.domain.errors import ConflictError, EnteredInErrorError, ValidationError
from clinic_app.ui import messages, ops

D = TypeVar("D")
# Scoped to the flagged widget itself: a bare declaration list would cascade into its children,
# e.g. a date field's calendar popup, whose header then turned unreadable red on pink.
INVALID_STYLE = '*[invalid="true"] { border: 1px solid #c62828; background: #fdecea; }'


def parse_number(text: str, label: str, allowed: str) -> float | None:
    """A typed number (decimal comma accepted); blank is ``None``; junk names the field."""
    raw = text.strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValidationError(label, f"{text.strip()!r} is not a number", allowed) from None


def parse_int(text: str, label: str, allowed: str) -> int | None:
    """A typed whole number; blank is ``None``; fractions and junk name the field."""
    number = parse_number(text, label, allowed)
    if number is None:
        return None
    if not number.is_integer():
        raise ValidationError(label, f"{number:g} is not a whole number", allowed)
    return int(number)


def fmt_number(value: float | None, decimals: int = 2) -> str:
    """``value`` for a line edit: blank for ``None``, no trailing zeros."""
    if value is None:
        return ""
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def merge_drafts(base: D, mine: D, theirs: D) -> D:
    """Re-apply my edits on top of the stored record: fields I changed from ``base`` keep my
    value, every other field takes the value the other workstation stored."""
    changes = {
        f.name: getattr(mine, f.name)
        for f in fields(mine)  # type: ignore[arg-type]
        if getattr(mine, f.name) != getattr(base, f.name)
    }
    return replace(theirs, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class ThreeWay:
    """How my edit and the other workstation's differ from the version I opened."""

    both: list[messages.ConflictRow]  # changed on both sides, to different values
    theirs_only: list[str]  # labels of fields only the other workstation changed
    mine_only: list[str]  # labels of fields only I changed


def compare_drafts(base: Any, theirs: Any, mine: Any, labels: dict[str, str],
                   show: Callable[[str, Any], str]) -> ThreeWay:
    """Three-way comparison over the fields in ``labels`` (attribute -> label, in form order)."""
    both: list[messages.ConflictRow] = []
    theirs_only: list[str] = []
    mine_only: list[str] = []
    for attr, label in labels.items():
        b, t, m = getattr(base, attr), getattr(theirs, attr), getattr(mine, attr)
        if t != b and m != b and t != m:
            both.append((label, show(attr, t), show(attr, m)))
        elif t != b and m == b:
            theirs_only.append(label)
        elif m != b and t == b:
            mine_only.append(label)
    return ThreeWay(both, theirs_only, mine_only)


def widget_state(w: QWidget) -> Any:
    """A comparable snapshot of one input widget's value (for the unsaved-changes guard)."""
    if isinstance(w, QLineEdit):
        return w.text()
    if isinstance(w, QPlainTextEdit):
        return w.toPlainText()
    if isinstance(w, QComboBox):
        return w.currentData() if w.currentData() is not None else w.currentText()
    if isinstance(w, QDateTimeEdit):
        return w.dateTime().toString(Qt.DateFormat.ISODate)
    if isinstance(w, QCheckBox):
        return w.isChecked()
    raise TypeError(f"no state for {type(w).__name__}")


SLOW_SAVE_MS = 1500
ERROR_STYLE = ("color: #b71c1c; background: #fdecea; border: 1px solid #f5c2c0; "
               "border-radius: 3px; padding: 4px 6px;")
# Waiting is not an error: the note is informational (dark blue on pale blue).
WAITING_STYLE = ("color: #0d3c61; background: #e8f1fb; border: 1px solid #b6d3f2; "
                 "border-radius: 3px; padding: 4px 6px;")


class FormDialog(QDialog):
    """A dialog editing one record.

    Subclasses register their input widgets under the label the domain uses in
    ``ValidationError.field`` (:meth:`register`), implement :meth:`save`, and call
    :meth:`mark_clean` after loading values. Esc / Cancel / closing with unsaved changes
    asks "Discard changes?" through :mod:`messages`; Enter (default button) and Ctrl+Enter
    save; a ``ValidationError`` is shown under the form and focuses the field it names.
    """

    def __init__(self, parent: QWidget | None, object_name: str, title: str) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self._fields: dict[str, QWidget] = {}
        self._state_widgets: list[QWidget] = []
        self._clean_state: Any = None
        self._invalid: list[QWidget] = []
        self._followed_kind: str | None = None  # see follow_changes
        self.changed_elsewhere = False
        self.saving = False
        self.waiting_note = False  # the "waiting for another workstation" note is shown
        # A save still running after this long is waiting for another writer: say so.
        self._slow_save = QTimer(self)
        self._slow_save.setSingleShot(True)
        self._slow_save.setInterval(SLOW_SAVE_MS)
        self._slow_save.timeout.connect(self._save_is_slow)
        self.error_label = QLabel()
        self.error_label.setObjectName("formError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button: QAbstractButton = save
        self.save_button.setObjectName("saveButton")
        self.save_button.setToolTip("Save (Enter or Ctrl+Enter)")
        self.save_button.setDefault(True)
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAutoDefault(False)  # Enter never means Cancel, even with Cancel focused
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        for seq in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(seq), self, activated=self.save)

    # --- fields and errors ------------------------------------------------------------
    def register(self, label: str, widget: QWidget, tracked: bool = True) -> QWidget:
        """Map the domain's field ``label`` to ``widget``; track it for unsaved changes."""
        self._fields[label] = widget
        if tracked:
            self.track(widget)
        return widget

    def track(self, widget: QWidget) -> None:
        self._state_widgets.append(widget)

    def field_widget(self, label: str) -> QWidget | None:
        """The widget for a ``ValidationError.field`` (``"KOOS Pain item 3"`` -> its item)."""
        if label in self._fields:
            return self._fields[label]
        base = label.split(" item ")[0]
        return self._fields.get(base)

    def show_error(self, exc: ValidationError) -> None:
        """Show ``exc`` under the form, outline and focus the field it names."""
        self.show_errors([exc])

    def show_errors(self, problems: list[ValidationError]) -> None:
        """Show every problem under the form (one a line), outline each field it names and
        focus the first of them."""
        self.clear_errors()
        self.error_label.setText("\n".join(str(p) for p in problems))
        self.error_label.show()
        first: QWidget | None = None
        for exc in problems:
            widget = self.field_widget(exc.field)
            if widget is None:
                continue
            widget.setProperty("invalid", True)
            widget.setStyleSheet(INVALID_STYLE)
            tip = widget.toolTip() if widget in self._invalid else ""
            widget.setToolTip(f"{tip}\n{exc}" if tip else str(exc))
            if widget not in self._invalid:
                self._invalid.append(widget)
            first = first or widget
        if first is not None:
            self._reveal(first)
            first.setFocus(Qt.FocusReason.OtherFocusReason)
            if isinstance(first, QLineEdit):
                first.selectAll()

    def _reveal(self, widget: QWidget) -> None:
        """Hook for dialogs with tabs/scroll areas: make ``widget`` visible before focusing."""

    def show_notice(self, text: str) -> None:
        """A non-error note under the form (e.g. after a conflict review)."""
        self.clear_errors()
        self.error_label.setText(text)
        self.error_label.show()

    def clear_errors(self) -> None:
        for w in self._invalid:
            w.setProperty("invalid", False)
            w.setStyleSheet("")
            w.setToolTip("")
        self._invalid.clear()
        self.error_label.hide()
        self.error_label.clear()

    # --- unsaved changes ------------------------------------------------------------
    def state(self) -> Any:
        """Everything the user can change, comparable with ``==``."""
        return tuple(widget_state(w) for w in self._state_widgets)

    def mark_clean(self) -> None:
        self._clean_state = self.state()

    def is_dirty(self) -> bool:
        return self.state() != self._clean_state

    def reject(self) -> None:
        if self.saving:
            return
        if self.is_dirty() and not messages.ask_discard(self):
            return
        super().reject()

    # --- saving -------------------------------------------------------------------
    def save(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def set_saving(self, saving: bool) -> None:
        self.saving = saving
        if saving:
            self._slow_save.start()
        else:
            self._slow_save.stop()
            if self.waiting_note:
                self.waiting_note = False
                self.error_label.setStyleSheet(ERROR_STYLE)
                self.error_label.setAccessibleName("")
                self.clear_errors()
        self.save_button.setEnabled(not saving)
        self.save_button.setText("Saving…" if saving else "Save")
        if not saving:
            # Disabling Save while it worked moved the default to Cancel (the next
            # auto-default button): Enter in a field would then ask to discard the form.
            self.save_button.setDefault(True)

    def _save_is_slow(self) -> None:
        ctx = getattr(self, "_ctx", None)
        clinic = getattr(ctx, "clinic", None)
        if clinic is None:
            self._show_waiting(None)
        else:
            ops.run_op(self, clinic.running_job, self._show_waiting, lambda _exc: True,
                       title=self.windowTitle())

    def _show_waiting(self, job: str | None) -> None:
        if not self.saving:
            return
        who = job or "another workstation is importing or restoring"
        self.show_notice(f"Waiting for the database: {who}. What you entered is kept and "
                         "saved as soon as it is done; you need not do anything.")
        self.error_label.setStyleSheet(WAITING_STYLE)
        self.error_label.setAccessibleName("Saving is waiting for another workstation")
        self.waiting_note = True

    def handle_save_error(self, exc: BaseException) -> bool:
        """``on_error`` for save operations: validation inline, conflicts via the dialog."""
        self.set_saving(False)
        if isinstance(exc, ValidationError):
            self.show_error(exc)
            return True
        if isinstance(exc, EnteredInErrorError):
            self.on_entered_in_error(exc)
            return True
        if isinstance(exc, ConflictError):
            self.on_conflict(exc)
            return True
        return False

    def on_entered_in_error(self, exc: EnteredInErrorError) -> None:
        """The record was marked entered in error elsewhere: nothing saved, typing kept."""
        messages.warn(self, "Entered in error", str(exc))
        self.show_notice(f"{exc}\nWhat you typed is still here, so you can copy it into a "
                         "new record. Cancel closes this form.")

    # --- changes from other workstations ------------------------------------------------
    def follow_changes(self, changes_signal: Any, kind: str) -> None:
        """Show a notice (never reload) when another workstation changes this form's record.

        ``changes_signal`` is the app-wide ``records_changed``; :meth:`record_id` names the
        record this form edits.
        """
        self._followed_kind = kind
        changes_signal.connect(self._records_changed)

    def record_id(self) -> Any:
        """The id of the stored record this form edits (``None`` for a new one)."""
        return None

    def _records_changed(self, changes: list[RecordChange]) -> None:
        rid = self.record_id()
        hits = [c for c in changes if c.kind == self._followed_kind
                and rid is not None and c.concerns_record(rid)]
        if not hits:
            return
        by = f" by {hits[-1].actor}" if hits[-1].actor else ""
        self.changed_elsewhere = True
        note = (f"Changed on another workstation{by} while you were editing. Your typing is "
                "kept; Save shows both versions so you can choose what is stored.")
        shown = self.error_label.text() if self.error_label.isVisible() else ""
        if note in shown:
            return
        # Added under whatever the form already says (e.g. a field's problem), never over it.
        self.error_label.setText(f"{shown}\n{note}" if shown else note)
        self.error_label.show()

    def on_conflict(self, exc: ConflictError) -> None:
        """Default: tell the user; subclasses offer reload / review."""
        messages.warn(self, "Changed on another workstation", str(exc))

    def resolve_conflict(
        self,
        exc: ConflictError,
        compared: ThreeWay,
        reload: Callable[[Any], None],
        review: Callable[[Any], None],
        pending: list[str] | None = None,
    ) -> None:
        """Ask "Review and re-apply mine" (the default) / "Reload theirs" and apply the choice.

        Only fields changed on both sides are listed; the note says who stored the record and
        when. Reloading discards typing (and ``pending``: unsaved additions such as tests), so
        it is confirmed first; "Go back" returns to the choice. Without a stored record to
        compare (``exc.current is None``) the user is told and the form stays unchanged.
        """
        current = exc.current
        if current is None:
            messages.warn(self, "Changed on another workstation",
                          f"{exc} Close this form and open the record again.")
            return
        note = conflict_note(current, compared)
        while True:
            choice = messages.resolve_conflict(self, exc.what, compared.both, note)
            if choice != messages.RELOAD_THEIRS:
                break
            lost = "what you typed in this form"
            if pending:
                lost += f" and the {len(pending)} test(s) not saved yet ({', '.join(pending)})"
            if messages.ask(self, "Discard your changes?",
                            f"Reloading shows the stored version and discards {lost}.",
                            yes="Discard mine and reload", no="Go back"):
                break
        if choice == messages.RELOAD_THEIRS:
            reload(current)
            self.clear_errors()
            self.mark_clean()
        elif choice == messages.REVIEW_MINE:
            review(current)
            self.show_notice(
                "This record was changed on another workstation. Your changes were re-applied "
                "on top of the stored version: check the form and press Save again."
            )


def conflict_note(current: Any, compared: ThreeWay) -> str:
    """Who stored the other version and when, and which fields are not in conflict."""
    stamp = getattr(current, "stamp", None)
    parts = []
    if stamp is not None:
        when = stamp.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
        parts.append(f"Stored by {stamp.updated_by} on {when}.")
    if compared.theirs_only:
        parts.append(f"Their change to {', '.join(compared.theirs_only)} is kept.")
    if compared.mine_only:
        parts.append(f"Your change to {', '.join(compared.mine_only)} is re-applied.")
    if not compared.both:
        parts.append("No field was changed on both sides.")
    return " ".join(parts)
