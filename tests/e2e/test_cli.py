"""The automation contract: `python -m clinic_app` sub-commands against both databases.

Every command that touches patient data signs in a Backstep user (here an administrator
created first with ``users add``), with the password on standard input.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clinic_app.persistence.uow import Database

ROOT = Path(__file__).resolve().parents[2]


ADMIN_PW = "cli admin password"


def run_cli(*args: str, data_dir: Path, env_db: str | None = None, stdin: str = "",
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m clinic_app ARGS`` exactly as typed, with ``stdin`` as standard input."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLINIC_APP_DATA_DIR": str(data_dir)}
    for name in ("CLINIC_APP_DB", "CLINIC_APP_USER", "CLINIC_APP_DB_PASSPHRASE"):
        env.pop(name, None)
    if env_db:
        env["CLINIC_APP_DB"] = env_db
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "clinic_app", *args], env=env, text=True,
                          input=stdin, capture_output=True, timeout=300)


def add_admin(data_dir: Path, *db: str) -> None:
    """Create the first administrator ``admin`` (no sign-in while no user exists)."""
    done = run_cli(*db, "users", "add", "admin", "--role", "admin", "--password-stdin",
                   data_dir=data_dir, stdin=ADMIN_PW + "\n")
    assert done.returncode == 0, done.stderr


def cli(*args: str, data_dir: Path, env_db: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``args`` signed in as the administrator (see :func:`add_admin`), as a nightly
    script would: ``echo "$PW" | clinic-app --user admin --password-stdin ARGS``."""
    return run_cli("--user", "admin", "--password-stdin", *args, data_dir=data_dir,
                   env_db=env_db, stdin=ADMIN_PW + "\n")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    return request.getfixturevalue("pg_server").create()


def _count(url: str) -> int:
    db = Database.open(url)
    try:
        with db.unit_of_work("t", read_only=True) as uow:
            return uow.patients.count()
    finally:
        db.close()


