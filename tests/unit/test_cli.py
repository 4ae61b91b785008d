"""The `belonging` command as a person meets it: settings from one place, expected errors in one or two plain
lines with the fix and a documented exit code, a traceback only in the log, help on every option."""

from __future__ import annotations

import argparse
import os
import shutil

import pytest

from orchestration import cli, settings
from orchestration.cli import EXIT_BUG, EXIT_BUSY, EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from orchestration.settings import DEMO_PSEUDONYM_KEY, Home, SettingError, pseudonym_key
from tests.conftest import FIXTURES, SETTINGS


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No .env of the developer's checkout, no key or home from the environment."""
    monkeypatch.setattr(settings, "REPO", tmp_path / "repo")
    (tmp_path / "repo").mkdir()
    for var in ("BELONGING_HOME", "BELONGING_PSEUDONYM_KEY", "BELONGING_TEST_SETTING"):
        monkeypatch.delenv(var, raising=False)


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# ---- settings from one place


def test_env_files_fill_what_the_environment_does_not_set(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "repo" / ".env").write_text(f"BELONGING_HOME={home}\nBELONGING_PSEUDONYM_KEY=from-repo\n"
                                            "BELONGING_TEST_SETTING=repo\n")
    (home / ".env").write_text("BELONGING_PSEUDONYM_KEY=from-home\n")
    assert settings.load_env() == home  # the home named by the repository's .env
    assert os.environ["BELONGING_PSEUDONYM_KEY"] == "from-home"  # home .env over repository .env
    assert os.environ["BELONGING_TEST_SETTING"] == "repo"
    monkeypatch.setenv("BELONGING_PSEUDONYM_KEY", "from-environment")
    settings.load_env()
    assert os.environ["BELONGING_PSEUDONYM_KEY"] == "from-environment"  # the environment over both


def test_a_home_settings_file_overrides_and_is_checked(tmp_path):
    home = Home(tmp_path / "home")
    home.root.mkdir()
    assert home.settings["gates"]["row_count_tolerance"] == SETTINGS["gates"]["row_count_tolerance"]
    cases = {
        "gates:\n  row_count_tolerance: 0.5\n  suppressed_cell_max:\n    census.fsm_eligible: 4\n": None,
        "gates:\n  row_count_tolerance: lots\n": "setting gates.row_count_tolerance must be a number",
        "gates:\n  row_count_tolerence: 0.5\n": "unknown setting gates.row_count_tolerence",
        "disclosure:\n  min_respondents: -1\n": "setting disclosure.min_respondents must not be negative",
        "gates:\n  suppressed_cell_max:\n    census.fsm_eligible: four\n": "gates.suppressed_cell_max.census.fsm",
        "gates: [\n": "line 2: not valid YAML",
        "- a list\n": "must be a mapping of settings",
    }
    for text, error in cases.items():
        home = Home(tmp_path / f"home{len(text)}")
        home.root.mkdir(exist_ok=True)
        home.settings_file.write_text(text)
        if error is None:
            assert home.settings["gates"]["row_count_tolerance"] == 0.5
            assert home.settings["gates"]["suppressed_cell_max"]["default"] == 2
            continue
        with pytest.raises(SettingError) as raised:
            home.settings  # noqa: B018
        message = str(raised.value)
        assert error in message and str(home.settings_file) in message and "\n" not in message


def test_a_missing_setting_names_itself_and_where_to_set_it(tmp_path):
    with pytest.raises(SettingError, match=r"setting gates\.nonexistent is missing: set it in .*settings\.yaml"):
        Home(tmp_path).settings["gates"]["nonexistent"]  # noqa: B018


def test_a_bad_setting_stops_a_command_in_one_line(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "settings.yaml").write_text("releases:\n  keep: ten\n")
    code, out, err = run(capsys, "status", "--home", str(home))
    assert code == EXIT_USAGE and out == ""
    assert err.strip().splitlines() == [
        f"belonging status: {home}/settings.yaml: setting releases.keep must be a number (as in settings.yaml), "
        "got 'ten'"]


# ---- the demo's key, and no other home's


def test_a_demo_home_hashes_with_the_demo_key_and_no_other_home_does(tmp_path, monkeypatch):
    demo, real = Home(tmp_path / "demo"), Home(tmp_path / "real")
    demo.root.mkdir()
    real.root.mkdir()
    demo.mark_demo()
    monkeypatch.setenv("BELONGING_PSEUDONYM_KEY", "a-real-secret")
    assert pseudonym_key(demo) == DEMO_PSEUDONYM_KEY.encode()  # the demo never uses a real key...
    assert pseudonym_key(real) == b"a-real-secret"
    monkeypatch.delenv("BELONGING_PSEUDONYM_KEY")
    assert pseudonym_key(demo) == DEMO_PSEUDONYM_KEY.encode()  # ...and keeps working without one
    assert pseudonym_key(real) is None
    monkeypatch.setenv("BELONGING_PSEUDONYM_KEY", DEMO_PSEUDONYM_KEY)
    with pytest.raises(SettingError, match="demo's published key"):
        pseudonym_key(real)  # a real home never takes the demo's key


