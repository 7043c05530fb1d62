"""Reading an archive wherever it is: a local folder or ``s3://bucket/prefix``, the same layout.

Readers (index, records, export, replay, reprocess) open the archive once and ask for files by
their layout path (``warc/<crawl_id>/<name>.warc.gz``, ``articles/...``, ``crawls/<id>.json``)::

    archive = open_archive("s3://bucket/prefix")          # or a local path
    for rel in archive.list("articles/"):                   # finished files, sorted
        with archive.open(rel) as f: ...                    # a streaming binary reader
    data = archive.read_range(rel, offset, length)          # one WARC record: a ranged GET on S3
    manifest = json.loads(archive.read_bytes(f"crawls/{cid}.json"))

A missing file or archive raises ``FileNotFoundError``; an unreachable or refusing store raises
:class:`~pipelines.storage.StorageError` (an ``OSError``) whose message holds no credential.
``.open`` files (being written) are never listed.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from pipelines.storage import (
    OPEN_SUFFIX,
    S3Location,
    S3Options,
    StorageError,
    connect,
    is_s3_uri,
)

__all__ = [
    "Archive",
    "LocalArchive",
    "S3Archive",
    "StorageError",
    "is_s3_uri",
    "open_archive",
    "open_file",
]


class Archive(Protocol):
    uri: str
    remote: bool

    def list(self, prefix: str = "") -> list[str]: ...

    def exists(self, rel: str) -> bool: ...

    def size(self, rel: str) -> int: ...

    def read_range(self, rel: str, offset: int, length: int) -> bytes: ...

    def read_bytes(self, rel: str) -> bytes: ...

    def open(self, rel: str) -> BinaryIO: ...

    def local_path(self, rel: str) -> Path | None: ...

    def download(self, rel: str, dest: Path) -> Path: ...

    def uri_of(self, rel: str) -> str: ...


class LocalArchive:
    remote = False

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.uri = str(root)

    def _path(self, rel: str) -> Path:
        return self.root / rel

    def list(self, prefix: str = "") -> list[str]:
        """Finished files whose layout path starts with ``prefix`` (``"warc/"``, ``"crawls/"``)."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: not an archive folder")
        head, _, _ = prefix.rpartition("/")
        base = self.root / head if head else self.root
        if not base.is_dir():
            return []
        out = []
        for path in base.rglob("*"):
            rel = path.relative_to(self.root).as_posix()
            if rel.startswith(prefix) and not rel.endswith(OPEN_SUFFIX) and path.is_file():
                out.append(rel)
        return sorted(out)

    def exists(self, rel: str) -> bool:
        return self._path(rel).is_file()

    def size(self, rel: str) -> int:
        return self._path(rel).stat().st_size

    def read_range(self, rel: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end of the file)."""
        with open(self._path(rel), "rb") as f:
            f.seek(offset)
            return f.read(length)

    def read_bytes(self, rel: str) -> bytes:
        return self._path(rel).read_bytes()

    def open(self, rel: str) -> BinaryIO:
        return open(self._path(rel), "rb")

    def local_path(self, rel: str) -> Path | None:
        return self._path(rel)

    def download(self, rel: str, dest: Path) -> Path:
        shutil.copyfile(self._path(rel), dest)
        return Path(dest)

    def uri_of(self, rel: str) -> str:
        return str(self._path(rel))


class S3Archive:
    """An archive under ``s3://bucket/prefix``: listing, ranged GETs, streaming reads."""

    remote = True

    def __init__(self, location: S3Location, client: Any, redact: Any = str) -> None:
        self.location = location
        self.uri = location.uri
        self.client = client
        self._redact = redact

    @classmethod
    def from_uri(cls, uri: str, settings: Any = None) -> S3Archive:
        connection = connect(S3Options.from_settings(settings))
        return cls(S3Location.parse(uri), connection.client, connection.redact)

    def _error(self, exc: Exception, rel: str) -> OSError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return FileNotFoundError(f"{self.location.uri_of(rel)}: no such file")
            if code == "NoSuchBucket":
                return FileNotFoundError(f"{self.uri}: no such bucket")
        return StorageError(self._redact(f"{self.location.uri_of(rel)}: {type(exc).__name__}: {exc}"))

    def _call(self, rel: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.location.bucket, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, rel) from None

    def list(self, prefix: str = "") -> list[str]:
        """Finished files whose layout path starts with ``prefix``, sorted.

        An empty archive and a missing one look the same in S3 (keys, not folders); a missing
        bucket raises ``FileNotFoundError``.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        key_prefix = self.location.key(prefix) if prefix else (
            f"{self.location.prefix}/" if self.location.prefix else ""
        )
        out = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=key_prefix
            )
            for page in pages:
                for obj in page.get("Contents", ()):
                    rel = self.location.rel(obj["Key"])
                    if not rel.endswith(OPEN_SUFFIX):
                        out.append(rel)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, prefix) from None
        return sorted(out)

    def exists(self, rel: str) -> bool:
        try:
            self.size(rel)
        except FileNotFoundError:
            return False
        return True

    def size(self, rel: str) -> int:
        head = self._call(rel, "head_object", Key=self.location.key(rel))
        return int(head["ContentLength"])

    def read_range(self, rel: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` with one ranged GET (fewer at the end)."""
        from botocore.exceptions import ClientError

        if length <= 0:
            return b""
        try:
            resp = self.client.get_object(
                Bucket=self.location.bucket, Key=self.location.key(rel),
                Range=f"bytes={offset}-{offset + length - 1}",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""  # offset at or past the end, as a local read would give
            raise self._error(exc, rel) from None
        except Exception as exc:
            raise self._error(exc, rel) from None
        with resp["Body"] as body:
            return body.read()[:length]

    def read_bytes(self, rel: str) -> bytes:
        with self.open(rel) as body:
            return body.read()

    def open(self, rel: str) -> BinaryIO:
        """A streaming reader of the whole object (not seekable; read it in order)."""
        return self._call(rel, "get_object", Key=self.location.key(rel))["Body"]

    def local_path(self, rel: str) -> Path | None:
        return None

    def download(self, rel: str, dest: Path) -> Path:
        """Copy one object to a local file (multipart-parallel for large ones)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.download_file(self.location.bucket, self.location.key(rel), str(dest))
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, rel) from None
        return Path(dest)

    def uri_of(self, rel: str) -> str:
        return self.location.uri_of(rel)


def open_archive(uri: str | os.PathLike[str] | Archive, settings: Any = None) -> Archive:
    """The archive at ``uri``: an :class:`S3Archive` for ``s3://``, else a :class:`LocalArchive`.

    An archive object is passed through, so functions can take either. Without ``settings``,
    S3 archives use the project's settings module and boto3's standard chain (``AWS_*``
    environment variables, ``~/.aws``), and one client per URI is reused.
    """
    if isinstance(uri, (LocalArchive, S3Archive)) or (
        not isinstance(uri, (str, os.PathLike)) and hasattr(uri, "read_range")
    ):
        return uri  # type: ignore[return-value]
    if is_s3_uri(uri):
        if settings is None:
            env = tuple(os.environ.get(name) for name in _CLIENT_ENV)
            return _default_s3_archive(str(uri), env)
        return S3Archive.from_uri(str(uri), settings)
    return LocalArchive(uri)


def project_settings() -> Any:
    """The project's settings module (``crawler.settings``) as Scrapy settings."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    return settings


# What boto3 reads from the environment when it builds a client: a cached client is reused only
# while these are unchanged.
_CLIENT_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE",
)


@functools.lru_cache(maxsize=16)
def _default_s3_archive(uri: str, env: tuple[str | None, ...]) -> S3Archive:
    return S3Archive.from_uri(uri, project_settings())


def open_file(uri: str | os.PathLike[str], settings: Any = None) -> BinaryIO:
    """One file by its full URI or path (``s3://bucket/key`` or a local path), for reading."""
    if is_s3_uri(uri):
        location = S3Location.parse(str(uri))
        bucket_archive = open_archive(f"s3://{location.bucket}", settings)
        return bucket_archive.open(location.prefix)
    return open(uri, "rb")
