"""A real browser (headless Chromium) renders a replayed article through pywb's framed replay.

Chromium is driven through chromedriver with the W3C WebDriver protocol, which is plain HTTP and
JSON: the handful of commands needed here (open a URL, enter pywb's replay iframe, read the
headline, take a screenshot) are a few urllib calls, so the test needs no browser-automation
library on top of the Debian packages `.ci/run` installs (chromium, chromium-driver).
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.archive.replay_archive import (
    article_url,
    build_archive,
    headline,
    paragraphs,
    running_replay,
)
from tests.support import pywb as pywb_support

pywb_python = pywb_support.pywb_python  # the fixture, shared: pywb's own interpreter

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900"]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver element reference key

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium/chromedriver binary (Debian: apt-get install chromium chromium-driver)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """The few W3C WebDriver commands the test uses, against a local chromedriver."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.session = ""

    def call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.load(resp)["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.read()[:500]!r}") from e

    def start(self, user_data_dir: str) -> None:
        caps = {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM, "args": [*FLAGS, f"--user-data-dir={user_data_dir}"]}}
        self.session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})[
            "sessionId"]

    def cmd(self, method: str, path: str, body: dict | None = None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def find(self, css: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@pytest.fixture
def driver(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wd = WebDriver(port)
    deadline = time.monotonic() + 30
    while True:
        try:
            if wd.call("GET", "/status").get("ready"):
                break
        except (OSError, RuntimeError):
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("chromedriver did not start")
        time.sleep(0.2)
    wd.start(str(tmp_path / "chromium-profile"))
    try:
        yield wd
    finally:
        try:
            wd.cmd("DELETE", "")
        finally:
            proc.terminate()
            proc.wait(10)


def test_chromium_renders_a_replayed_article(tmp_path, driver, pywb_python):
    archive = build_archive(tmp_path / "archive", n=6)
    url = article_url(3)  # gzip-encoded on the wire
    with running_replay(archive.root, python=pywb_python) as base:
        driver.cmd("POST", "/url", {"url": base + url})  # pywb's framed page: banner + iframe
        frame = driver.find("iframe#replay_iframe")
        driver.cmd("POST", "/frame", {"id": {ELEMENT: frame}})
        h1 = driver.find("h1")
        deadline = time.monotonic() + 20
        while (text := driver.cmd("GET", f"/element/{h1}/text")) != headline(3):
            assert time.monotonic() < deadline, f"rendered headline: {text!r}"
            time.sleep(0.2)
        # the article body rendered too (the capture was gzip-encoded on the wire)
        first_para = driver.cmd("GET", f"/element/{driver.find('article p:nth-of-type(2)')}/text")
        assert first_para.split()[:3] == paragraphs(3)[0].split()[:3]
        driver.cmd("POST", "/frame", {"id": None})
        assert headline(3) in driver.cmd("GET", "/title")  # pywb's banner took the page title
        png = base64.b64decode(driver.cmd("GET", "/screenshot"))
    shot = tmp_path / "replay.png"
    shot.write_bytes(png)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
