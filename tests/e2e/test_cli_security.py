"""The command line as an adversary finds it: sign-in, roles, error output, file modes.

Every test runs the real ``python -m clinic_app`` in a subprocess and reads what a person at
the terminal would see.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import ADMIN_PW, ROOT, add_admin, cli, run_cli

from clinic_app.persistence.engine import make_engine

KIM_PW = "kims password 12"
DESK_PW = "desk password 12"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    return request.getfixturevalue("pg_server").create()


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    """Read with a bare engine: the command line's data folder (and audit key) is not ours."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def _patients(url: str) -> int:
    return int(_rows(url, "SELECT count(*) FROM patient")[0][0])  # type: ignore[arg-type]


def _clean(done: subprocess.CompletedProcess[str], *secrets: str) -> None:
    """One line on stderr, no traceback, none of ``secrets`` (patient values)."""
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("clinic-app: "), done.stderr
    for secret in secrets:
        assert secret not in done.stderr and secret not in done.stdout


def _as(user: str, password: str, *args: str, data: Path,
        url: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--db", url, "--user", user, "--password-stdin", *args, data_dir=data,
                   stdin=password + "\n")


def _team(url: str, data: Path) -> None:
    """admin (first, without sign-in), then kim (therapist) and desk (front desk)."""
    add_admin(data, "--db", url)
    for name, role, pw in (("kim", "therapist", KIM_PW), ("desk", "frontdesk", DESK_PW)):
        done = run_cli("--db", url, "--user", "admin", "--password-stdin", "users", "add", name,
                       "--role", role, "--password-stdin", data_dir=data,
                       stdin=f"{ADMIN_PW}\n{pw}\n")
        assert done.returncode == 0, done.stderr
        assert f"Created the {role} {name}" in done.stdout


def test_commands_that_touch_patient_data_need_a_signed_in_user(url: str,
                                                               tmp_path: Path) -> None:
    data = tmp_path / "data"
    # Before any account exists nothing runs: the error says how to create the first one.
    first = run_cli("--db", url, "--user", "admin", "demo", data_dir=data)
    assert first.returncode == 2 and "users add NAME --role admin" in first.stderr
    _clean(first)
    add_admin(data, "--db", url)
    backup = tmp_path / "b.bin"
    commands = [("demo", "--patients", "2"), ("backup", "--out", str(backup)),
                ("export", "csv", "--out", str(tmp_path / "csv")), ("audit", "verify"),
                ("report", "DEMO-00001", "--out", str(tmp_path / "r.pdf")),
                ("import", "csv", str(tmp_path / "csv")), ("restore", str(backup))]
    for command in commands:
        # No user named (the OS user no longer counts), or a claimed name with no password.
        nobody = run_cli("--db", url, *command, data_dir=data,
                         extra_env={"USER": "admin", "LOGNAME": "admin"})
        assert nobody.returncode == 2 and "--user NAME" in nobody.stderr, (command, nobody)
        _clean(nobody)
        claimed = run_cli("--db", url, "--user", "admin", *command, data_dir=data)
        assert claimed.returncode == 2 and "--password-stdin" in claimed.stderr, command
        wrong = _as("admin", "not the password", *command, data=data, url=url)
        assert wrong.returncode == 2 and "Wrong user name or password" in wrong.stderr
        _clean(wrong)
    assert _patients(url) == 0 and not backup.exists() and not (tmp_path / "csv").exists()


