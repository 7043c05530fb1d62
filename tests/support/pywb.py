"""A Python interpreter with pywb for the replay tests, got the way ``newsarchive replay`` gets one.

pywb cannot be installed in the test environment (its redis pin; see archive/pywb_env.py), so the
tests run the server from ``NEWSARCHIVE_PYWB_PYTHON`` when it is set, else from the managed
virtualenv (``NEWSARCHIVE_PYWB_HOME``, default ``~/.cache/newsarchive/pywb-venv``), which plain
``pytest`` on a fresh machine creates once from the package index, as the CLI would.

Use it in a test module with ``pywb_python = tests.support.pywb.pywb_python`` (an import would
look unused to linters) and a ``pywb_python`` argument. Tests that need pywb are skipped, with the reason, only when the virtualenv cannot be
made (no package index, say); a ``NEWSARCHIVE_PYWB_PYTHON`` that does not work is an error, since
someone set it on purpose.
"""

from __future__ import annotations

import functools
import os
import sys

import pytest

from archive.pywb_env import PYTHON_ENV, PywbEnvError, PywbPython, find_pywb_python, setup_managed


@functools.cache
def _find() -> PywbPython | PywbEnvError:
    try:
        if os.environ.get(PYTHON_ENV):
            return find_pywb_python()
        # The managed virtualenv even when this interpreter has pywb, so the tests always
        # exercise what a user without pywb gets.
        return setup_managed(out=lambda line: print(f"tests: {line}", file=sys.stderr))
    except PywbEnvError as e:
        return e


@pytest.fixture(scope="session")
def pywb_python() -> str:
    """Path of an interpreter that can run pywb's server (created on first use)."""
    found = _find()
    if isinstance(found, PywbEnvError):
        if os.environ.get(PYTHON_ENV):
            pytest.fail(f"{PYTHON_ENV} is set but unusable: {found}", pytrace=False)
        pytest.skip(f"no interpreter with pywb, and the managed virtualenv could not be made: "
                    f"{found}")
    return found.python
