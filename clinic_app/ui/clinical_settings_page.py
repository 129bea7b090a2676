"""Settings › Clinical: the clinic's default return-to-sport criteria set and whether the
3MBWT fall-risk flag applies to its patients. Stored in the database, so every workstation
uses the same choice; administrators change it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.errors import ConflictError
from clinic_app.domain.permissions import Action, can
from clinic_app.domain.readiness import CRITERIA_SETS, ClinicalSettings
from clinic_app.ui import messages, ops
from clinic_app.ui.context import UiContext


class ClinicalSettingsPage(QWidget):
    """A page of the settings dialog with its own Save (the choices are clinic-wide)."""

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("clinicalSettingsPage")
        self._ctx = ctx
        self._loaded: ClinicalSettings | None = None
        self.criteria = QComboBox(objectName="defaultCriteriaSetCombo")
        for cs in CRITERIA_SETS.values():
            self.criteria.addItem(cs.name, cs.id)
        self.bwt_flag = QCheckBox("Apply the fall-risk bands (above 4.5 s; low risk 3.0 s or\n"
                                  "less), derived in community-dwelling older adults",
                                  objectName="bwtFallFlagCheck")
        self.bwt_flag.setToolTip("The cut-off was derived in community-dwelling older adults "
                                 "(Carter et al. 2019); switch it off where your patients are "
                                 "not from that population.")
        self.save_button = QPushButton("Save clinical choices", objectName="saveClinicalButton")
        self.save_button.setAutoDefault(False)
        self.save_button.clicked.connect(lambda: self.save())
        self.status = QLabel(objectName="clinicalStatus")
        note = QLabel("These choices apply to every workstation of the clinic. Changing them "
                      "is for administrators and is recorded in the audit trail.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #555;")
        form = QFormLayout()
        form.addRow("Return-to-sport criteria:", self.criteria)
        form.addRow("3MBWT fall-risk cut-off:", self.bwt_flag)
        row = QHBoxLayout()
        row.addWidget(self.save_button)
        row.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addLayout(row)
        layout.addStretch(1)
        admin = can(ctx.principal, Action.ADMIN)
        for w in (self.criteria, self.bwt_flag, self.save_button):
            w.setEnabled(False)
        self._admin = admin
        ops.run_op(self, lambda: ctx.clinic.clinical_settings(), self._show,
                   title="Settings")

    def _show(self, settings: ClinicalSettings) -> None:
        self._loaded = settings
        self.criteria.setCurrentIndex(max(0, self.criteria.findData(settings.criteria_set)))
        self.bwt_flag.setChecked(settings.bwt_fall_flag)
        for w in (self.criteria, self.bwt_flag, self.save_button):
            w.setEnabled(self._admin)
        if not self._admin:
            self.status.setText("Only administrators change these.")

    def chosen(self) -> ClinicalSettings | None:
        if self._loaded is None:
            return None
        return replace(self._loaded, criteria_set=self.criteria.currentData(),
                       bwt_fall_flag=self.bwt_flag.isChecked())

    def pending(self) -> bool:
        """Whether the choices shown differ from those stored (changed, not yet saved)."""
        return self._loaded is not None and self.chosen() != self._loaded

    def save(self, then: Callable[[], None] | None = None) -> None:
        """Store the choices shown; ``then`` runs once they are stored (not on failure)."""
        settings = self.chosen()
        if settings is None:
            return
        ctx = self._ctx
        self.save_button.setEnabled(False)
        ops.run_op(self, lambda: ctx.clinic.save_clinical_settings(settings),
                   lambda stored: self._saved(stored, then), self._failed, title="Settings")

    def _saved(self, settings: ClinicalSettings,
               then: Callable[[], None] | None = None) -> None:
        self._show(settings)
        self.status.setText("Saved for every workstation.")
        self._ctx.signals.settings_changed.emit()
        if then is not None:
            then()

    def _failed(self, exc: BaseException) -> bool:
        self.save_button.setEnabled(self._admin)
        if isinstance(exc, ConflictError):
            messages.warn(self, "Changed on another workstation",
                          "These choices were changed on another workstation. Their current "
                          "state is shown now; apply your change again if still needed.")
            ctx = self._ctx
            ops.run_op(self, lambda: ctx.clinic.clinical_settings(), self._show,
                       title="Settings")
            return True
        return False
