"""Printable blank questionnaire sheets: written like every other output file (complete or
not at all), for a signed-in user. They hold no patient data, so nothing is audited."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clinic_app.domain.permissions import Principal, as_principal
from clinic_app.persistence.backup import parts_registry
from clinic_app.persistence.outfiles import part_file, publish, refuse_existing, target_in

DEFAULT_NAME = "blank-questionnaires.pdf"


def write_blank_forms(actor: Principal, form_ids: Sequence[str], out: Path, *,
                      force: bool = True) -> tuple[Path, int]:
    """Write the blank sheets of ``form_ids`` to ``out`` (a file, or a folder to put
    :data:`DEFAULT_NAME` in); returns the path and the page count."""
    from clinic_app.reports.blank_forms import build_blank_forms  # reportlab: only when used

    as_principal(actor)
    dest = target_in(Path(out), DEFAULT_NAME)
    refuse_existing(dest, force)
    with part_file(dest, parts_registry()) as tmp:
        pages = build_blank_forms(list(form_ids), tmp)
        publish(tmp, dest, force)
    return dest, pages
