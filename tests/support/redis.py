"""A real ``redis-server`` for tests, on a free 127.0.0.1 port in a temporary directory.

Debian's ``redis-server`` (installed by .ci/run). Where the binary or the Python client is
missing, tests using it are skipped with a reason that says which and how to get it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_port


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int
    dir: Path
    process: subprocess.Popen

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def client(self, db: int = 0):
        import redis

        return redis.Redis(host=self.host, port=self.port, db=db)


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server; .ci/run does it)")
    try:
        import redis  # noqa: F401
        import scrapy_redis  # noqa: F401
    except ImportError as e:
        pytest.skip(f"the Redis frontier's Python packages are missing ({e}): pip install 'newsarchive[redis]'")
    return binary


@contextlib.contextmanager
def redis_server(timeout: float = 10.0) -> Iterator[RedisServer]:
    """Start a private, non-persistent redis-server; stop it (then kill it) on exit."""
    binary = redis_binary()
    with tempfile.TemporaryDirectory(prefix="newsarchive-redis-") as tmp:
        for _attempt in range(3):  # the free port can be taken between the probe and the bind
            port = free_port()
            log = Path(tmp) / "redis.log"
            proc = subprocess.Popen(
                [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", tmp, "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--logfile", str(log)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if _wait_ping(port, proc, timeout):
                break
            _stop(proc)
        else:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"redis-server did not start on 127.0.0.1:{port}:\n{tail}")
        try:
            yield RedisServer("127.0.0.1", port, Path(tmp), proc)
        finally:
            _stop(proc)


def _wait_ping(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session", name="redis_session_server")
def redis_session_fixture() -> Iterator[RedisServer]:
    """One redis-server for the test session (``from tests.support.redis import
    redis_session_fixture, redis_url_fixture``)."""
    with redis_server() as server:
        yield server


@pytest.fixture(name="redis_url")
def redis_url_fixture(redis_session_server: RedisServer) -> Iterator[str]:
    """``redis_url``: the session's server, emptied before and after the test."""
    client = redis_session_server.client()
    client.flushall()
    yield redis_session_server.url()
    client.flushall()
