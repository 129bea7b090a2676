"""CSV and FHIR R4 import/export, with the file formats bound to the service use cases.

The command line and the GUI call these; the use cases (permissions, one transaction,
audit) are in :mod:`clinic_app.services.interop`, the formats in :mod:`.fhir` and
:mod:`.csv_io`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from clinic_app.domain.permissions import Principal
from clinic_app.interop.csv_io import read_import, write_csv
from clinic_app.interop.fhir import write_bundle
from clinic_app.services import interop as service
from clinic_app.services.interop import (
    ExportSummary,
    ImportProblem,
    ImportRejected,
    ImportSummary,
)

if TYPE_CHECKING:  # persistence is reached only through services
    from clinic_app.persistence.uow import Database

__all__ = [
    "ExportSummary", "ImportProblem", "ImportRejected", "ImportSummary",
    "export_csv", "export_fhir", "import_csv",
]


def export_fhir(
    db: Database, actor: str | Principal, out: Path, mrn: str | None = None
) -> ExportSummary:
    """Write a FHIR R4 collection Bundle (JSON) of one patient (MRN) or all to ``out``."""
    return service.export_fhir(db, actor, Path(out), mrn, write=write_bundle)


def export_csv(
    db: Database, actor: str | Principal, out_dir: Path, mrn: str | None = None
) -> ExportSummary:
    """Write patients.csv, episodes.csv, sessions.csv and tests.csv into ``out_dir``."""
    return service.export_csv(db, actor, Path(out_dir), mrn, write=write_csv)


def import_csv(
    db: Database, actor: str | Principal, source: Path,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import one CSV file or a folder of them; all or nothing (raises ImportRejected).

    ``progress(done, total)`` is called once the rows are checked and after each batch.
    """
    return service.import_csv(db, actor, Path(source), read=read_import, progress=progress)
