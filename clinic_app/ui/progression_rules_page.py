"""Settings › Progression: the clinic's retro-walking progression rules (sessions that must
meet the rules, pain and RPE limits, steps and targets, independent sessions before the
spotter goes). Stored in the database for every workstation; administrators change them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.errors import ConflictError, ValidationError
from clinic_app.domain.permissions import Action, can
from clinic_app.domain.plan_of_care import RULE_LIMITS, RULE_UNITS, ProgressionRules
from clinic_app.ui import messages, ops
from clinic_app.ui.accessibility import link_form_labels
from clinic_app.ui.context import UiContext
from clinic_app.ui.forms import fmt_number, parse_number


class ProgressionRulesPage(QWidget):
    """A settings page with its own Save, like the clinical choices."""

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("progressionRulesPage")
        self._ctx = ctx
        self._version: int | None = None
        self._loaded: ProgressionRules | None = None
        self._admin = can(ctx.principal, Action.ADMIN)
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout()
        for f in fields(ProgressionRules):
            label, lo, hi, whole = RULE_LIMITS[f.name]
            edit = QLineEdit(objectName=f"rule_{f.name}")
            unit = RULE_UNITS.get(f.name, "")
            edit.setPlaceholderText(f"{lo:g}–{hi:g}{' ' + unit if unit else ''}")
            edit.setEnabled(False)
            self.edits[f.name] = edit
            form.addRow(f"{label}{' (' + unit + ')' if unit else ''}:", edit)
        link_form_labels(form)
        self.save_button = QPushButton("Save progression rules", objectName="saveRulesButton")
        self.save_button.setAutoDefault(False)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(lambda: self.save())
        self.status = QLabel(objectName="rulesStatus")
        self.status.setWordWrap(True)
        note = QLabel("A dose is progressed one step at a time (duration, then speed, then "
                      "incline) only when the last sessions met the rules, and stepped back "
                      "after an adverse event or a pain rise above the limit. The rules apply "
                      "to every workstation; changes are audited.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #555;")
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        row.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addStretch(1)
        ops.run_op(self, lambda: ctx.clinic.plan.rules(), self._show, title="Settings")

    def _show(self, loaded: tuple[ProgressionRules, int]) -> None:
        rules, self._version = loaded
        self._loaded = rules
        for name, edit in self.edits.items():
            edit.setText(fmt_number(getattr(rules, name), 2))
            edit.setEnabled(self._admin)
        self.save_button.setEnabled(self._admin)
        if not self._admin:
            self.status.setText("Only administrators change these.")

    def typed(self) -> ProgressionRules:
        """The rules as typed; ValidationError names the rule and its range."""
        values: dict[str, float | int] = {}
        for name, edit in self.edits.items():
            label, lo, hi, whole = RULE_LIMITS[name]
            unit = RULE_UNITS.get(name, "")
            allowed = f"{lo:g} to {hi:g}{' ' + unit if unit else ''}" + (
                ", whole numbers" if whole else "")
            number = parse_number(edit.text(), label, allowed)
            if number is None:
                raise ValidationError(label, "missing", allowed)
            if whole and number != int(number):
                raise ValidationError(label, f"{number:g} is not a whole number", allowed)
            values[name] = int(number) if whole else number
        return ProgressionRules(**values)  # type: ignore[arg-type]

    def pending(self) -> bool:
        """Whether the rules shown differ from those stored (typed, not yet saved); a rule
        typed out of range counts, so that saving shows its message."""
        if not self._admin or self._version is None or self._loaded is None:
            return False
        try:
            return self.typed() != self._loaded
        except ValidationError:
            return True

    def save(self, then: Callable[[], None] | None = None) -> bool:
        """Store the rules as typed; ``then`` runs once they are stored. False (nothing
        stored, the message shown on the page) when a rule is out of range."""
        if self._version is None:
            return False
        self.status.setStyleSheet("")
        try:
            rules = self.typed()
        except ValidationError as exc:
            self._error(exc)
            return False
        ctx, version = self._ctx, self._version
        self.save_button.setEnabled(False)
        ops.run_op(self, lambda: ctx.clinic.plan.save_rules(rules, version),
                   lambda saved: self._saved(saved, then), self._failed, title="Settings")
        return True

    def _error(self, exc: ValidationError) -> None:
        self.status.setStyleSheet("color: #b71c1c;")
        self.status.setText(str(exc))
        # Saved from the dialog's own Save while another page was shown: bring this page
        # forward so the message and the rule it names are seen.
        tabs = self.parentWidget()
        while tabs is not None and not isinstance(tabs, QTabWidget):
            tabs = tabs.parentWidget()
        if isinstance(tabs, QTabWidget):
            tabs.setCurrentWidget(self)
        for name, edit in self.edits.items():
            if RULE_LIMITS[name][0] == exc.field:
                edit.setFocus()
                edit.selectAll()

    def _saved(self, saved: tuple[ProgressionRules, int],
               then: Callable[[], None] | None = None) -> None:
        self._show(saved)
        self.status.setText("Saved for every workstation.")
        if then is not None:
            then()

    def _failed(self, exc: BaseException) -> bool:
        self.save_button.setEnabled(self._admin)
        if isinstance(exc, ValidationError):
            self._error(exc)
            return True
        if isinstance(exc, ConflictError):
            messages.warn(self, "Changed on another workstation",
                          "The progression rules were changed on another workstation. Their "
                          "current state is shown now; apply your change again if needed.")
            ctx = self._ctx
            ops.run_op(self, lambda: ctx.clinic.plan.rules(), self._show, title="Settings")
            return True
        return False
