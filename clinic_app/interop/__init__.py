"""CSV and FHIR R4 import/export, with the file formats bound to the service use cases.

The command line and the GUI call these; the use cases (permissions, one transaction,
audit) are in :mod:`clinic_app.services.interop`, the formats in :mod:`.fhir` and
:mod:`.csv_io`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from clinic_app.domain.permissions import Principal
from clinic_app.interop.csv_io import read_import, write_csv
from clinic_app.interop.fhir import write_bundle
from clinic_app.services import interop as service
from clinic_app.services.interop import (
    ExportSummary,
    ImportPhase,
    ImportProblem,
    ImportProgress,
    ImportRejected,
    ImportSummary,
)

if TYPE_CHECKING:  # persistence is reached only through services
    from clinic_app.persistence.uow import Database

__all__ = [
    "ExportSummary", "ImportPhase", "ImportProblem", "ImportProgress", "ImportRejected",
    "ImportSummary",
    "export_csv", "export_fhir", "import_csv",
]


def export_fhir(
    db: Database, actor: Principal, out: Path, mrn: str | None = None, force: bool = False,
) -> ExportSummary:
    """Write a FHIR R4 collection Bundle (JSON) of one patient (MRN) or all to ``out``
    (a file, or a folder for a dated one); an existing file is replaced only with ``force``."""
    return service.export_fhir(db, actor, Path(out), mrn, write=write_bundle, force=force)


def export_csv(
    db: Database, actor: Principal, out_dir: Path, mrn: str | None = None, force: bool = False,
) -> ExportSummary:
    """Write patients.csv, episodes.csv, sessions.csv and tests.csv into ``out_dir``;
    files of an earlier export there are replaced only with ``force``."""
    return service.export_csv(db, actor, Path(out_dir), mrn, write=write_csv, force=force)


def import_csv(
    db: Database, actor: Principal, source: Path,
    progress: ImportProgress | None = None,
) -> ImportSummary:
    """Import one CSV file or a folder of them; all or nothing (raises ImportRejected).

    ``progress(phase, done, total)`` is called from the start: while the rows are read and
    checked (:attr:`ImportPhase.CHECKING`, in bytes) and after each batch stored
    (:attr:`ImportPhase.STORING`, in rows).
    """
    return service.import_csv(db, actor, Path(source), read=read_import, progress=progress)
