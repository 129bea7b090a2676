"""Retro-walking session editor (objectName ``sessionEditor``) with the tests done that visit."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from datetime import date, datetime

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QIntValidator, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from clinic_app.domain.errors import ConflictError, ValidationError
from clinic_app.domain.measures import MEASURES, Measure
from clinic_app.domain.plan_of_care import Dose, PlanOfCare, SafetyDraft, dose_differs
from clinic_app.domain.records import (
    Assistance,
    Episode,
    Side,
    Surface,
    TestResult,
    TestResultDraft,
    WalkMode,
    WalkSession,
    WalkSessionDraft,
)
from clinic_app.domain.scoring import item_scale, score_test
from clinic_app.domain.session_params import (
    CHOICE_LABELS,
    FIELD_LABELS,
    SESSION_PARAMS,
    SpeedUnit,
    walk_session_problems,
)
from clinic_app.ui import local_settings, ops
from clinic_app.ui import questionnaire_entry as entry
from clinic_app.ui.accessibility import buddy, link_form_labels
from clinic_app.ui.context import UiContext
from clinic_app.ui.date_input import DateTimeInput
from clinic_app.ui.forms import (
    FormDialog,
    ThreeWay,
    compare_drafts,
    fmt_number,
    merge_drafts,
    parse_int,
    parse_number,
)

SPEED_DECIMALS = 3  # a loaded speed shows this many decimals at most: 1.55 km/h stays 1.55
TEXT_FIELDS = ("adverse_events", "subjective", "objective", "assessment", "plan")
SOAP_HINTS = {
    "subjective": "What the patient reports",
    "objective": "What you observed and measured",
    "assessment": "Your clinical reasoning",
    "plan": "Next steps, progression, home exercises",
}
SIDE_NAMES = {Side.LEFT: "Left", Side.RIGHT: "Right"}


def measure_label(m: Measure) -> str:
    unit = f" ({m.unit})" if m.unit and m.unit != "points" else ""
    return f"{m.short_name} — {m.name}{unit}"


def local_naive(dt: datetime) -> datetime:
    """An aware instant as naive local time for Qt widgets."""
    return dt.astimezone().replace(tzinfo=None)


def describe_test(t: TestResultDraft, value: float) -> str:
    """One unsaved test as a short line, e.g. for the reload question."""
    m = MEASURES[t.measure_id]
    side = f" {SIDE_NAMES[Side(t.side)].lower()}" if t.side else ""
    return f"{m.short_name}{side} {m.format_value(value)}"


class _EnterFilter(QObject):
    """Enter in the test value field adds the test instead of saving the whole session."""

    def __init__(self, editor: SessionEditor) -> None:
        super().__init__(editor)
        self._editor = editor

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                          Qt.KeyboardModifier.KeypadModifier)
            if plain and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._editor.add_test()
                return True
        return False


class SessionEditor(FormDialog):
    """Record a new session (prefilled from ``previous``) or edit ``session``.

    New tests entered here are stored with the session; in edit mode they are added to it.
    Emits ``session_recorded`` after saving.
    """

    def __init__(
        self, parent: QWidget | None, ctx: UiContext, episode: Episode,
        session: WalkSession | None = None, session_tests: list[TestResult] | None = None,
        previous: WalkSession | None = None, plan: PlanOfCare | None = None,
    ) -> None:
        title = "Edit session" if session else "New retro-walking session"
        super().__init__(parent, "sessionEditor", title)
        self._ctx = ctx
        self._episode = episode
        self._session = session
        self._version = session.stamp.version if session else 0
        self._stored_tests = list(session_tests or [])
        self._pending: list[TestResultDraft] = []
        self._loaded_speed: tuple[str, float | None] = ("", None)
        self.saved_session: WalkSession | None = None
        self._suggested: Dose | None = None
        self._suggestion_text = ""

        self._build_walk_fields()
        self._build_text_fields()
        self._build_tests_section()
        self._build_plan_box()
        # The form scrolls when the screen is lower than the form (200 % display scaling on
        # a 1080p screen); the error line and Save/Cancel stay in view below it.
        content = QWidget(objectName="sessionFormContent")
        form = QVBoxLayout(content)
        form.setContentsMargins(0, 0, 0, 0)
        self.prefill_note = QLabel(objectName="prefillNote")
        self.prefill_note.setStyleSheet("color: #555;")
        self.prefill_note.hide()
        form.addWidget(self.prefill_note)
        top = QHBoxLayout()
        top.addWidget(self._walk_box, 3)
        top.addWidget(self._response_box, 2)
        form.addLayout(top)
        form.addWidget(self._soap_box)
        form.addWidget(self._plan_box)
        form.addWidget(self._tests_box, 1)
        self.scroll = QScrollArea(objectName="sessionFormScroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self._set_tab_order()

        if session is not None:
            self._load(session.draft)
        else:
            now = datetime.now().replace(second=0, microsecond=0)
            self.when.set_value(now)
            if previous is not None:
                self._prefill(previous)
            if plan is not None and plan.suggestion is not None:
                self._suggest(plan)
        self._plan_box.setVisible(session is None)  # the checklist is recorded with a new one
        self._refresh_tests_table()
        self._measure_changed()
        self.mark_clean()
        self.follow_changes(ctx.signals.records_changed, "session")
        self.resize(1040, 720)
        self.when.setFocus()

    def _reveal(self, widget: QWidget) -> None:
        if self.scroll.widget().isAncestorOf(widget):
            self.scroll.ensureWidgetVisible(widget)

    # --- construction ---------------------------------------------------------------
    def _line(self, name: str, attr: str) -> QLineEdit:
        p = SESSION_PARAMS[attr]
        edit = QLineEdit(objectName=name)
        edit.setPlaceholderText(f"{p.min_value:g}–{p.max_value:g}")
        edit.setToolTip(f"{p.label}: {p.allowed}" + (f" ({p.note})" if p.note else ""))
        edit.setMaximumWidth(110)
        self.register(p.label, edit)
        return edit

    @staticmethod
    def _combo(name: str, attr: str) -> QComboBox:
        combo = QComboBox(objectName=name)
        for value, label in CHOICE_LABELS[attr].items():
            combo.addItem(label, str(value))
        return combo

    @staticmethod
    def _with_unit(edit: QWidget, unit: str, extra: QWidget | None = None) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(edit)
        label = QLabel(unit)
        # A unit label may grow tall with the box (Response is as tall as Retro-walking);
        # the row would then grow too and its form label float above the field.
        label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        row.addWidget(label)
        if extra is not None:
            row.addWidget(extra)
        row.addStretch(1)
        return row

    def _build_walk_fields(self) -> None:
        self.when = DateTimeInput(FIELD_LABELS["performed_at"], "sessionDateTime", required=True)
        self.register(FIELD_LABELS["performed_at"], self.when)
        self.mode = self._combo("modeCombo", "mode")
        self.surface = self._combo("surfaceCombo", "surface")
        self.assistance = self._combo("assistanceCombo", "assistance")
        for attr, w in (("mode", self.mode), ("surface", self.surface),
                        ("assistance", self.assistance)):
            self.register(FIELD_LABELS[attr], w)
        self.duration = self._line("durationEdit", "duration_min")
        self.distance = self._line("distanceEdit", "distance_m")
        self.speed = self._line("speedEdit", "speed_m_s")
        self.speed_unit = QComboBox(objectName="speedUnitCombo")
        for unit in (SpeedUnit.KMH, SpeedUnit.MS):
            self.speed_unit.addItem(str(unit), unit.value)
        self.speed_unit.setToolTip("The unit you type the speed in (stored in m/s); "
                                   "the next session starts with the unit chosen last")
        self._unit = _remembered_unit()
        self.speed_unit.setCurrentIndex(self.speed_unit.findData(self._unit.value))
        self.track(self.speed_unit)
        self.speed_ms = QLabel(objectName="speedConversion")
        self.speed_ms.setMinimumWidth(120)
        self._speed_hints()
        self.incline = self._line("inclineEdit", "incline_pct")
        self.incline.setToolTip("Incline in %, negative = downhill (-15 to 25 %)")
        form = QFormLayout()
        form.setFormAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        form.addRow("Date/time:", self.when)
        form.addRow("Mode:", self.mode)
        form.addRow("Surface:", self.surface)
        form.addRow("Duration:", self._with_unit(self.duration, "min"))
        form.addRow("Distance:", self._with_unit(self.distance, "m"))
        speed_row = QHBoxLayout()
        for w in (self.speed, self.speed_unit, self.speed_ms):
            speed_row.addWidget(w)
        speed_row.addStretch(1)
        form.addRow("Speed:", speed_row)
        form.addRow("Incline:", self._with_unit(self.incline, "%  (negative = downhill)"))
        form.addRow("Assistance:", self.assistance)
        self.speed_unit.setAccessibleName("Speed unit")
        link_form_labels(form)  # "Duration", not the group box, for a screen reader
        self._walk_box = QGroupBox("Retro-walking")
        self._walk_box.setLayout(form)
        self.speed.textChanged.connect(self._update_speed_conversion)
        self.speed_unit.currentIndexChanged.connect(self._speed_unit_changed)
        self.mode.currentIndexChanged.connect(self._mode_changed)

        self.pain_before = self._line("painBeforeEdit", "pain_before")
        self.pain_after = self._line("painAfterEdit", "pain_after")
        self.rpe = self._line("rpeEdit", "rpe")
        self.heart_rate = self._line("heartRateEdit", "heart_rate")
        resp = QFormLayout()
        resp.setFormAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        resp.addRow("Pain before:", self._with_unit(self.pain_before, "NPRS 0–10"))
        resp.addRow("Pain after:", self._with_unit(self.pain_after, "NPRS 0–10"))
        resp.addRow("RPE:", self._with_unit(self.rpe, "Borg CR10 0–10"))
        resp.addRow("Heart rate:", self._with_unit(self.heart_rate, "bpm"))
        self.adverse = QPlainTextEdit(objectName="adverseEventsEdit")
        self.adverse.setPlaceholderText("None")
        self.adverse.setTabChangesFocus(True)
        self.adverse.setFixedHeight(54)
        self.register(FIELD_LABELS["adverse_events"], self.adverse)
        resp.addRow("Adverse events:", self.adverse)
        link_form_labels(resp)
        self._response_box = QGroupBox("Response")
        self._response_box.setLayout(resp)

    def _build_plan_box(self) -> None:
        """Suggested dose, the safety checklist, home session and the override reason."""
        self.suggestion_label = QLabel("No retro-walking prescription for this episode: no "
                                       "dose is suggested.", objectName="suggestionLabel")
        self.suggestion_label.setWordWrap(True)
        self.path_clear = QCheckBox("Path clear", objectName="pathClearCheck")
        self.surface_checked = QCheckBox("Surface checked", objectName="surfaceCheckedCheck")
        self.spotter_present = QCheckBox("Spotter present", objectName="spotterPresentCheck")
        self.home = QCheckBox("Home session (self-reported by the patient)",
                              objectName="homeSessionCheck")
        self.override_reason = QLineEdit(objectName="overrideReasonEdit")
        self.override_reason.setPlaceholderText("only when the dose differs from the suggestion")
        self.register("Override reason", self.override_reason)
        for w in (self.path_clear, self.surface_checked, self.spotter_present, self.home):
            self.track(w)
        checks = QHBoxLayout()
        for w in (self.path_clear, self.surface_checked, self.spotter_present, self.home):
            checks.addWidget(w)
        checks.addStretch(1)
        form = QFormLayout()
        form.addRow("Suggested dose:", self.suggestion_label)
        form.addRow("Safety checklist:", checks)
        form.addRow("Override reason:", self.override_reason)
        link_form_labels(form)
        self._plan_box = QGroupBox("Programme and safety", objectName="planBox")
        self._plan_box.setLayout(form)

    def _suggest(self, plan: PlanOfCare) -> None:
        """Pre-fill the suggested dose and show its reason; typing over it is an override."""
        s = plan.suggestion
        assert s is not None
        d = s.dose
        self._suggested = d
        self._suggestion_text = s.reason
        self._set_combo(self.mode, d.mode)
        self._set_combo(self.surface, d.surface)
        self._set_combo(self.assistance, d.assistance)
        self.duration.setText(fmt_number(d.duration_min, 3))
        speed = None if d.speed_m_s is None else d.speed_m_s * self._unit.per_ms
        text = fmt_number(speed, SPEED_DECIMALS)
        self.speed.setText(text)
        self._loaded_speed = (text, d.speed_m_s)
        self.incline.setText(fmt_number(d.incline_pct, 3))
        self.distance.clear()
        self.spotter_present.setChecked(d.spotter)
        self.suggestion_label.setText(f"{d.describe()}. {s.reason}")
        self.prefill_note.setText("The suggested dose is filled in: save to accept it, or type "
                                  "another dose and give the reason for the override.")
        self.prefill_note.show()

    def safety(self, draft: WalkSessionDraft) -> SafetyDraft:
        """The checklist as ticked; an override when the dose typed is not the suggestion."""
        home = self.home.isChecked()
        # A home session is what the patient reports having done: no suggestion applied.
        overridden = not home and self._suggested is not None and dose_differs(
            self._suggested, draft.duration_min, draft.speed_m_s, draft.incline_pct)
        return SafetyDraft(
            home=home, path_clear=self.path_clear.isChecked(),
            surface_checked=self.surface_checked.isChecked(),
            spotter_present=self.spotter_present.isChecked(),
            suggestion="" if home else self._suggestion_text, overridden=overridden,
            override_reason=self.override_reason.text().strip())

    def _build_text_fields(self) -> None:
        grid = QGridLayout()
        self.soap: dict[str, QPlainTextEdit] = {}
        for i, attr in enumerate(TEXT_FIELDS[1:]):
            label = FIELD_LABELS[attr]
            edit = QPlainTextEdit(objectName=f"{attr}Edit")
            edit.setTabChangesFocus(True)
            edit.setPlaceholderText(SOAP_HINTS[attr])
            edit.setFixedHeight(64)
            self.register(label, edit)
            self.soap[attr] = edit
            grid.addWidget(buddy(QLabel(f"{label}:"), edit), 0, i)
            grid.addWidget(edit, 1, i)
        self._soap_box = QGroupBox("SOAP notes")
        self._soap_box.setLayout(grid)

    def _build_tests_section(self) -> None:
        self.measure = QComboBox(objectName="testMeasureCombo")
        for m in MEASURES.values():
            self.measure.addItem(measure_label(m), m.id)
        self.measure.setToolTip("The standardized test to add (Alt+T from anywhere in the "
                                "session); type its first letters to pick it")
        self.side = QComboBox(objectName="testSideCombo")
        for side, name in SIDE_NAMES.items():
            self.side.addItem(name, side.value)
        affected = Side(self._episode.draft.affected_side)
        if affected in SIDE_NAMES:
            self.side.setCurrentIndex(self.side.findData(affected.value))
        self._leg_index = self.side.currentIndex()
        self.side.setPlaceholderText("—")
        self.value = QLineEdit(objectName="testValueEdit")
        self.value.setMaximumWidth(100)
        self.value.installEventFilter(_EnterFilter(self))
        self.value_unit = QLabel(objectName="testUnitLabel")
        # limb pairs: the other leg in the same row, and the symmetry as it is typed
        self.other_label = QLabel("Other leg:")
        self.other_value = QLineEdit(objectName="testOtherSideEdit")
        self.other_value.setMaximumWidth(100)
        self.other_value.installEventFilter(_EnterFilter(self))
        self.pair_label = QLabel(objectName="testPairLabel")
        for w in (self.value, self.other_value):
            w.textChanged.connect(self._update_pair)
        self.side.currentIndexChanged.connect(self._update_pair)
        self.track(self.other_value)
        self.add_button = QPushButton("Add test", objectName="addTestButton")
        self.add_button.setAutoDefault(False)
        self.add_button.setToolTip("Add this result to the visit (Enter in the value field)")
        self.add_button.clicked.connect(self.add_test)
        self.register("Side", self.side)
        self.track(self.measure)
        self.track(self.side)
        self.track(self.value)

        picker = QHBoxLayout()
        picker.addWidget(buddy(QLabel("&Test:"), self.measure))  # Alt+T: to the test picker
        picker.addWidget(self.measure, 3)
        picker.addWidget(buddy(QLabel("Side:"), self.side))
        picker.addWidget(self.side)
        self.value_label = buddy(QLabel("Value:"), self.value)
        picker.addWidget(self.value_label)
        picker.addWidget(self.value)
        picker.addWidget(self.value_unit)
        picker.addWidget(self.other_label)
        picker.addWidget(self.other_value)
        picker.addWidget(self.add_button)
        picker.addStretch(1)

        self.items_panel = QWidget(objectName="testItemsPanel")
        items_grid = QGridLayout(self.items_panel)
        items_grid.setContentsMargins(0, 0, 0, 0)
        items_grid.setHorizontalSpacing(4)
        self.item_edits: list[QLineEdit] = []
        self.item_numbers: list[QLabel] = []
        for i in range(20):
            edit = QLineEdit(objectName=f"testItem{i + 1}")
            edit.setValidator(QIntValidator(0, 4, edit))
            edit.setMaxLength(1)
            edit.setFixedWidth(30)
            edit.setAlignment(Qt.AlignmentFlag.AlignCenter)
            edit.setToolTip(f"Item {i + 1}: 0-4, blank if unanswered")
            edit.setAccessibleName(f"Item {i + 1}")
            edit.textEdited.connect(lambda text, i=i: self._item_typed(i, text))
            edit.installEventFilter(_EnterFilter(self))
            self.track(edit)
            num = QLabel(str(i + 1))
            num.setAlignment(Qt.AlignmentFlag.AlignCenter)
            num.setStyleSheet("color: #666; font-size: 8pt;")
            row = (i // 10) * 2
            items_grid.addWidget(num, row, i % 10)
            items_grid.addWidget(edit, row + 1, i % 10)
            self.item_edits.append(edit)
            self.item_numbers.append(num)
        self.items_panel.setStyleSheet(entry.MISSING_STYLE)
        self.score_label = QLabel(objectName="testScoreLabel")
        self.score_label.setMinimumWidth(260)
        self.score_label.setWordWrap(True)  # "not scored: at least 16 of 18 …" fits
        items_grid.addWidget(self.score_label, 0, 10, 4, 1)
        items_grid.setColumnStretch(10, 1)
        # The anchors of each answer and the score's direction: KOOS items run 0 = none to
        # 4 = extreme, LEFS items the other way round, so a form is never typed reversed.
        self.scale_label = QLabel(objectName="testScaleLabel")
        self.scale_label.setWordWrap(True)
        self.scale_label.setStyleSheet("color: #444; font-size: 8pt;")
        items_grid.addWidget(self.scale_label, 4, 0, 1, 11)

        self.tests_table = QTableWidget(0, 4, objectName="testsTable")
        self.tests_table.setHorizontalHeaderLabels(["Test", "Side", "Result", ""])
        self.tests_table.verticalHeader().hide()
        self.tests_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tests_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.tests_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.tests_table.setAccessibleName("Tests added this visit")
        header = self.tests_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.tests_table.setMinimumHeight(120)
        self.tests_table.verticalHeader().setDefaultSectionSize(26)

        box = QVBoxLayout()
        box.addLayout(picker)
        box.addWidget(self.pair_label)
        box.addWidget(self.items_panel)
        box.addWidget(self.tests_table, 1)
        self._tests_box = QGroupBox("Standardized tests this visit")
        self._tests_box.setLayout(box)
        self.measure.currentIndexChanged.connect(self._measure_changed)

    def _form_order(self) -> list[QWidget]:
        return [
            self.when, self.mode, self.surface, self.duration, self.distance, self.speed,
            self.speed_unit, self.incline, self.assistance, self.pain_before, self.pain_after,
            self.rpe, self.heart_rate, self.adverse, *self.soap.values(), self.path_clear,
            self.surface_checked, self.spotter_present, self.home, self.override_reason,
            self.measure, self.side,
            self.value, self.other_value, *self.item_edits, self.add_button, self.save_button,
        ]

    def _set_tab_order(self) -> None:
        order = self._form_order()
        for a, b in zip(order, order[1:], strict=False):
            QWidget.setTabOrder(a, b)

    # --- live feedback ----------------------------------------------------------------
    def speed_unit_chosen(self) -> SpeedUnit:
        """The unit the speed field is typed in."""
        return self._unit

    def _speed_hints(self) -> None:
        unit = self._unit
        p = SESSION_PARAMS["speed_m_s"]
        low, high = p.min_value * unit.per_ms, p.max_value * unit.per_ms
        self.speed.setPlaceholderText(f"{fmt_number(low, 1)}–{fmt_number(high, 1)}")
        self.speed.setToolTip(f"Speed: {unit.allowed()} (stored in m/s)")

    def _typed_speed(self) -> float | None:
        """The speed field in m/s (full precision); ``ValidationError`` if not a number."""
        unit = self._unit
        value = parse_number(self.speed.text(), "Speed", unit.allowed())
        return None if value is None else value / unit.per_ms

    def _speed_unit_changed(self) -> None:
        """Keep the speed the same: the number typed is converted into the new unit."""
        old, self._unit = self._unit, SpeedUnit(self.speed_unit.currentData())
        self._speed_hints()
        with suppress(OSError):  # a convenience only: the unit shown is what counts now
            local_settings.save_speed_unit(self._unit.value)
        try:
            value = parse_number(self.speed.text(), "Speed", old.allowed())
        except ValidationError:
            return  # junk stays as typed; saving names it
        if value is not None:
            ms = value / old.per_ms
            if self.speed.text() == self._loaded_speed[0] and self._loaded_speed[1] is not None:
                ms = self._loaded_speed[1]
            text = fmt_number(ms * self._unit.per_ms, SPEED_DECIMALS)
            self.speed.setText(text)
            if ms == self._loaded_speed[1]:
                self._loaded_speed = (text, ms)

    def _update_speed_conversion(self) -> None:
        try:
            ms = self._typed_speed()
        except ValidationError:
            self.speed_ms.setText("not a number")
            return
        other = SpeedUnit.MS if self._unit is SpeedUnit.KMH else SpeedUnit.KMH
        self.speed_ms.setText("" if ms is None else f"= {other.show(ms)}")

    def _mode_changed(self) -> None:
        belt = self.surface.findData(Surface.TREADMILL_BELT.value)
        if self.mode.currentData() == WalkMode.TREADMILL.value:
            self.surface.setCurrentIndex(belt)
        elif self.surface.currentIndex() == belt:
            self.surface.setCurrentIndex(self.surface.findData(Surface.FLAT.value))

    def current_measure(self) -> Measure:
        return MEASURES[self.measure.currentData()]

    def _measure_changed(self) -> None:
        m = self.current_measure()
        questionnaire = m.items is not None
        self.items_panel.setVisible(questionnaire)
        self.value.setVisible(not questionnaire)
        self.value_unit.setVisible(not questionnaire)
        self.value_label.setVisible(not questionnaire)
        self.side.setToolTip("" if m.sided else f"{m.short_name} is not recorded per side")
        self.side.setEnabled(m.sided)
        # A test not recorded per side shows no side (a greyed "Right" reads as a right-sided
        # result); the leg chosen comes back for the next per-side test.
        if m.sided and self.side.currentIndex() < 0:
            self.side.setCurrentIndex(self._leg_index)
        elif not m.sided and self.side.currentIndex() >= 0:
            self._leg_index = self.side.currentIndex()
            self.side.setCurrentIndex(-1)
        self.value.clear()
        self.value.setPlaceholderText(f"{m.min_value:g}–{m.max_value:g}")
        self.value.setToolTip(f"{m.name}: {m.allowed}")
        self.value_unit.setText(m.unit)
        for i, (edit, num) in enumerate(zip(self.item_edits, self.item_numbers, strict=True)):
            edit.clear()
            edit.setVisible(questionnaire and i < (m.items or 0))
            num.setVisible(questionnaire and i < (m.items or 0))
        if questionnaire:
            entry.configure(m, self.item_edits, self.item_numbers)
            self.scale_label.setText(f"{item_scale(m.id)} {m.short_name}: {m.reading}.")
        pair = m.paired and not questionnaire
        self.other_label.setVisible(pair)
        self.other_value.setVisible(pair)
        self.other_value.clear()
        self.other_value.setPlaceholderText(self.value.placeholderText())
        self.other_value.setToolTip(f"{m.name}, the other leg (optional): {m.allowed}")
        self.pair_label.setVisible(pair)
        self._update_pair()
        self._fields.pop(m.name, None)
        self.register(m.name, self.item_edits[0] if questionnaire else self.value, tracked=False)
        if pair:
            self.register(f"{m.name} (other leg)", self.other_value, tracked=False)
        self._update_score()

    def _item_typed(self, index: int, text: str) -> None:
        """Typing an answer moves on to the next item: fast keyboard entry of a form."""
        self._update_score()
        n = self.current_measure().items or 0
        if entry.should_advance(self.current_measure(), index, text) and index + 1 < n:
            self.item_edits[index + 1].setFocus()
            self.item_edits[index + 1].selectAll()

    def _items(self) -> tuple[int | None, ...]:
        n = self.current_measure().items or 0
        return tuple(int(e.text()) if e.text() else None for e in self.item_edits[:n])

    def _update_score(self) -> None:
        m = self.current_measure()
        if m.items is None:
            self.score_label.clear()
            return
        items = self._items()
        entry.mark_missing(self.item_edits, m.items)
        done, what = ("entered", "composite") if m.item_unit else ("answered", "score")
        answered = sum(1 for i in items if i is not None)
        try:
            side = Side(self.side.currentData()) if m.sided else None
            score = score_test(TestResultDraft(m.id, date.today(), items=items, side=side))
        except ValidationError as exc:
            self.score_label.setText(f"{answered}/{m.items} {done} — not scored: "
                                     f"{exc.allowed or exc}")
            self.score_label.setStyleSheet("color: #8a6d00;")
            return
        self.score_label.setText(f"{answered}/{m.items} {done} — {what} "
                                 f"<b>{m.format_value(score)}</b>")
        self.score_label.setStyleSheet("color: #1b5e20;")

    def field_widget(self, label: str) -> QWidget | None:
        m = self.current_measure()
        if m.items is not None and label.startswith(f"{m.name} item "):
            try:
                return self.item_edits[int(label.rsplit(" ", 1)[1]) - 1]
            except (ValueError, IndexError):
                pass
        return super().field_widget(label)

    # --- tests ---------------------------------------------------------------------
    def _test_draft(self) -> TestResultDraft | None:
        """The test being entered, or ``None`` if nothing was typed for it."""
        m = self.current_measure()
        typed = self.when.peek()  # the session's date wins at save; this is for scoring only
        on = typed.date() if isinstance(typed, datetime) else date.today()
        side = Side(self.side.currentData()) if m.sided else None
        if m.items is not None:
            items = self._items()
            if all(i is None for i in items):
                return None
            return TestResultDraft(m.id, on, side=side, items=items)
        value = parse_number(self.value.text(), m.name, m.allowed)
        if value is None:
            return None
        return TestResultDraft(m.id, on, value=value, side=side)

    def _other_leg_draft(self, first: TestResultDraft) -> TestResultDraft | None:
        """The other leg of a limb pair typed in the same row, or ``None``."""
        m = self.current_measure()
        if not (m.paired and m.items is None and first.side in (Side.LEFT, Side.RIGHT)):
            return None
        value = parse_number(self.other_value.text(), f"{m.name} (other leg)", m.allowed)
        if value is None:
            return None
        other = Side.RIGHT if first.side == Side.LEFT else Side.LEFT
        return replace(first, value=value, side=other)

    def _update_pair(self) -> None:
        m = self.current_measure()
        if not (m.paired and m.items is None):
            self.pair_label.clear()
            return
        try:
            value = parse_number(self.value.text(), m.name, m.allowed)
            other = parse_number(self.other_value.text(), m.name, m.allowed)
        except ValidationError:
            self.pair_label.setText("")
            return
        self.pair_label.setText(entry.pair_text(m, Side(self.side.currentData()), value, other))

    def add_test(self) -> bool:
        """Validate and add the test being entered; ``False`` (message shown) if invalid."""
        self.clear_errors()
        try:
            draft = self._test_draft()
            if draft is None:
                m = self.current_measure()
                what = "item answers are" if m.items else "a value is"
                raise ValidationError(m.name, f"{what} required to add the test", m.allowed)
            score_test(draft)
            second = self._other_leg_draft(draft)
            if second is not None:
                score_test(second)
        except ValidationError as exc:
            self.show_error(exc)
            return False
        self._pending.append(draft)
        if second is not None:
            self._pending.append(second)
        self._refresh_tests_table()
        self.value.clear()
        self.other_value.clear()
        for e in self.item_edits:
            e.clear()
        self._update_score()
        self.measure.setFocus()
        return True

    def pending_tests(self) -> list[TestResultDraft]:
        return list(self._pending)

    def _remove_pending(self, draft: TestResultDraft) -> None:
        self._pending.remove(draft)
        self._refresh_tests_table()

    def _refresh_tests_table(self) -> None:
        rows: list[tuple[TestResultDraft, float, bool]] = [
            (t.draft, t.value, True) for t in self._stored_tests if not t.stamp.entered_in_error
        ]
        rows += [(d, score_test(d), False) for d in self._pending]
        symmetry = entry.visit_lsi(Side(self._episode.draft.affected_side),
                                   [(d, value) for d, value, _ in rows])
        self.tests_table.setRowCount(len(rows))
        for r, (d, value, stored) in enumerate(rows):
            m = MEASURES[d.measure_id]
            side = SIDE_NAMES[Side(d.side)] if d.side else "—"
            result = m.format_value(value)
            if r in symmetry:  # the involved leg of a pair: its LSI stays visible once added
                side = f"{side} (involved)"
                result = f"{result} · LSI {symmetry[r]:.1f} %"
            cells = [m.name, side, result]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if stored:
                    item.setForeground(Qt.GlobalColor.darkGray)
                    item.setToolTip("Already stored with this session")
                self.tests_table.setItem(r, c, item)
            if stored:
                self.tests_table.setItem(r, 3, QTableWidgetItem("stored"))
                self.tests_table.setCellWidget(r, 3, None)
            else:
                self.tests_table.setItem(r, 3, QTableWidgetItem(""))
                remove = QPushButton("Remove")
                remove.setFlat(True)
                remove.setStyleSheet("color: #b71c1c; padding: 0 8px;")
                remove.setAutoDefault(False)
                remove.setFocusPolicy(Qt.FocusPolicy.NoFocus)
                remove.clicked.connect(lambda _=False, d=d: self._remove_pending(d))
                self.tests_table.setCellWidget(r, 3, remove)

    # --- load / draft ------------------------------------------------------------------
    def _set_combo(self, combo: QComboBox, value: str) -> None:
        idx = combo.findData(str(value))
        if idx >= 0:
            combo.setCurrentIndex(idx)

    def _load_walk(self, d: WalkSessionDraft) -> None:
        self._set_combo(self.mode, d.mode)
        self._set_combo(self.surface, d.surface)
        self._set_combo(self.assistance, d.assistance)
        self.duration.setText(fmt_number(d.duration_min, 3))
        self.distance.setText(fmt_number(d.distance_m, 3))
        speed = None if d.speed_m_s is None else d.speed_m_s * self._unit.per_ms
        text = fmt_number(speed, SPEED_DECIMALS)
        self.speed.setText(text)
        self._loaded_speed = (text, d.speed_m_s)
        self.incline.setText(fmt_number(d.incline_pct, 3))

    def _prefill(self, previous: WalkSession) -> None:
        self._load_walk(previous.draft)
        when = local_naive(previous.draft.performed_at).strftime("%Y-%m-%d %H:%M")
        self.prefill_note.setText(f"Walking parameters prefilled from the last session ({when}).")
        self.prefill_note.show()

    def _load(self, d: WalkSessionDraft) -> None:
        self.when.set_value(local_naive(d.performed_at))
        self._load_walk(d)
        self.pain_before.setText(fmt_number(d.pain_before, 0))
        self.pain_after.setText(fmt_number(d.pain_after, 0))
        self.rpe.setText(fmt_number(d.rpe, 3))
        self.heart_rate.setText(fmt_number(d.heart_rate, 0))
        self.adverse.setPlainText(d.adverse_events)
        for attr, edit in self.soap.items():
            edit.setPlainText(getattr(d, attr))

    def _read_form(self) -> tuple[WalkSessionDraft, list[ValidationError]]:
        """The session as typed (units converted) and every field that is not a number.

        A field that cannot be read is left blank in the draft, so the domain can still
        check all the others and the form lists every problem at once.
        """
        problems: list[ValidationError] = []

        def read(parse: Callable[[], float | None]) -> float | None:
            try:
                return parse()
            except ValidationError as exc:
                problems.append(exc)
                return None

        def num(edit: QLineEdit, attr: str) -> float | None:
            p = SESSION_PARAMS[attr]
            return read(lambda: parse_number(edit.text(), p.label, p.allowed))

        def whole(edit: QLineEdit, attr: str) -> int | None:
            p = SESSION_PARAMS[attr]
            return read(lambda: parse_int(edit.text(), p.label, p.allowed))  # type: ignore[return-value]

        if self.speed.text() == self._loaded_speed[0]:  # untouched: keep the stored m/s exactly
            speed = self._loaded_speed[1]
        else:
            speed = read(self._typed_speed)  # full precision: 1.55 km/h shows as 1.55 again
        try:
            local = self.when.value()
        except ValidationError as exc:
            problems.append(exc)
            local = None
        # An unreadable date is reported above; "now" stands in so the other fields are checked.
        when = (local or datetime.now()).astimezone()  # the offset typed in; stored as UTC
        draft = WalkSessionDraft(
            performed_at=when,
            mode=WalkMode(self.mode.currentData()),
            surface=Surface(self.surface.currentData()),
            duration_min=num(self.duration, "duration_min"),
            distance_m=num(self.distance, "distance_m"),
            speed_m_s=speed,
            incline_pct=num(self.incline, "incline_pct"),
            assistance=Assistance(self.assistance.currentData()),
            pain_before=whole(self.pain_before, "pain_before"),  # type: ignore[arg-type]
            pain_after=whole(self.pain_after, "pain_after"),  # type: ignore[arg-type]
            rpe=num(self.rpe, "rpe"),
            heart_rate=whole(self.heart_rate, "heart_rate"),  # type: ignore[arg-type]
            adverse_events=self.adverse.toPlainText().strip(),
            **{attr: edit.toPlainText().strip() for attr, edit in self.soap.items()},
        )
        return draft, problems

    def problems(self) -> list[ValidationError]:
        """Every problem of the session as typed, in the order of the form's fields.

        Speeds are worded in the unit chosen beside the speed field; the session may not be
        dated before the episode started.
        """
        draft, problems = self._read_form()
        unreadable = {p.field for p in problems}
        problems += [p for p in walk_session_problems(
            draft, speed_unit=self._unit, episode_start=self._episode.draft.start_date)
            if p.field not in unreadable]
        order = {w: i for i, w in enumerate(self._form_order())}
        return sorted(problems, key=lambda p: order.get(self.field_widget(p.field), len(order)))

    def draft(self) -> WalkSessionDraft:
        """The session as typed (units converted); raises ValidationError for unparsable text."""
        draft, problems = self._read_form()
        if problems:
            raise problems[0]
        return draft

    def state(self) -> object:
        return (super().state(), tuple(self._pending))

    # --- saving ------------------------------------------------------------------------
    def save(self) -> None:
        if self.saving:
            return
        self.clear_errors()
        problems = self.problems()
        if problems:
            self.show_errors(problems)
            return
        try:
            draft = self.draft()
            half_typed = self._test_draft()
        except ValidationError as exc:
            self.show_error(exc)
            return
        if half_typed is not None and not self.add_test():
            return
        on = local_naive(draft.performed_at).date()
        tests = [replace(t, performed_on=on) for t in self._pending]
        svc, episode_id, session, version = (self._ctx.charting, self._episode.id, self._session,
                                             self._version)
        if session is None:
            safety = self.safety(draft)
            if safety.overridden and not safety.override_reason:
                self.show_error(ValidationError(
                    "Override reason", "the dose differs from the suggested dose",
                    "a short reason, or the suggested dose"))
                return
            plan = self._ctx.clinic.plan

            def task() -> WalkSession:
                return plan.record_session(episode_id, draft, safety, tests)[0]
        else:
            changed = draft != session.draft

            def task() -> WalkSession:
                stored = svc.update_session(session.id, version, draft) if changed else session
                for t in tests:
                    svc.record_test(episode_id, replace(t, session_id=session.id))
                return stored
        self.set_saving(True)
        ops.run_op(self, task, self._saved, self.handle_save_error, title=self.windowTitle())

    def _saved(self, session: WalkSession) -> None:
        self.set_saving(False)
        self.saved_session = session
        self._pending.clear()
        self._ctx.signals.session_recorded.emit(session)
        self.accept()

    def record_id(self) -> object:
        return self._session.id if self._session else None

    def is_dirty(self) -> bool:
        # Tests added but not saved are part of the draft, whatever the form was reset to.
        return bool(self._pending) or super().is_dirty()

    def on_conflict(self, exc: ConflictError) -> None:
        mine = self.draft()
        cur = exc.current
        base = self._session.draft if self._session else None
        compared = compare_drafts(base or cur.draft, cur.draft, mine, FIELD_LABELS, _show) \
            if isinstance(cur, WalkSession) else ThreeWay([], [], [])
        pending = [describe_test(d, score_test(d)) for d in self._pending]

        def reload(c: WalkSession) -> None:
            self._session, self._version = c, c.stamp.version
            self._pending.clear()  # the user confirmed discarding them with the typing
            self._load(c.draft)
            self._refresh_tests_table()

        def review(c: WalkSession) -> None:
            self._session, self._version = c, c.stamp.version
            self._load(merge_drafts(base or c.draft, mine, c.draft))

        self.resolve_conflict(exc, compared, reload, review, pending)


def _remembered_unit() -> SpeedUnit:
    try:
        return SpeedUnit(local_settings.speed_unit())
    except (OSError, ValueError):
        return SpeedUnit.KMH


def _show(attr: str, value: object) -> str:
    if value is None or value == "":
        return "—"
    if attr == "performed_at" and isinstance(value, datetime):
        return local_naive(value).strftime("%Y-%m-%d %H:%M")
    if attr in CHOICE_LABELS:
        return CHOICE_LABELS[attr].get(str(value), str(value))  # type: ignore[call-overload]
    if attr == "speed_m_s" and isinstance(value, float):
        return f"{SpeedUnit.KMH.show(value, 2)} ({SpeedUnit.MS.show(value, 3)})"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