def test_roles_apply_on_the_command_line_as_in_the_window(url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _team(url, data)
    desk_demo = _as("desk", DESK_PW, "demo", "--patients", "2", data=data, url=url)
    assert desk_demo.returncode == 2 and "front desk" in desk_demo.stderr
    _clean(desk_demo)
    assert _patients(url) == 0
    kim_demo = _as("kim", KIM_PW, "demo", "--patients", "2", data=data, url=url)
    assert kim_demo.returncode == 0, kim_demo.stderr
    # The records and the audit trail name who really signed in.
    assert _rows(url, "SELECT DISTINCT created_by FROM patient") == [("kim",)]
    assert ("kim", "create") in _rows(url, "SELECT actor, action FROM audit_event")
    out = tmp_path / "b.bin"
    refused = [
        _as("desk", DESK_PW, "backup", "--out", str(out), data=data, url=url),
        _as("desk", DESK_PW, "export", "fhir", "--out", str(tmp_path / "f.json"), data=data,
            url=url),
        _as("kim", KIM_PW, "backup", "--out", str(out), data=data, url=url),
        _as("kim", KIM_PW, "audit", "verify", data=data, url=url),
    ]
    for done in refused:
        assert done.returncode == 2 and "may not" in done.stderr, done.stderr
        _clean(done)
    assert not out.exists() and not (tmp_path / "f.json").exists()
    good = _as("admin", ADMIN_PW, "backup", "--out", str(out), data=data, url=url)
    assert good.returncode == 0, good.stderr
    kim_restore = _as("kim", KIM_PW, "restore", str(out), data=data, url=url)
    assert kim_restore.returncode == 2 and "may not" in kim_restore.stderr
    assert _as("kim", KIM_PW, "report", "DEMO-00001", "--out", str(tmp_path / "r.pdf"),
               data=data, url=url).returncode == 0


def test_users_add_creates_the_first_administrator_only_while_no_user_exists(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'u.sqlite3'}"
    data = tmp_path / "data"
    not_admin = run_cli("--db", url, "users", "add", "kim", "--role", "therapist",
                        "--password-stdin", data_dir=data, stdin=KIM_PW + "\n")
    assert not_admin.returncode == 2 and "first user must be an administrator" in \
        not_admin.stderr
    add_admin(data, "--db", url)
    # Now nobody adds users without signing in as an administrator.
    again = run_cli("--db", url, "users", "add", "eve", "--role", "admin", "--password-stdin",
                    data_dir=data, stdin="eves password 12\n")
    assert again.returncode == 2 and "--user NAME" in again.stderr
    _clean(again)
    kim = run_cli("--db", url, "--user", "admin", "--password-stdin", "users", "add", "kim",
                  "--role", "therapist", "--password-stdin", data_dir=data,
                  stdin=f"{ADMIN_PW}\n{KIM_PW}\n")
    assert kim.returncode == 0, kim.stderr
    by_kim = run_cli("--db", url, "--user", "kim", "--password-stdin", "users", "add", "eve",
                     "--role", "admin", "--password-stdin", data_dir=data,
                     stdin=f"{KIM_PW}\neves password 12\n")
    assert by_kim.returncode == 2 and "may not" in by_kim.stderr
    names = _rows(url, "SELECT username, role FROM app_user ORDER BY username")
    assert names == [("admin", "admin"), ("kim", "therapist")]


def test_without_a_terminal_the_password_must_come_from_stdin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    add_admin(tmp_path / "d", "--db", url)
    done = run_cli("--db", url, "--user", "admin", "backup", data_dir=tmp_path / "d")
    assert done.returncode == 2 and "no terminal" in done.stderr
    _clean(done)


def test_audit_verify_is_itself_audited(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    data = tmp_path / "data"
    add_admin(data, "--db", url)
    done = cli("--db", url, "audit", "verify", data_dir=data)
    assert done.returncode == 0, done.stderr
    last = _rows(url, "SELECT actor, action, entity FROM audit_event ORDER BY seq DESC LIMIT 1")
    assert last == [("admin", "verify", "audit")]


def test_lockout_answers_the_same_for_unknown_users(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.sqlite3'}"
    data = tmp_path / "data"
    add_admin(data, "--db", url)
    real = [_as("admin", "guess number x", "audit", "verify", data=data, url=url).stderr
            for _ in range(6)]
    unknown = [_as("nobody", "guess number x", "audit", "verify", data=data, url=url).stderr
               for _ in range(6)]
    assert real == unknown
    locked = _as("admin", ADMIN_PW, "audit", "verify", data=data, url=url)
    assert locked.returncode == 2 and locked.stderr == unknown[-1]


def test_an_overlong_user_name_is_one_clear_line(url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_admin(data, "--db", url)
    name = "Zbigniewska-" + "x" * 120
    done = _as(name, ADMIN_PW, "demo", "--patients", "1", data=data, url=url)
    assert done.returncode == 2 and "Wrong user name or password" in done.stderr
    _clean(done)
    assert _patients(url) == 0


def test_concurrent_demo_runs_never_print_a_traceback(pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = pg_server.create()
    data = tmp_path / "data"
    add_admin(data, "--db", url)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLINIC_APP_DATA_DIR": str(data)}
    env.pop("CLINIC_APP_DB", None)
    runs = [subprocess.Popen(
        [sys.executable, "-m", "clinic_app", "--db", url, "--user", "admin",
         "--password-stdin", "demo", "--patients", "30"],
        env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE) for _ in range(3)]
    results = [(p.communicate(ADMIN_PW + "\n", timeout=300), p.returncode) for p in runs]
    names = [r[0] for r in _rows(url, "SELECT family_name FROM patient")]
    mrns = [r[0] for r in _rows(url, "SELECT mrn FROM patient")]
    assert any(code == 0 for _out, code in results)
    for (_out, err), code in results:
        assert code in (0, 2), err
        if code:
            done = subprocess.CompletedProcess([], code, _out, err)
            _clean(done, *mrns[:5], *names[:5], "DEMO-0")
            assert "at the same moment" in err
    assert len(mrns) in (30, 60, 90)  # whole runs only: a refused run stored nothing


@pytest.mark.parametrize("bad", [
    "mysql://root@localhost/clinic",
    "postgresql://postgres@127.0.0.1:1/nowhere",
    "this is not a url",
    "sqlite:////no/such/folder/at/all/x.sqlite3",
])
def test_unusable_database_urls_are_one_line(bad: str, tmp_path: Path) -> None:
    done = run_cli("--db", bad, "--user", "admin", "--password-stdin", "demo",
                   data_dir=tmp_path / "d", stdin="x\n")
    assert done.returncode != 0
    _clean(done)


def test_a_locked_database_is_called_busy_not_damaged(tmp_path: Path) -> None:
    path = tmp_path / "held.sqlite3"
    url = f"sqlite:///{path}"
    add_admin(tmp_path / "d", "--db", url)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
         "c.execute('PRAGMA locking_mode=EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE'); "
         "print('held', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done = run_cli("--db", url, "db", "upgrade", data_dir=tmp_path / "d")
    finally:
        holder.communicate("", timeout=30)
    assert done.returncode == 2
    _clean(done)
    assert "busy" in done.stderr and "try again" in done.stderr
    assert "damaged" not in done.stderr and "restore" not in done.stderr.lower()


def test_an_encrypted_file_opened_as_plain_sqlite_is_called_encrypted(tmp_path: Path) -> None:
    pytest.importorskip("sqlcipher3")
    path = tmp_path / "enc.sqlite3"
    data = tmp_path / "d"
    made = run_cli("--db", f"sqlcipher:///{path}", "users", "add", "admin", "--role", "admin",
                   "--password-stdin", data_dir=data, stdin=ADMIN_PW + "\n",
                   extra_env={"CLINIC_APP_DB_PASSPHRASE": "a long passphrase"})
    assert made.returncode == 0, made.stderr
    done = run_cli("--db", f"sqlite:///{path}", "db", "upgrade", data_dir=data)
    assert done.returncode == 2
    _clean(done)
    assert "looks encrypted" in done.stderr and "sqlcipher:///" in done.stderr
    assert "CLINIC_APP_DB_PASSPHRASE" in done.stderr


def test_a_passphrase_with_a_plain_sqlite_url_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite3"
    done = run_cli("--db", f"sqlite:///{path}", "users", "add", "admin", "--role", "admin",
                   "--password-stdin", data_dir=tmp_path / "d", stdin=ADMIN_PW + "\n",
                   extra_env={"CLINIC_APP_DB_PASSPHRASE": "a long passphrase"})
    assert done.returncode == 2 and "sqlcipher:///" in done.stderr
    _clean(done)
    assert not path.exists()


def test_restoring_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    data = tmp_path / "d"
    add_admin(data)
    folder = tmp_path / "backups"
    folder.mkdir()
    done = cli("restore", str(folder), data_dir=data)
    assert done.returncode == 2 and "is a folder" in done.stderr
    assert "does not exist" not in done.stderr
    _clean(done)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_patient_data_files_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    add_admin(data)
    assert cli("demo", "--patients", "2", data_dir=data).returncode == 0
    assert cli("backup", data_dir=data).returncode == 0
    exports = tmp_path / "exports"
    assert cli("export", "csv", "--out", str(exports / "csv"), data_dir=data).returncode == 0
    assert cli("export", "fhir", "--out", str(exports / "b.json"), data_dir=data).returncode == 0
    assert cli("report", "DEMO-00001", "--out", str(exports / "r.pdf"),
               data_dir=data).returncode == 0
    files = [p for p in data.rglob("*") if p.is_file()] + [p for p in exports.rglob("*")
                                                            if p.is_file()]
    folders = [data, *(p for p in data.rglob("*") if p.is_dir()), exports, exports / "csv"]
    names = {p.name for p in files}
    assert "backstep.sqlite3" in names and "r.pdf" in names and "patients.csv" in names
    assert any(n.startswith("audit-head-") for n in names)
    assert any(p.parent.name == "backups" for p in files)
    assert {str(p): oct(_mode(p)) for p in files if _mode(p) != 0o600} == {}
    assert {str(p): oct(_mode(p)) for p in folders if _mode(p) != 0o700} == {}


def test_a_damaged_file_is_restored_by_an_administrator_of_the_backup(tmp_path: Path) -> None:
    """When the accounts of the file to repair cannot be read, the sign-in is checked
    against the backup being restored (the user must be an administrator there)."""
    from db_damage import damage_table

    path = tmp_path / "c.sqlite3"
    url = f"sqlite:///{path}"
    data = tmp_path / "d"
    _team(url, data)
    assert _as("kim", KIM_PW, "demo", "--patients", "2", data=data, url=url).returncode == 0
    out = tmp_path / "good.sqlite3"
    assert cli("--db", url, "backup", "--out", str(out), data_dir=data).returncode == 0
    damage_table(path, "app_user")
    refused = _as("kim", KIM_PW, "restore", str(out), data=data, url=url)
    assert refused.returncode == 2 and "may not" in refused.stderr  # a therapist, there too
    _clean(refused)
    done = cli("--db", url, "restore", str(out), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert _patients(url) == 2


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminal")
def test_the_password_is_asked_on_the_terminal(tmp_path: Path) -> None:
    """Without --password-stdin a person types the password at a prompt (not echoed)."""
    import pty
    import time

    url = f"sqlite:///{tmp_path / 't.sqlite3'}"
    data = tmp_path / "d"
    add_admin(data, "--db", url)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLINIC_APP_DATA_DIR": str(data)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session whose controlling terminal is the pty
        os.execve(sys.executable, [sys.executable, "-m", "clinic_app", "--db", url, "--user",
                                   "admin", "audit", "verify"], env)
    seen = b""
    deadline = time.monotonic() + 120
    while b"password for admin" not in seen and time.monotonic() < deadline:
        seen += os.read(fd, 1024)
    os.write(fd, (ADMIN_PW + "\n").encode())
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Audit trail intact" in text and ADMIN_PW not in text


def test_concurrent_imports_never_print_a_traceback(pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two workstations importing the same export at once: one stores it, the other is
    told in one line (PostgreSQL writes the rows with COPY on the raw connection)."""
    data = tmp_path / "data"
    source = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    add_admin(data, "--db", source)
    assert cli("--db", source, "demo", "--patients", "40", data_dir=data).returncode == 0
    assert cli("--db", source, "export", "csv", "--out", str(tmp_path / "csv"),
               data_dir=data).returncode == 0
    url = pg_server.create()
    add_admin(data, "--db", url)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CLINIC_APP_DATA_DIR": str(data)}
    env.pop("CLINIC_APP_DB", None)
    runs = [subprocess.Popen(
        [sys.executable, "-m", "clinic_app", "--db", url, "--user", "admin",
         "--password-stdin", "import", "csv", str(tmp_path / "csv")],
        env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE) for _ in range(2)]
    results = [(p.communicate(ADMIN_PW + "\n", timeout=300), p.returncode) for p in runs]
    mrns = [r[0] for r in _rows(url, "SELECT mrn FROM patient")]
    names = [r[0] for r in _rows(url, "SELECT family_name FROM patient")]
    assert len(mrns) == 40 and sorted(code for _o, code in results)[0] == 0
    for (_out, err), code in results:
        assert code in (0, 2), err
        if code:
            # Whichever import came second: refused while storing (the clash itself, in
            # words without values) or while checking (each row of the user's own file).
            assert "Traceback" not in err and not any(name in err for name in names)
            assert "at the same moment" in err or "already used" in err, err
            if "at the same moment" in err:
                assert "DEMO-0" not in err
