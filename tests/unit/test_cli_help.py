"""Asking the command line for help reads nothing and creates no folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from clinic_app import cli, config

COMMANDS = [[], ["backup"], ["report"], ["export", "csv"], ["import", "csv"], ["audit"],
            ["move"], ["restore"], ["users", "add"], ["demo"], ["db"], ["handout"],
            ["discharge"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_creates_no_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str],
                                     command: list[str]) -> None:
    data = tmp_path / "not-yet"
    monkeypatch.setenv(config.DATA_DIR_ENV, str(data))
    with pytest.raises(SystemExit) as exit_:
        cli.run([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: clinic-app" in capsys.readouterr().out
    assert not data.exists()


def test_every_command_has_its_own_handler() -> None:
    parser = cli.build_parser()
    handlers = {cli.build_parser().parse_args(argv).handler for argv in (
        ["demo"], ["db", "upgrade"], ["backup"], ["report", "X", "--out", "r.pdf"],
        ["export", "csv", "--out", "d"], ["import", "csv", "f.csv"], ["audit", "verify"],
        ["move", "--to", "sqlite:///x"], ["restore", "b.sqlite3"],
        ["users", "add", "ann", "--role", "therapist"], ["handout", "X", "--out", "h.pdf"],
        ["discharge", "X", "--out", "d.pdf"])}
    assert len(handlers) == 12 and all(h.__name__.startswith("_cmd_") for h in handlers)
    assert parser.parse_args([]).command is None  # no command: the window opens
