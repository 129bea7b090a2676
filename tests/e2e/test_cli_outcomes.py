"""``clinic-app outcomes``: signed in, role checked, audited, files without patient data."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pypdf import PdfReader
from test_cli import ADMIN_PW, add_admin, cli, run_cli

from clinic_app.persistence.engine import make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    return request.getfixturevalue("pg_server").create()


def _audit(url: str) -> list[tuple[str, str, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT actor, action, detail FROM audit_event WHERE entity = 'outcomes'")
            return [tuple(r) for r in rows]  # type: ignore[misc]
    finally:
        engine.dispose()


def test_outcomes_command(url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_admin(data, "--db", url)
    assert cli("--db", url, "demo", "--patients", "30", data_dir=data).returncode == 0
    pdf, table = tmp_path / "o.pdf", tmp_path / "o.csv"
    nobody = run_cli("--db", url, "outcomes", "--out", str(pdf), data_dir=data,
                     extra_env={"USER": "admin", "LOGNAME": "admin"})
    assert nobody.returncode == 2 and "--user NAME" in nobody.stderr and not pdf.exists()
    desk = run_cli("--db", url, "--user", "admin", "--password-stdin", "users", "add", "desk",
                   "--role", "frontdesk", "--password-stdin", data_dir=data,
                   stdin=f"{ADMIN_PW}\ndesk password 12\n")
    assert desk.returncode == 0, desk.stderr
    refused = run_cli("--db", url, "--user", "desk", "--password-stdin", "outcomes", "--out",
                      str(pdf), data_dir=data, stdin="desk password 12\n")
    assert refused.returncode == 2 and "may not" in refused.stderr and not pdf.exists()
    done = cli("--db", url, "outcomes", "--out", str(pdf), "--csv", str(table), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert f"Outcomes report written: {pdf}" in done.stdout
    text = "".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert "Outcomes report" in text and "ACL reconstruction" in text
    assert "DEMO-" not in text
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert {r["diagnosis"] for r in rows} >= {"acl_reconstruction"}
    assert not any("DEMO-" in v for r in rows for v in r.values())
    one = cli("--db", url, "outcomes", "--out", str(tmp_path / "acl.pdf"), "--diagnosis",
              "acl_reconstruction", data_dir=data)
    assert one.returncode == 0, one.stderr
    again = cli("--db", url, "outcomes", "--out", str(pdf), data_dir=data)
    assert again.returncode != 0 and "already exists" in again.stderr
    bad = cli("--db", url, "outcomes", "--out", str(tmp_path / "x.pdf"), "--diagnosis", "flu",
              data_dir=data)
    assert bad.returncode != 0 and "Diagnosis" in bad.stderr and "Traceback" not in bad.stderr
    assert [(a, act) for a, act, _d in _audit(url) if act == "export"] == [
        ("admin", "export"), ("admin", "export")]
