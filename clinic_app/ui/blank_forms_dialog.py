"""Record › Blank questionnaire forms…: pick questionnaires and write their blank answer
sheets as one PDF to print."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from clinic_app.config import data_dir
from clinic_app.domain.errors import ValidationError
from clinic_app.ui import ops
from clinic_app.ui.context import UiContext


class BlankFormsDialog(QDialog):
    """Check the questionnaires, type or browse for the file, Save writes the PDF."""

    def __init__(self, parent: QWidget | None, ctx: UiContext) -> None:
        super().__init__(parent)
        from clinic_app.reports.blank_forms import form_ids, form_title

        self.setObjectName("blankFormsDialog")
        self.setWindowTitle("Blank questionnaire forms")
        self._ctx = ctx
        self.written: Path | None = None
        self.forms = QListWidget(objectName="blankFormsList")
        for fid in form_ids():
            item = QListWidgetItem(form_title(fid))
            item.setData(Qt.ItemDataRole.UserRole, fid)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.forms.addItem(item)
        self.path = QLineEdit(str(data_dir() / "blank-questionnaires.pdf"),
                              objectName="blankFormsPath")
        browse = QPushButton("Browse…", objectName="blankFormsBrowse")
        browse.setAutoDefault(False)
        browse.clicked.connect(self._browse)
        self.status = QLabel(objectName="blankFormsStatus")
        self.status.setWordWrap(True)
        note = QLabel("One page per questionnaire: item numbers, topics and the answer scale "
                      "(the items' wording stays on the official forms). Space ticks or "
                      "unticks the highlighted questionnaire.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #555;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.save_button = QPushButton("Save PDF", objectName="blankFormsSave")
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAutoDefault(False)
        self.save_button.setDefault(True)  # Enter anywhere writes the PDF
        buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(self.save)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.forms, 1)
        layout.addWidget(QLabel("Save to:"))
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.resize(520, 420)

    def chosen(self) -> list[str]:
        return [self.forms.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.forms.count())
                if self.forms.item(i).checkState() == Qt.CheckState.Checked]

    def _browse(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save blank forms", self.path.text(),
                                              "PDF (*.pdf)")
        if name:
            self.path.setText(name)

    def save(self) -> None:
        ids = self.chosen()
        text = self.path.text().strip()
        if not ids:
            self.status.setText("Questionnaires: tick at least one.")
            return
        if not text:
            self.status.setText("Save to: type a file name (.pdf).")
            return
        out = Path(text).expanduser()
        clinic = self._ctx.clinic
        self.save_button.setEnabled(False)
        self.status.setText("Writing…")
        ops.run_op(self, lambda: clinic.blank_forms(ids, out),
                   self._done, self._failed, title="Blank questionnaire forms")

    def _done(self, result: tuple[Path, int]) -> None:
        self.written, pages = result
        self.save_button.setEnabled(True)
        self.status.setText(f"Written: {self.written} ({pages} pages). Print it from your PDF "
                            "viewer.")

    def _failed(self, exc: BaseException) -> bool:
        self.save_button.setEnabled(True)
        if isinstance(exc, ValidationError | OSError):
            self.status.setText(f"Not written: {exc}")
            return True
        self.status.setText("Not written.")
        return False
