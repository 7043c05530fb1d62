"""A real S3-compatible server on 127.0.0.1 for tests: moto's server mode over HTTP.

``with moto_s3() as s3:`` starts moto's S3 app on a free loopback port, creates a fresh bucket
and yields a :class:`MotoS3` with the endpoint, fake credentials (never real ones: the AWS config
files and the instance-metadata lookup are switched off for the test), ready-made settings and a
boto3 client. ``s3.stop()`` takes the server down the way an outage does (connections refused)
and ``s3.start()`` brings it back on the same port with its data, as a restarted store would.

Why not ``moto.server.ThreadedMotoServer`` as it is: its ``stop()`` leaves the listening socket
open (connections hang instead of being refused) and it answers HTTP/1.1 keep-alive, so a client
holding a pooled connection would go on talking to a "stopped" server. Here every response closes
its connection and ``stop()`` closes the socket; the app is moto's own (``DomainDispatcherApplication``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server  # noqa: E402

ACCESS_KEY = "AKIANEWSARCHIVETEST7"
SECRET_KEY = "s3cr3t/NewsarchiveTest+DoNotLog0123456789"
SESSION_TOKEN = "T0ken-NewsarchiveTest-DoNotLog-9876543210"
REGION = "us-east-1"

# Environment for this process and for CLI subprocesses: no real AWS configuration is read and
# no instance-metadata endpoint is tried, whatever the machine has.
ISOLATED_ENV = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_DEFAULT_REGION": REGION,
}


class _OneShotHandler(WSGIRequestHandler):
    """HTTP/1.0: the connection closes after each response (an outage then refuses them all)."""

    protocol_version = "HTTP/1.0"

    def log_request(self, *args: Any, **kwargs: Any) -> None:  # quiet test output
        pass


@dataclass
class MotoS3:
    host: str = "127.0.0.1"
    port: int = 0
    bucket: str = field(default_factory=lambda: f"newsarchive-{uuid.uuid4().hex[:12]}")
    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None
    _client: Any = None

    # -- the server ----------------------------------------------------------------------------

    def start(self) -> None:
        app = moto_server.DomainDispatcherApplication(moto_server.create_backend_app)
        self._server = make_server(self.host, self.port, app, threaded=True,
                                   request_handler=_OneShotHandler)
        self.port = self._server.server_address[1]
        # A short poll interval: stop() (shutdown) waits up to one interval.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True, name=f"moto-s3-{self.port}")
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join(10)
        self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- what tests use ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def uri(self, prefix: str = "prefix") -> str:
        return f"s3://{self.bucket}/{prefix}" if prefix else f"s3://{self.bucket}"

    @property
    def settings(self) -> dict[str, Any]:
        """Scrapy settings for this server (``--set`` them, or pass them to ``Settings``)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION_NAME": REGION,
            "NEWSARCHIVE_S3_ADDRESSING_STYLE": "path",
        }

    @property
    def env(self) -> dict[str, str]:
        """The same as boto3's standard environment variables (for CLI reads)."""
        return {
            **ISOLATED_ENV,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
            "AWS_ENDPOINT_URL": self.endpoint,
            "NEWSARCHIVE_S3_ADDRESSING_STYLE": "path",
        }

    @property
    def secrets(self) -> tuple[str, ...]:
        return (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)

    def client(self) -> Any:
        """A boto3 client for the test's own checks (made once: building one takes ~0.2 s)."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> Any:
        from botocore.config import Config

        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            aws_session_token=SESSION_TOKEN, region_name=REGION,
        ).client("s3", endpoint_url=self.endpoint,
                 config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))

    def list_keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                        Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", ()))

    def get(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=self.bucket, Key=key, Body=data)


@contextlib.contextmanager
def moto_s3(monkeypatch: pytest.MonkeyPatch | None = None) -> Iterator[MotoS3]:
    """A moto S3 server on a free loopback port with an empty bucket; stopped on exit."""
    with contextlib.ExitStack() as stack:
        if monkeypatch is None:
            monkeypatch = stack.enter_context(pytest.MonkeyPatch.context())
        for key, value in ISOLATED_ENV.items():
            monkeypatch.setenv(key, value)
        s3 = MotoS3()
        s3.start()
        stack.callback(s3.stop)
        s3.client().create_bucket(Bucket=s3.bucket)
        yield s3


@pytest.fixture(name="s3")
def s3_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoS3]:
    """``s3``: a fresh moto server and bucket per test (``from tests.support.s3 import s3_fixture``)."""
    with moto_s3(monkeypatch) as server:
        yield server
