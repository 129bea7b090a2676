"""CSV and FHIR R4 file formats: domain records to files and back, without the database.

:mod:`.csv_io` reads an import file or folder into a :class:`~clinic_app.domain.imports.
ImportBatch` and writes charts as CSV; :mod:`.fhir` writes charts as a FHIR R4 Bundle. The
use cases that load, check, store and audit (permissions, one transaction) are in
:mod:`clinic_app.services.interop`, which calls these.
"""
