"""Which interpreter runs pywb (archive/pywb_env.py), and how the managed virtualenv is made.

Interpreters without pywb are ``python -m venv --without-pip`` folders (made in a blink); one "with
pywb" is a small script that hands over to the real pywb interpreter of tests/support/pywb.py. The
one test that builds a virtualenv for real points pip at an empty folder, so it fails fast and
offline, which is the failure path a user without a package index would see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from archive.pywb_env import (
    HOME_ENV,
    PYTHON_ENV,
    PYWB_REQUIREMENT,
    READY_MARK,
    PywbEnvError,
    default_home,
    find_pywb_python,
    probe,
    probe_s3,
    setup_managed,
    venv_python,
)
from tests.archive.replay_archive import build_archive
from tests.support import pywb as pywb_support

pywb_python = pywb_support.pywb_python  # the fixture, shared: pywb's own interpreter
REPO = Path(__file__).resolve().parents[2]
posix_only = pytest.mark.skipif(os.name == "nt", reason="shell-script interpreters")


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> str:
    """An interpreter that cannot import pywb (a virtualenv without anything in it)."""
    home = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    return str(venv_python(home))


def fake_managed(home: Path, python: str) -> Path:
    """A managed virtualenv whose interpreter is ``python`` (behind a script), setup finished."""
    (home / "bin").mkdir(parents=True)
    (home / "pyvenv.cfg").write_text("home = /nowhere\n")
    exe = home / "bin" / "python"
    exe.write_text(f'#!/bin/sh\nexec "{python}" "$@"\n')
    exe.chmod(0o755)
    (home / READY_MARK).write_text("{}")
    return exe


def test_default_home_follows_the_env_var_then_xdg_then_home():
    assert default_home({HOME_ENV: "/srv/pywb"}) == Path("/srv/pywb")
    assert default_home({HOME_ENV: "~/pywb"}) == Path("~/pywb").expanduser()
    assert default_home({"XDG_CACHE_HOME": "/c"}) == Path("/c/newsarchive/pywb-venv")
    assert default_home({}) == Path("~/.cache/newsarchive/pywb-venv").expanduser()


def test_probe_tells_an_interpreter_with_pywb_from_one_without(pywb_python, bare_python):
    assert probe(pywb_python).startswith("2.10.")
    assert probe(bare_python) is None
    assert probe("/no/such/python") is None


def test_explicit_interpreter_comes_first(pywb_python, bare_python, tmp_path):
    env = {PYTHON_ENV: bare_python, HOME_ENV: str(tmp_path / "home")}
    found = find_pywb_python(pywb_python, env=env, current=bare_python)
    assert (found.python, found.source) == (pywb_python, "--pywb-python")
    assert found.version.startswith("2.10.")
    assert not (tmp_path / "home").exists()


def test_env_var_comes_before_the_current_interpreter(pywb_python, tmp_path):
    env = {PYTHON_ENV: pywb_python, HOME_ENV: str(tmp_path / "home")}
    found = find_pywb_python(env=env, current="/no/such/python")
    assert (found.python, found.source) == (pywb_python, PYTHON_ENV)


@pytest.mark.parametrize("how", ["option", "env"])
def test_a_chosen_interpreter_without_pywb_is_an_error_not_a_fallback(how, bare_python, tmp_path,
                                                                       pywb_python):
    env = {HOME_ENV: str(tmp_path / "home")}
    explicit = bare_python if how == "option" else None
    if how == "env":
        env[PYTHON_ENV] = bare_python
    with pytest.raises(PywbEnvError) as e:
        find_pywb_python(explicit, env=env, current=pywb_python)
    assert e.value.exit_code == 2
    assert "cannot import pywb there" in str(e.value)
    assert ("--pywb-python" if how == "option" else PYTHON_ENV) in str(e.value)
    with pytest.raises(PywbEnvError, match="no such interpreter"):
        find_pywb_python("/no/such/python", env=env)
    assert not (tmp_path / "home").exists()


def test_current_interpreter_with_pywb_is_used_as_is(pywb_python, tmp_path):
    found = find_pywb_python(env={HOME_ENV: str(tmp_path / "home")}, current=pywb_python)
    assert (found.python, found.source) == (pywb_python, "current interpreter")
    assert not (tmp_path / "home").exists()


@posix_only
def test_otherwise_the_managed_virtualenv(pywb_python, bare_python, tmp_path):
    home = tmp_path / "home"
    exe = fake_managed(home, pywb_python)
    said = []
    found = find_pywb_python(env={HOME_ENV: str(home)}, current=bare_python, out=said.append)
    assert (found.python, found.source) == (str(exe), "managed virtualenv")
    assert said == []  # nothing to set up, nothing said


def test_a_folder_that_is_not_a_virtualenv_is_never_wiped(tmp_path):
    home = tmp_path / "mine"
    home.mkdir()
    (home / "notes.txt").write_text("keep me")
    with pytest.raises(PywbEnvError, match="is not a virtualenv") as e:
        setup_managed(home)
    assert e.value.exit_code == 1
    assert (home / "notes.txt").read_text() == "keep me"


@pytest.fixture
def no_package_index(tmp_path, monkeypatch):
    """pip with no index and an empty wheel folder: any install fails at once, offline."""
    wheels = tmp_path / "no-wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))


def test_failed_setup_is_one_line_and_keeps_pips_output(tmp_path, no_package_index):
    """An unfinished earlier attempt (a venv without the ready mark) is rebuilt from scratch."""
    home = tmp_path / "cache" / "pywb-venv"
    home.mkdir(parents=True)
    (home / "pyvenv.cfg").write_text("home = /nowhere\n")
    (home / "half-installed").write_text("")
    said = []
    with pytest.raises(PywbEnvError) as e:
        setup_managed(home, out=said.append)
    message = str(e.value)
    assert e.value.exit_code == 1 and "\n" not in message
    assert message.startswith(f"cannot install pywb at {home}: ERROR: ")
    assert len(said) == 1 and PYWB_REQUIREMENT in said[0] and str(home) in said[0]
    log = Path(message.rsplit("full output: ", 1)[1].rstrip(")"))
    assert "No matching distribution found for pywb" in log.read_text()
    assert not (home / "half-installed").exists()  # venv --clear rebuilt it
    assert not (home / READY_MARK).exists()


def test_replay_without_pywb_anywhere_fails_with_one_line(tmp_path, no_package_index):
    archive = build_archive(tmp_path / "archive", n=2)
    env = {k: v for k, v in os.environ.items() if k != PYTHON_ENV}
    env[HOME_ENV] = str(tmp_path / "home")
    # The CLI's own interpreter must lack pywb too, as after `pip install newsarchive`.
    if probe(sys.executable) is not None:
        pytest.skip("pywb is installed in the test environment itself")
    done = subprocess.run([sys.executable, "-m", "archive", "replay", str(archive.root),
                           "--port", "0"], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=300)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr  # what it is doing, then why it failed
    assert lines[0].startswith("newsarchive replay: setting up pywb")
    assert lines[1].startswith("newsarchive replay: cannot install pywb at ")
    assert done.stdout == ""


@posix_only
def test_setup_command_reports_a_ready_virtualenv(pywb_python, tmp_path):
    home = tmp_path / "home"
    exe = fake_managed(home, pywb_python)
    done = subprocess.run([sys.executable, "-m", "archive", "replay", "--setup"],
                          capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, HOME_ENV: str(home)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("newsarchive replay: pywb 2.10.")
    assert done.stdout.strip().endswith(f"ready: {exe}")
    assert done.stderr == ""


def test_the_ready_mark_records_what_was_installed(pywb_python):
    """The real managed virtualenv (when the tests use one) says what it holds."""
    if os.environ.get(PYTHON_ENV):
        pytest.skip(f"{PYTHON_ENV} is set: no managed virtualenv in use")
    home = default_home()
    mark = json.loads((home / READY_MARK).read_text())
    assert mark["requirement"] == PYWB_REQUIREMENT
    assert mark["pywb"] == probe(pywb_python)
    # pywb's interpreter has none of newsarchive: the server must work without it
    done = subprocess.run([pywb_python, "-c", "import archive.replay"], capture_output=True,
                          cwd=home)
    assert done.returncode != 0


def python_without_boto3(tmp_path: Path, pywb_python: str) -> str:
    """pywb's interpreter behind a script that hides boto3 (pywb itself imports without it)."""
    hidden = tmp_path / "hide-boto3"
    (hidden / "boto3").mkdir(parents=True)
    (hidden / "boto3" / "__init__.py").write_text('raise ImportError("boto3 hidden by the test")\n')
    exe = tmp_path / "python-without-boto3"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH="{hidden}" exec "{pywb_python}" "$@"\n')
    exe.chmod(0o755)
    return str(exe)