def test_a_missing_key_is_caught_before_the_run_starts(tmp_path, capsys):
    home = tmp_path / "home"
    (home / "landing" / "surveys").mkdir(parents=True)
    shutil.copy(FIXTURES / "surveys" / "googleforms_pupil_labels.csv", home / "landing" / "surveys" / "w.csv")
    code, out, err = run(capsys, "refresh", "--home", str(home))
    assert code == EXIT_USAGE and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "1 survey export(s)" in lines[0] and "BELONGING_PSEUDONYM_KEY" in lines[0]
    assert lines[1].strip().startswith("fix: set it in the environment or in") and ".env" in lines[1]
    assert not any((home / "dagster").glob("storage/*")) and not any((home / "runs").iterdir())  # no run began


def test_demo_refuses_a_home_with_real_data(tmp_path, capsys):
    home = tmp_path / "home"
    (home / "lake" / "raw" / "file_loads").mkdir(parents=True)
    (home / "lake" / "raw" / "file_loads" / f"{'a' * 64}.parquet").write_bytes(b"")
    code, _, err = run(capsys, "demo", "--home", str(home))
    assert code == EXIT_USAGE and "is not a demo home" in err and not (home / "DEMO").exists()


# ---- one line for each expected error


def test_a_home_that_does_not_exist(tmp_path, capsys):
    for command in (["status"], ["sql", "select 1"], ["releases"], ["retire"], ["publish", "--release", "x"]):
        code, out, err = run(capsys, *command, "--home", str(tmp_path / "nowhere"))
        assert code == EXIT_USAGE and out == "", command
        assert err.strip().splitlines() == [
            f"belonging {command[0]}: no home at {tmp_path / 'nowhere'}: give --home or set BELONGING_HOME, or make "
            f"one with `belonging demo --home {tmp_path / 'nowhere'}` (sample data) or `belonging refresh --home "
            f"{tmp_path / 'nowhere'}`"]
        assert not (tmp_path / "nowhere").exists()


def test_an_unknown_release(tmp_path, capsys):
    (tmp_path / "home" / "releases").mkdir(parents=True)
    code, _, err = run(capsys, "publish", "--release", "20990101T000000Z-ffffff", "--home", str(tmp_path / "home"))
    assert code == EXIT_USAGE
    assert err.strip().splitlines() == [f"belonging publish: refused: no release '20990101T000000Z-ffffff' in "
                                        f"{tmp_path / 'home' / 'releases'}; `belonging releases` lists them (0 now)"]


def test_a_locked_home(tmp_path, capsys):
    home = Home(tmp_path / "home").create()
    with cli.refresh_lock(home):
        code, _, err = run(capsys, "refresh", "--home", str(home.root))
        assert code == EXIT_BUSY
        assert len(err.strip().splitlines()) == 1
        assert "not started: another refresh is running on" in err
        assert f"refresh: pid {os.getpid()}" in err
    assert not any((home.root / "dagster").glob("storage/*"))


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_log(tmp_path, capsys, monkeypatch):
    home = Home(tmp_path / "home").create()

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "cmd_status", broken)
    code, _, err = run(capsys, "status", "--home", str(home.root))
    assert code == EXIT_BUG and "Traceback" not in err
    log = home.runs / "belonging.log"
    assert err.strip().splitlines() == ["belonging status: unexpected error: ZeroDivisionError: a bug",
                                        f"  the traceback is in {log}; please report it"]
    assert "Traceback (most recent call last)" in log.read_text() and "a bug" in log.read_text()


def test_a_missing_file_is_no_such_file(tmp_path, capsys):
    code, out, err = run(capsys, "validate", str(tmp_path / "nope.csv"), "--home", str(tmp_path / "h"))
    assert code == EXIT_USAGE and out == ""
    assert err.strip() == f"belonging validate: {tmp_path / 'nope.csv'}: no such file"


# ---- help, version, exit codes


def test_every_option_has_help_and_the_exit_codes_are_documented(capsys):
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, (name, action.dest)
        assert "exit codes:" in sub.format_help()
    text = parser.format_help()
    for code in (EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_BUG):
        assert f"\n  {code}  " in text
    assert "--version" in text
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("belonging 0.")


def test_the_readme_names_only_commands_that_exist():
    import re

    from tests.conftest import REPO

    commands = set(next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`belonging ([a-z]+)", readme)) | set(re.findall(r"^\s*belonging ([a-z]+)", readme, re.M))
    assert named and named <= commands, named - commands