def test_demo_then_backup_then_restore(url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_admin(data, "--db", url)
    done = cli("--db", url, "demo", "--patients", "5", data_dir=data)
    assert done.returncode == 0, done.stderr
    assert "Added 5 demo patients" in done.stdout
    assert _count(url) == 5
    out = tmp_path / "backup.bin"
    bk = cli("--db", url, "backup", "--out", str(out), data_dir=data)
    assert bk.returncode == 0, bk.stderr
    assert "verified" in bk.stdout and out.stat().st_size > 1000
    cli("--db", url, "demo", "--patients", "2", data_dir=data)
    assert _count(url) == 7
    rs = cli("--db", url, "restore", str(out), data_dir=data)
    assert rs.returncode == 0, rs.stderr
    assert _count(url) == 5
    assert "kept in" in rs.stdout


def test_db_upgrade_reports_state(url: str, tmp_path: Path) -> None:
    first = cli("db", "upgrade", data_dir=tmp_path / "d", env_db=url)
    assert first.returncode == 0, first.stderr
    assert "upgraded from empty" in first.stdout
    again = cli("db", "upgrade", data_dir=tmp_path / "d", env_db=url)
    assert "up to date" in again.stdout


def test_default_database_lives_in_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "userdata"
    add_admin(data)
    done = cli("demo", "--patients", "1", data_dir=data)
    assert done.returncode == 0, done.stderr
    assert (data / "backstep.sqlite3").is_file()
    bk = cli("backup", data_dir=data)
    assert bk.returncode == 0, bk.stderr
    assert len(list((data / "backups").glob("backstep-*.sqlite3"))) == 1


def test_errors_are_clear_and_exit_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "nothing.bin"
    bad.write_text("junk")
    add_admin(tmp_path / "d")
    done = cli("restore", str(bad), data_dir=tmp_path / "d")
    assert done.returncode == 2
    assert "clinic-app:" in done.stderr and "Traceback" not in done.stderr
    wrong = cli("demo", "--patients", "0", data_dir=tmp_path / "d")
    assert wrong.returncode == 2 and "--patients" in wrong.stderr


def test_audit_verify_detects_tampering(url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_admin(data, "--db", url)
    assert cli("--db", url, "demo", "--patients", "2", data_dir=data).returncode == 0
    backup = cli("--db", url, "backup", "--out", str(tmp_path / "b.bin"), data_dir=data)
    assert backup.returncode == 0
    ok = cli("--db", url, "audit", "verify", data_dir=data)
    assert ok.returncode == 0, ok.stderr
    # The administrator, two sign-ins, the demo data and the backup; this check's own sign-in.
    assert "Audit trail intact: 6 events verified" in ok.stdout
    from sqlalchemy import text

    key = bytes.fromhex((data / "audit.key").read_text().strip())
    db = Database.open(url, state_dir=data, audit_key=key)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET detail = 'nothing happened' WHERE seq = 1"))
    finally:
        db.close()
    bad = cli("--db", url, "audit", "verify", data_dir=data)
    assert bad.returncode == 1
    assert "TAMPERED" in bad.stderr and "event 1: its content was altered" in bad.stderr


def test_report_command_writes_a_readable_pdf(url: str, tmp_path: Path) -> None:
    from pypdf import PdfReader

    data = tmp_path / "data"
    add_admin(data, "--db", url)
    assert cli("--db", url, "demo", "--patients", "3", data_dir=data).returncode == 0
    out = tmp_path / "r.pdf"
    done = cli("--db", url, "report", "demo-00002", "--out", str(out), "--therapist",
               "Jo Physio", data_dir=data)
    assert done.returncode == 0, done.stderr
    text = "".join(page.extract_text() for page in PdfReader(out).pages)
    assert "DEMO-00002" in text and "Jo Physio" in text
    assert f"Report written: {out}" in done.stdout
    batch = cli("--db", url, "report", "DEMO-00001", "DEMO-00003", "--out", str(tmp_path / "b"),
                "--from", "2000-01-01", data_dir=data)
    assert batch.returncode == 0, batch.stderr
    assert len(list((tmp_path / "b").glob("*.pdf"))) == 2
    bad = cli("--db", url, "report", "DEMO-00001", "--out", str(out), "--from", "31/12/2026",
              data_dir=data)
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_export_and_import_commands(url: str, tmp_path: Path) -> None:
    import json

    data = tmp_path / "data"
    add_admin(data, "--db", url)
    assert cli("--db", url, "demo", "--patients", "2", data_dir=data).returncode == 0
    fhir = cli("--db", url, "export", "fhir", "--out", str(tmp_path / "b.json"), "--patient",
               "DEMO-00001", data_dir=data)
    assert fhir.returncode == 0, fhir.stderr
    bundle = json.loads((tmp_path / "b.json").read_text())
    assert bundle["resourceType"] == "Bundle"
    assert sum(e["resource"]["resourceType"] == "Patient" for e in bundle["entry"]) == 1
    out = cli("--db", url, "export", "csv", "--out", str(tmp_path / "csv"), data_dir=data)
    assert out.returncode == 0, out.stderr
    assert "Exported 2 patient(s)" in out.stdout
    target = f"sqlite:///{tmp_path / 'copy.sqlite3'}"
    add_admin(data, "--db", target)
    imp = cli("--db", target, "import", "csv", str(tmp_path / "csv"), data_dir=data)
    assert imp.returncode == 0, imp.stderr
    assert "Imported 2 patient(s)" in imp.stdout
    assert _count(target) == 2
    again = cli("--db", target, "import", "csv", str(tmp_path / "csv"), data_dir=data)
    # the same export again: every row is already stored, nothing is added
    assert again.returncode == 0, again.stderr
    assert "Imported 0 patient(s)" in again.stdout and "Skipped" in again.stdout
    assert _count(target) == 2


def test_handout_and_discharge_commands(url: str, tmp_path: Path) -> None:
    from pypdf import PdfReader

    data = tmp_path / "data"
    add_admin(data, "--db", url)
    assert cli("--db", url, "demo", "--patients", "2", data_dir=data).returncode == 0
    out = tmp_path / "h.pdf"
    done = cli("--db", url, "handout", "demo-00001", "--out", str(out), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert f"Home programme written: {out}" in done.stdout
    text = "".join(page.extract_text() for page in PdfReader(out).pages)
    assert "Your backward-walking programme" in text and "count backwards" in text
    again = cli("--db", url, "handout", "DEMO-00001", "--out", str(out), data_dir=data)
    assert again.returncode != 0 and "Traceback" not in again.stderr
    summary = cli("--db", url, "discharge", "DEMO-00001", "--out", str(tmp_path), data_dir=data)
    assert summary.returncode == 0, summary.stderr
    pdf = next(tmp_path.glob("DEMO-00001_discharge_*.pdf"))
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Discharge summary" in text and "goal(s) met" in text
    assert "reported from home" in text
    # The second demo patient has no prescription: a one-line refusal naming the field.
    none = cli("--db", url, "handout", "DEMO-00002", "--out", str(tmp_path / "x.pdf"),
               data_dir=data)
    assert none.returncode != 0 and "Prescription" in none.stderr
    assert "Traceback" not in none.stderr and len(none.stderr.strip().splitlines()) == 1
    verify = cli("--db", url, "audit", "verify", data_dir=data)
    assert verify.returncode == 0, verify.stderr + verify.stdout