@posix_only
def test_s3_replay_needs_boto3_in_a_chosen_interpreter(pywb_python, tmp_path):
    python = python_without_boto3(tmp_path, pywb_python)
    env = {HOME_ENV: str(tmp_path / "home")}
    assert find_pywb_python(python, env=env).python == python  # enough for a local archive
    with pytest.raises(PywbEnvError, match="cannot import boto3 there") as e:
        find_pywb_python(python, env=env, s3=True)
    assert e.value.exit_code == 2 and "pip install boto3" in str(e.value)
    assert probe_s3(python) is None
    assert not (tmp_path / "home").exists()


@posix_only
def test_an_older_managed_virtualenv_is_given_boto3_for_s3(pywb_python, tmp_path,
                                                           no_package_index):
    """A setup made before boto3 was part of it: an s3:// replay installs it, saying so once."""
    home = tmp_path / "home"
    fake_managed(home, python_without_boto3(tmp_path, pywb_python))
    said = []
    assert setup_managed(home, out=said.append).python == str(venv_python(home))
    assert said == []
    # pip finds boto3 installed (or, in an older pywb environment, cannot reach an index): either
    # way the install step ran, and the hidden boto3 still does not import.
    with pytest.raises(PywbEnvError,
                       match=r"boto3 was installed at .* but does not import|cannot install boto3"):
        setup_managed(home, out=said.append, s3=True)
    assert len(said) == 1 and said[0].startswith("adding boto3 to pywb's virtualenv")
    log = (home.parent / "home.newsarchive-setup.log").read_text()
    assert "-m pip install --disable-pip-version-check boto3" in log
