"""Finding a Python interpreter that has pywb, and making one when there is none.

pywb 2.10 pins ``redis==2.10.6`` (and ``fakeredis<1``, ``werkzeug``, ``pyOpenSSL``) while the Redis
frontier needs ``redis>=4.2``: the two cannot live in one environment, so pywb is not a dependency
of newsarchive. ``newsarchive replay`` runs pywb's server in a process of its own, from the first
of these interpreters that can import it:

1. ``NEWSARCHIVE_PYWB_PYTHON`` (or ``--pywb-python``): the user's choice, never second-guessed;
2. the interpreter running newsarchive, when pywb happens to be installed there;
3. a virtualenv that newsarchive manages at ``NEWSARCHIVE_PYWB_HOME`` (default
   ``$XDG_CACHE_HOME/newsarchive/pywb-venv``, i.e. ``~/.cache/newsarchive/pywb-venv``), created on
   first use with ``python -m venv`` and ``pip install 'pywb>=2.10,<2.11' boto3``.

Replaying an ``s3://`` archive also needs boto3 in that interpreter: pywb reads WARC records from
S3 with it (one ranged GET per record). ``s3=True`` asks for it: a chosen interpreter without it is
an error, the managed virtualenv gets it installed if an older setup left it out.

Nothing here imports pywb: an interpreter is asked, in a subprocess, whether it can.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

PYWB_REQUIREMENT = "pywb>=2.10,<2.11"
S3_REQUIREMENT = "boto3"  # pywb's S3 loader imports it; not a pywb dependency
PYTHON_ENV = "NEWSARCHIVE_PYWB_PYTHON"
HOME_ENV = "NEWSARCHIVE_PYWB_HOME"
READY_MARK = "newsarchive-pywb.json"  # written into the venv once pywb is installed and imports
SETUP_LOG = "newsarchive-setup.log"  # venv + pip output of the last setup, kept for a failure

# What the server process imports first (pywb.apps.cli patches the standard library with gevent on
# import), so an interpreter that passes this can run the server.
_PROBE = "import pywb.apps.cli, importlib.metadata as m; print(m.version('pywb'))"
_PROBE_S3 = "import boto3, importlib.metadata as m; print(m.version('boto3'))"
_PROBE_TIMEOUT = 120.0


class PywbEnvError(Exception):
    """No interpreter with pywb could be found or made: one line for the user.

    ``exit_code`` is 2 when the user pointed at an unusable interpreter (bad input), 1 when
    setting up the managed virtualenv failed (the job ran but failed).
    """

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class PywbPython:
    """An interpreter that imports pywb, and why it was chosen."""

    python: str
    version: str  # pywb's
    source: str  # PYTHON_ENV, "--pywb-python", "current interpreter" or "managed virtualenv"


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """Where the managed virtualenv lives: ``NEWSARCHIVE_PYWB_HOME``, else the user's cache folder."""
    env = os.environ if env is None else env
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]).expanduser()
    cache = env.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache) / "newsarchive" / "pywb-venv"


def venv_python(home: Path) -> Path:
    if os.name == "nt":
        return home / "Scripts" / "python.exe"
    return home / "bin" / "python"


def _ask(python: str, code: str) -> str | None:
    """The last line ``python -c code`` prints, or None if it fails.

    Run from a scratch folder so that nothing in the current directory (a ``pywb/`` checkout, our
    own packages) is what gets imported.
    """
    with tempfile.TemporaryDirectory(prefix="newsarchive-probe-") as scratch:
        try:
            done = subprocess.run([python, "-c", code], cwd=scratch, capture_output=True,
                                  text=True, timeout=_PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
    lines = done.stdout.strip().splitlines()
    return lines[-1] if done.returncode == 0 and lines else None


def probe(python: str) -> str | None:
    """pywb's version if ``python`` can import pywb's server, else None."""
    return _ask(python, _PROBE)


def probe_s3(python: str) -> str | None:
    """boto3's version if ``python`` can import it (pywb's S3 loader needs it), else None."""
    return _ask(python, _PROBE_S3)


def _explicit(python: str, source: str, s3: bool = False) -> PywbPython:
    exe = shutil.which(python) or python
    if not Path(exe).is_file():
        raise PywbEnvError(f"{source}={python}: no such interpreter", exit_code=2)
    version = probe(exe)
    if version is None:
        raise PywbEnvError(f"{source}={python}: cannot import pywb there; install it in that "
                           f"environment (pip install '{PYWB_REQUIREMENT}') or unset {PYTHON_ENV}",
                           exit_code=2)
    if s3 and probe_s3(exe) is None:
        raise PywbEnvError(f"{source}={python}: cannot import boto3 there, which replaying an "
                           f"s3:// archive needs; install it in that environment "
                           f"(pip install {S3_REQUIREMENT})", exit_code=2)
    return PywbPython(exe, version, source)


def _last_error(text: str) -> str:
    """The line of a tool's output that says what went wrong (pip ends with ``ERROR: ...``)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]


def managed_ready(home: Path) -> PywbPython | None:
    """The managed virtualenv's interpreter if a setup finished there and it still imports pywb."""
    python = venv_python(home)
    if not (home / READY_MARK).is_file() or not python.is_file():
        return None
    version = probe(str(python))
    return None if version is None else PywbPython(str(python), version, "managed virtualenv")


def _run_steps(home: Path, log: Path, steps: list[tuple[str, list[str]]], mode: str) -> None:
    """Run set-up commands, their output appended to ``log``; the first failure raises."""
    with open(log, mode, encoding="utf-8") as out:
        for what, cmd in steps:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            try:
                done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, stdin=subprocess.DEVNULL)
            except OSError as e:
                raise PywbEnvError(f"cannot {what} at {home}: {e}") from e
            out.write(done.stdout)
            if done.returncode != 0:
                raise PywbEnvError(f"cannot {what} at {home}: {_last_error(done.stdout)} "
                                   f"(full output: {log})")


