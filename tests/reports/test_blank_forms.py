"""Blank questionnaire sheets: one page per questionnaire with every item number, its answer
scale and the scoring rule; no item wording reproduced."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from accounts import as_user
from pypdf import PdfReader

from clinic_app.domain.errors import ValidationError
from clinic_app.domain.instruments import INSTRUMENTS
from clinic_app.persistence.uow import Database
from clinic_app.reports.blank_forms import build_blank_forms, form_ids
from clinic_app.services.blank_forms import write_blank_forms


def _pages(path: Path) -> list[str]:
    return [re.sub(r"\s+", " ", p.extract_text() or "") for p in PdfReader(path).pages]


def test_every_questionnaire_has_a_sheet(sqlite_db: Database, tmp_path: Path) -> None:
    ids = form_ids()
    assert ids == ["koos", "lefs", "ikdc", "kos_adls", "lysholm", "kujala", "tegner",
                   "acl_rsi"]
    out, pages = write_blank_forms(as_user(sqlite_db), ids, tmp_path)
    assert out == tmp_path / "blank-questionnaires.pdf"
    text = _pages(out)
    assert pages == len(text) == 9  # the KOOS, five subscales, runs onto a second page
    joined = " ".join(text)
    kujala = next(t for t in text if t.startswith("Kujala"))
    assert "4 stairs 0 5 8 10" in kujala and "Scored with all 13 items answered" in kujala
    for mid in ("ikdc", "kos_adls", "lysholm", "kujala", "tegner", "acl_rsi"):
        for spec in INSTRUMENTS[mid].items:
            assert spec.label.split(" ")[0] in joined
    lysholm = next(t for t in text if t.startswith("Lysholm"))
    assert "1 limp 0 3 5" in lysholm and "Scored with all 8 items answered" in lysholm
    ikdc = next(t for t in text if t.startswith("IKDC"))
    assert "at least 16 of 18 items answered" in ikdc and "not the same as 0" in ikdc
    koos = " ".join(t for t in text if "KOOS" in t)
    assert "at least 5 of 9 items answered" in koos  # KOOS Pain, 2012 rule


def test_unknown_or_no_questionnaire_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="Questionnaire"):
        build_blank_forms(["tug"], tmp_path / "x.pdf")
    with pytest.raises(ValidationError, match="at least one"):
        build_blank_forms([], tmp_path / "x.pdf")