def _pip_install(home: Path, *requirements: str) -> list[str]:
    return [str(venv_python(home)), "-m", "pip", "install", "--disable-pip-version-check",
            *requirements]


def _write_mark(home: Path, version: str, s3_version: str | None) -> None:
    (home / READY_MARK).write_text(json.dumps(
        {"requirement": PYWB_REQUIREMENT, "pywb": version, "boto3": s3_version,
         "base_python": sys.executable}), encoding="utf-8")


def _setup_locked(home: Path, s3: bool = False) -> PywbPython:
    log = home.parent / f"{home.name}.{SETUP_LOG}"
    if (found := managed_ready(home)) is not None:
        # Another process finished it while this one waited for the lock; or a setup made
        # before boto3 was part of it, which an s3:// replay completes.
        if not s3 or probe_s3(found.python) is not None:
            return found
        _run_steps(home, log, [("install boto3", _pip_install(home, S3_REQUIREMENT))], "a")
        s3_version = probe_s3(found.python)
        if s3_version is None:
            raise PywbEnvError(f"boto3 was installed at {home} but does not import; see {log}")
        _write_mark(home, found.version, s3_version)
        return found
    if home.exists() and not (home / "pyvenv.cfg").is_file() and (
        not home.is_dir() or any(home.iterdir())
    ):
        # Only ever wipe a virtualenv (an unfinished one of ours): never a folder of the user's.
        raise PywbEnvError(f"{home} exists and is not a virtualenv; remove it or set {HOME_ENV}")
    home.mkdir(parents=True, exist_ok=True)
    _run_steps(home, log, [
        ("create a virtualenv", [sys.executable, "-m", "venv", "--clear", str(home)]),
        ("install pywb", _pip_install(home, PYWB_REQUIREMENT, S3_REQUIREMENT)),
    ], "w")
    version = probe(str(venv_python(home)))
    if version is None:
        raise PywbEnvError(f"pywb was installed at {home} but does not import; see {log}")
    _write_mark(home, version, probe_s3(str(venv_python(home))))
    return PywbPython(str(venv_python(home)), version, "managed virtualenv")


def setup_managed(home: Path | None = None, *,
                  out: Callable[[str], None] | None = None, s3: bool = False) -> PywbPython:
    """The managed virtualenv at ``home``, created (or rebuilt, if broken) when needed; with
    ``s3``, also with boto3 (installed into an older one that lacks it).

    Announces a creation with one line through ``out``; raises PywbEnvError when it fails.
    """
    home = default_home() if home is None else home
    if (found := managed_ready(home)) is not None:
        if not s3 or probe_s3(found.python) is not None:
            return found
        if out is not None:
            out(f"adding boto3 to pywb's virtualenv for s3:// replay, once: "
                f"pip install {S3_REQUIREMENT}")
    elif out is not None:
        out(f"setting up pywb for replay, once: python -m venv {home} && "
            f"pip install '{PYWB_REQUIREMENT}' {S3_REQUIREMENT}")
    # filelock (a dependency of tldextract, which we depend on) keeps two first runs, say a
    # test session and a user's `replay`, from building the same virtualenv at once.
    from filelock import FileLock, Timeout

    try:
        home.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(home.parent / f"{home.name}.lock"), timeout=1800):
            return _setup_locked(home, s3)
    except Timeout as e:
        raise PywbEnvError(f"another process has been setting up {home} for 30 minutes") from e
    except OSError as e:
        raise PywbEnvError(f"cannot set up pywb at {home}: {e}") from e


def find_pywb_python(
    explicit: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    current: str | None = None,
    out: Callable[[str], None] | None = None,
    s3: bool = False,
) -> PywbPython:
    """The interpreter to run pywb with, in the order of the module docstring; with ``s3``, one
    that can also import boto3.

    ``explicit`` is ``--pywb-python``; ``current`` defaults to this interpreter.
    """
    env = os.environ if env is None else env
    if explicit:
        return _explicit(explicit, "--pywb-python", s3)
    if env.get(PYTHON_ENV):
        return _explicit(env[PYTHON_ENV], PYTHON_ENV, s3)
    current = current or sys.executable
    # find_spec first: a cheap "no" for the usual case, where pywb is not installed here.
    if current != sys.executable or importlib.util.find_spec("pywb") is not None:
        version = probe(current)
        if version is not None and (not s3 or probe_s3(current) is not None):
            return PywbPython(current, version, "current interpreter")
    return setup_managed(default_home(env), out=out, s3=s3)
