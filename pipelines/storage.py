"""Where finished archive files go: left in place on local disk, or uploaded to S3 from a spool.

:class:`~pipelines.session.ArchiveSession` hands every finished file to a storage with
``store(rel, kind)``. :class:`LocalStorage` has nothing to do: the file already has its final name.
:class:`S3Storage` treats the session's root as a *spool*, a local folder with the archive layout,
and uploads each file on a thread pool (off the reactor, overlapping the crawl), checks what the
store now holds (size and ETag) and only then deletes the local copy. A file that cannot be
uploaded after the retries stays in the spool; the next crawl to the same URI, or
``newsarchive sync SPOOL s3://...``, uploads it under the same key. Keys are the archive's relative
paths, so a file is never uploaded twice under different names.

boto3 is imported lazily (as Scrapy's ``S3FeedStorage`` does): local archives never need it.
Credentials come from Scrapy's ``AWS_*`` settings when set, else from boto3's standard chain
(environment, ``~/.aws``, instance roles); their values are scrubbed from every log line and
message this module produces (:class:`Redactor`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig

logger = logging.getLogger(__name__)

S3_SCHEME = "s3"
OPEN_SUFFIX = ".open"
# The top folders of the archive layout (DESIGN.md) that hold archive files. Anything else in a
# spool (``state/`` of incremental crawls, stray files) is never uploaded.
LAYOUT_DIRS = ("warc", "articles", "index", "crawls")
# Kinds whose objects are never replaced: a WARC or a records file under an existing key with
# other bytes is a name collision, and replacing it would break the pointers into it. The index
# and the manifest of a crawl are summaries that a resumed crawl rewrites, as on local disk.
IMMUTABLE_KINDS = frozenset({"warc", "articles"})
MANIFEST_KIND = "manifest"
KIND_BY_DIR = {"warc": "warc", "articles": "articles", "index": "index", "crawls": MANIFEST_KIND}
MAX_BACKOFF = 60.0
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest multipart part (all but the last)
HELD_BACK = "held back"


class StorageError(OSError):
    """The store refused or could not be reached; the message never holds a credential."""


class IntegrityError(StorageError):
    """What the store holds after an upload is not the file that was sent."""


class StorageConfigError(ValueError):
    """Bad storage configuration (a malformed URI, boto3 missing): a usage error."""


# --- URIs ----------------------------------------------------------------------------------------


def is_s3_uri(uri: str | os.PathLike[str] | None) -> bool:
    return isinstance(uri, str) and uri.startswith(f"{S3_SCHEME}://")


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``: the bucket and the key prefix the archive layout lives under."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        parts = urlsplit(uri)
        if parts.scheme != S3_SCHEME:
            raise StorageConfigError("not an s3:// URI")
        if "@" in parts.netloc:
            # Never echo it: whatever is before the @ may be a key.
            raise StorageConfigError(
                "credentials do not go in the s3:// URI; use AWS_* settings or the environment"
            )
        if not parts.netloc:
            raise StorageConfigError(f"no bucket in {uri!r}: use s3://BUCKET/PREFIX")
        if parts.query or parts.fragment:
            raise StorageConfigError(f"{uri!r}: an s3:// URI takes no query or fragment")
        prefix = parts.path.strip("/")
        if any(seg in ("", ".", "..") for seg in prefix.split("/")) and prefix:
            raise StorageConfigError(f"{uri!r}: empty, '.' or '..' segments in the prefix")
        return cls(parts.netloc, prefix)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, rel: str) -> str:
        rel = rel.lstrip("/")
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def rel(self, key: str) -> str:
        return key[len(self.prefix) + 1:] if self.prefix else key

    def uri_of(self, rel: str) -> str:
        return f"s3://{self.bucket}/{self.key(rel)}"


# --- configuration and client --------------------------------------------------------------------


def _setting(settings: Any, name: str, default: Any = None) -> Any:
    if settings is None:
        return default
    value = settings.get(name, default)
    return default if value is None or value == "" else value


def default_spool_dir(location: S3Location) -> Path:
    """``$XDG_CACHE_HOME/newsarchive/spool/<bucket>/<prefix>``: the same spool for every crawl to
    one URI, so the next crawl finds and uploads what an earlier one left behind."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "newsarchive" / "spool" / location.bucket / location.prefix


@dataclass(frozen=True)
class S3Options:
    """Scrapy's ``AWS_*`` settings plus ``NEWSARCHIVE_S3_*``; unset values fall to boto3's chain."""

    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    endpoint_url: str | None = None
    region: str | None = None
    use_ssl: bool | None = None
    verify: bool | str | None = None
    addressing_style: str | None = None
    timeout: float = 60.0
    spool_dir: str | None = None
    multipart_threshold: int = 64 * 1024 * 1024
    multipart_chunksize: int = 64 * 1024 * 1024
    upload_workers: int = 4
    retries: int = 5
    retry_backoff: float = 2.0
    integrity: str = "etag"
    # Attempts botocore makes per request before the uploader's own retries take over.
    request_attempts: int = 3

    @classmethod
    def from_settings(cls, settings: Any = None) -> S3Options:
        """From a Scrapy ``Settings`` (or any mapping with ``get``); ``None`` gives the defaults."""
        s = settings
        use_ssl = _setting(s, "AWS_USE_SSL")
        verify = _setting(s, "AWS_VERIFY")
        style = _setting(s, "NEWSARCHIVE_S3_ADDRESSING_STYLE")
        if style is not None and style not in ("auto", "path", "virtual"):
            raise StorageConfigError(
                f"NEWSARCHIVE_S3_ADDRESSING_STYLE must be auto, path or virtual, not {style!r}"
            )
        integrity = _setting(s, "NEWSARCHIVE_S3_INTEGRITY", "etag")
        if integrity not in ("etag", "size"):
            raise StorageConfigError(
                f"NEWSARCHIVE_S3_INTEGRITY must be etag or size, not {integrity!r}"
            )
        return cls(
            access_key=_setting(s, "AWS_ACCESS_KEY_ID"),
            secret_key=_setting(s, "AWS_SECRET_ACCESS_KEY"),
            session_token=_setting(s, "AWS_SESSION_TOKEN"),
            endpoint_url=_setting(s, "AWS_ENDPOINT_URL"),
            region=_setting(s, "AWS_REGION_NAME"),
            use_ssl=None if use_ssl is None else _as_bool(use_ssl),
            verify=None if verify is None else _as_bool_or_path(verify),
            addressing_style=style,
            timeout=float(_setting(s, "NEWSARCHIVE_S3_TIMEOUT", 60.0)),
            spool_dir=_setting(s, "NEWSARCHIVE_S3_SPOOL_DIR"),
            multipart_threshold=int(_setting(s, "NEWSARCHIVE_S3_MULTIPART_THRESHOLD", 64 << 20)),
            multipart_chunksize=max(
                MIN_PART_SIZE, int(_setting(s, "NEWSARCHIVE_S3_MULTIPART_CHUNKSIZE", 64 << 20))
            ),
            upload_workers=max(1, int(_setting(s, "NEWSARCHIVE_S3_UPLOAD_WORKERS", 4))),
            retries=max(0, int(_setting(s, "NEWSARCHIVE_S3_RETRIES", 5))),
            retry_backoff=max(0.0, float(_setting(s, "NEWSARCHIVE_S3_RETRY_BACKOFF", 2.0))),
            integrity=integrity,
        )


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _as_bool_or_path(value: Any) -> bool | str:
    """``AWS_VERIFY`` is a bool or, as in botocore, the path of a CA bundle."""
    if isinstance(value, str) and value.strip().lower() not in (
        "0", "1", "true", "false", "yes", "no", "on", "off"
    ):
        return value
    return _as_bool(value)


def import_boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise StorageConfigError(
            "s3:// archives need boto3: pip install 'newsarchive[s3]'"
        ) from None
    return boto3


@dataclass
class S3Connection:
    """A boto3 S3 client and the credential values to keep out of every message."""

    client: Any
    redact: Redactor


_SESSION_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _shared_session() -> Any:
    """One boto3 session per process: building one loads botocore's data files (~0.3 s), and
    clients made from it share that. Explicit credentials are given per client, not here."""
    return import_boto3().session.Session()


def connect(options: S3Options) -> S3Connection:
    import_boto3()
    from botocore.config import Config

    with _SESSION_LOCK:  # boto3 sessions are not safe to make clients from on several threads
        session = _shared_session()
        secrets = [options.access_key, options.secret_key, options.session_token]
        if not (options.access_key and options.secret_key):
            creds = session.get_credentials()  # the standard chain: environment, ~/.aws, role
            if creds is not None:
                frozen = creds.get_frozen_credentials()
                secrets += [frozen.access_key, frozen.secret_key, frozen.token]
        s3_config: dict[str, Any] = {}
        if options.addressing_style:
            s3_config["addressing_style"] = options.addressing_style
        # botocore's own retries cover a dropped connection or a throttled request; longer
        # outages are the uploader's retries with backoff (NEWSARCHIVE_S3_RETRIES).
        # AWS_MAX_ATTEMPTS and AWS_RETRY_MODE in the environment still win, as in all of boto3.
        retries: dict[str, Any] = {}
        if not os.environ.get("AWS_RETRY_MODE"):
            retries["mode"] = "standard"
        if not os.environ.get("AWS_MAX_ATTEMPTS"):
            retries["total_max_attempts"] = options.request_attempts
        config = Config(
            s3=s3_config or None,
            connect_timeout=options.timeout,
            read_timeout=options.timeout,
            retries=retries or None,
        )
        kwargs: dict[str, Any] = {"config": config}
        for name, value in (
            ("aws_access_key_id", options.access_key),
            ("aws_secret_access_key", options.secret_key),
            ("aws_session_token", options.session_token),
            ("region_name", options.region),
            ("endpoint_url", options.endpoint_url),
            ("use_ssl", options.use_ssl),
            ("verify", options.verify),
        ):
            if value is not None:
                kwargs[name] = value
        client = session.client("s3", **kwargs)
    return S3Connection(client, Redactor(secrets))


# --- secrets -------------------------------------------------------------------------------------


class Redactor:
    """Replaces credential values in text with ``***``.

    Hand-written because no library knows which strings are our secrets; botocore's messages do
    not normally hold them, but an endpoint URL with user info, a server's error text or a
    debug log could.
    """

    MASK = "***"

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: Any) -> str:
        out = str(text)
        for s in self.secrets:
            out = out.replace(s, self.MASK)
        return out

    def __bool__(self) -> bool:
        return bool(self.secrets)


class RedactingFilter(logging.Filter):
    """A logging filter that masks credential values in the final message of each record."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logging module's problem, not ours
            return True
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def install_log_redaction(redact: Redactor) -> RedactingFilter | None:
    """Mask ``redact``'s secrets in everything logged through the handlers installed now (Scrapy's
    root handler) and on ``scrapy.crawler``, which logs the "Overridden settings" (AWS_* included).
    """
    if not redact:
        return None
    f = RedactingFilter(redact)
    logging.getLogger("scrapy.crawler").addFilter(f)
    for handler in logging.getLogger().handlers:
        handler.addFilter(f)
    return f


# --- integrity -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalDigest:
    size: int
    sha256: str
    etag: str  # the ETag S3 computes for this file uploaded with our transfer settings


def part_size(size: int, chunksize: int) -> int:
    """The part size s3transfer will really use for a file (it grows parts past 10,000)."""
    from s3transfer.utils import ChunksizeAdjuster

    return ChunksizeAdjuster().adjust_chunksize(chunksize, size)


def local_digest(path: Path, threshold: int, chunksize: int) -> LocalDigest:
    """Size, sha256 and expected ETag in one read: MD5 of the file for a single PUT, MD5 of the
    parts' MD5s plus ``-<parts>`` for a multipart upload (what S3, MinIO and Ceph report)."""
    size = path.stat().st_size
    multipart = size >= threshold
    step = part_size(size, chunksize) if multipart else 1 << 20
    whole_sha, whole_md5 = hashlib.sha256(), hashlib.md5()
    parts: list[bytes] = []
    with open(path, "rb") as f:
        while chunk := f.read(step):
            whole_sha.update(chunk)
            if multipart:
                parts.append(hashlib.md5(chunk).digest())
            else:
                whole_md5.update(chunk)
    if multipart:
        etag = f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"
    else:
        etag = whole_md5.hexdigest()
    return LocalDigest(size, whole_sha.hexdigest(), etag)


def crawl_id_of(rel: str) -> str | None:
    """The crawl a layout path belongs to (``warc/<id>/..``, ``index/<id>.cdxj``, ...)."""
    parts = rel.split("/")
    if len(parts) >= 3 and parts[0] in ("warc", "articles"):
        return parts[1]
    if len(parts) == 2 and parts[0] in ("index", "crawls"):
        return parts[1].split(".", 1)[0]
    return None


def kind_of(rel: str) -> str:
    return KIND_BY_DIR.get(rel.split("/", 1)[0], "file")


def spool_files(spool: Path) -> tuple[list[str], list[str]]:
    """Finished files (layout paths) and unfinished ``.open`` files in a spool, sorted."""
    finished: list[str] = []
    unfinished: list[str] = []
    for top in LAYOUT_DIRS:
        base = spool / top
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if not path.is_file():
                continue
            rel = path.relative_to(spool).as_posix()
            (unfinished if rel.endswith(OPEN_SUFFIX) else finished).append(rel)
    return sorted(finished), sorted(unfinished)


def prune_empty_dirs(root: Path) -> None:
    """Remove empty folders under ``root`` (not ``root`` itself), deepest first."""
    if not root.is_dir():
        return
    for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
        if Path(dirpath) != root:
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


# --- backends ------------------------------------------------------------------------------------


@dataclass
class UploadReport:
    """What a storage did by ``close()``: what reached the store and what is still local."""

    uri: str
    spool: Path | None = None
    uploaded: int = 0
    uploaded_bytes: int = 0
    already_there: int = 0
    retries: int = 0
    leftovers: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def failure_message(self) -> str:
        """One clear paragraph for the end of a crawl that could not upload everything."""
        n = len(self.failed)
        # The store's own error says more than "held back" (a manifest waiting for the rest).
        reasons = [w for w in self.failed.values() if not w.startswith(HELD_BACK)] or list(self.failed.values())
        last = reasons[-1] if reasons else ""
        return (
            f"{n} file{'s' if n != 1 else ''} could not be uploaded to {self.uri} and "
            f"{'are' if n != 1 else 'is'} kept in {self.spool} (last error: {last}). Nothing is "
            f"lost: upload {'them' if n != 1 else 'it'} with `newsarchive sync {self.spool} {self.uri}`, or the next "
            f"crawl to {self.uri} will."
        )


class Storage(Protocol):
    uri: str
    root: Path
    remote: bool

    def store(self, rel: str, kind: str) -> concurrent.futures.Future[bool] | None: ...

    def exists(self, rel: str) -> bool: ...

    def close(self) -> UploadReport: ...


class LocalStorage:
    """The archive is ``root`` itself: a committed file is already where it belongs."""

    remote = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.uri = str(root)

    def store(self, rel: str, kind: str) -> None:
        return None

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists()

    def close(self) -> UploadReport:
        return UploadReport(self.uri)


class _Refused(StorageError):
    """Not worth retrying: the store holds other bytes under a key we must not replace."""


class S3Storage:
    """Uploads finished files from a local spool to ``s3://bucket/prefix`` on a thread pool.

    ``store`` returns at once; ``close`` waits for every upload and reports what is still local.
    A manifest (``crawls/<id>.json``) is uploaded only after every other file of its crawl is, so
    a manifest in the bucket means the crawl is complete there.
    """

    remote = True

    def __init__(
        self,
        location: S3Location,
        spool: Path,
        connection: S3Connection,
        options: S3Options | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from boto3.s3.transfer import TransferConfig

        self.location = location
        self.uri = location.uri
        self.root = Path(spool)
        self.client = connection.client
        self.redact = connection.redact
        self.options = options or S3Options()
        self._sleep = sleep
        self.transfer: TransferConfig = TransferConfig(
            multipart_threshold=self.options.multipart_threshold,
            multipart_chunksize=self.options.multipart_chunksize,
            # The classic transfer manager: its part sizes are the ones local_digest() assumes
            # (the CRT one, chosen on some machines when awscrt is installed, picks its own).
            preferred_transfer_client="classic",
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.options.upload_workers, thread_name_prefix="newsarchive-s3"
        )
        self._lock = threading.Lock()
        self._by_crawl: dict[str | None, list[concurrent.futures.Future[bool]]] = {}
        self._queued: set[str] = set()
        self._closed = False
        self.report = UploadReport(self.uri, self.root)

    @classmethod
    def from_settings(
        cls, uri: str, settings: Any = None, *, spool: str | Path | None = None
    ) -> S3Storage:
        options = S3Options.from_settings(settings)
        location = S3Location.parse(uri)
        spool_dir = Path(spool or options.spool_dir or default_spool_dir(location)).expanduser()
        spool_dir.mkdir(parents=True, exist_ok=True)
        return cls(location, spool_dir, connect(options), options)

    # -- the session's side --------------------------------------------------------------------

    def store(self, rel: str, kind: str) -> concurrent.futures.Future[bool]:
        """Queue the upload of ``<spool>/<rel>`` (already under its final name there)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("S3Storage is closed")
            cid = crawl_id_of(rel)
            earlier = list(self._by_crawl.get(cid, ())) if kind == MANIFEST_KIND else []
            future = self._pool.submit(self._upload, rel, kind, earlier)
            self._by_crawl.setdefault(cid, []).append(future)
            self._queued.add(rel)
        return future

    def start(self, *, skip: Iterable[str] = ()) -> int:
        """Queue the files earlier runs left in the spool (manifests last); return how many."""
        finished, unfinished = spool_files(self.root)
        skip = set(skip)
        todo = [r for r in finished if r not in skip and r not in self._queued]
        todo.sort(key=lambda r: kind_of(r) == MANIFEST_KIND)
        for rel in todo:
            self.store(rel, kind_of(rel))
        with self._lock:
            self.report.leftovers += len(todo)
        if unfinished:
            logger.warning(
                "%d unfinished .open file(s) in the spool %s (a crawl still running there, or "
                "one that was killed); they are not uploaded", len(unfinished), self.root,
            )
        return len(todo)

    def exists(self, rel: str) -> bool:
        """Under its final name in the spool or in the bucket (a store error counts as no)."""
        if (self.root / rel).exists():
            return True
        try:
            return self._head(self.location.key(rel)) is not None
        except StorageError:
            return False

    def fetch(self, rel: str) -> bool:
        """Download ``rel`` into the spool unless it is there already; False if the bucket has
        none. A resumed crawl merges its new index lines into the crawl's existing index."""
        dest = self.root / rel
        if dest.exists():
            return True
        if self._head(self.location.key(rel)) is None:
            return False
        tmp = dest.with_name(dest.name + ".download")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.location.bucket, self.location.key(rel), str(tmp))
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(self._describe(exc)) from None
        os.replace(tmp, dest)
        return True

    def close(self) -> UploadReport:
        """Wait for every queued upload; tidy the spool's empty folders; report."""
        with self._lock:
            self._closed = True
            futures = [f for fs in self._by_crawl.values() for f in fs]
        concurrent.futures.wait(futures)
        self._pool.shutdown(wait=True)
        prune_empty_dirs(self.root)
        _finished, unfinished = spool_files(self.root)
        self.report.unfinished = unfinished
        return self.report

    # -- one upload ------------------------------------------------------------------------------

    def _describe(self, exc: BaseException) -> str:
        return self.redact(f"{type(exc).__name__}: {exc}")

    def _head(self, key: str) -> dict | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.head_object(Bucket=self.location.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("404", "NoSuchKey", "NotFound") or status == 404:
                return None
            raise StorageError(self._describe(exc)) from None
        except BotoCoreError as exc:
            raise StorageError(self._describe(exc)) from None

    def _matches(self, head: dict, digest: LocalDigest) -> bool:
        if int(head.get("ContentLength", -1)) != digest.size:
            return False
        if self.options.integrity == "size":
            return True
        return str(head.get("ETag", "")).strip('"') == digest.etag

    def _mismatch(self, rel: str, head: dict, digest: LocalDigest) -> str:
        return (
            f"{rel}: the store holds {head.get('ContentLength')} bytes with ETag "
            f"{head.get('ETag')}, the file has {digest.size} bytes with ETag {digest.etag}"
        )

    def _upload(self, rel: str, kind: str, earlier: list[concurrent.futures.Future[bool]]) -> bool:
        try:
            return self._upload_checked(rel, kind, earlier)
        except Exception as exc:  # never lose the report of a failure inside the pool
            self._fail(rel, self._describe(exc))
            return False

    def _upload_checked(
        self, rel: str, kind: str, earlier: list[concurrent.futures.Future[bool]]
    ) -> bool:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        if earlier:
            concurrent.futures.wait(earlier)
            missing = sum(1 for f in earlier if not f.result())
            if missing:
                self._fail(rel, f"{HELD_BACK}: {missing} other file(s) of its crawl are not uploaded")
                return False
        path = self.root / rel
        try:
            digest = local_digest(path, self.options.multipart_threshold, self.transfer.multipart_chunksize)
        except FileNotFoundError:
            # Another process (a sync, a second crawl to the same spool) took it: it is uploaded
            # if the bucket has it.
            if self._head(self.location.key(rel)) is not None:
                return True
            raise
        key = self.location.key(rel)
        attempts = self.options.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                head = self._head(key)
                if head is not None and self._matches(head, digest):
                    with self._lock:
                        self.report.already_there += 1
                    break
                if head is not None and kind in IMMUTABLE_KINDS:
                    raise _Refused(
                        f"{rel}: refusing to replace an object with other bytes under its key "
                        f"({self._mismatch(rel, head, digest)})"
                    )
                self.client.upload_file(
                    str(path), self.location.bucket, key,
                    ExtraArgs={"Metadata": {"sha256": digest.sha256}},
                    Config=self.transfer,
                )
                head = self._head(key)
                if head is None or not self._matches(head, digest):
                    raise IntegrityError(
                        f"{rel}: not found after upload" if head is None
                        else self._mismatch(rel, head, digest)
                    )
                with self._lock:
                    self.report.uploaded += 1
                    self.report.uploaded_bytes += digest.size
                break
            except _Refused:
                raise
            except (StorageError, BotoCoreError, ClientError, S3UploadFailedError, OSError) as exc:
                why = self._describe(exc) if not isinstance(exc, StorageError) else self.redact(exc)
                if attempt == attempts:
                    self._fail(rel, why)
                    return False
                delay = min(MAX_BACKOFF, self.options.retry_backoff * 2 ** (attempt - 1))
                with self._lock:
                    self.report.retries += 1
                logger.warning(
                    "Upload of %s to %s failed (attempt %d of %d): %s; retrying in %.1fs",
                    rel, self.uri, attempt, attempts, why, delay,
                )
                self._sleep(delay)
        path.unlink()
        return True

    def _fail(self, rel: str, why: str) -> None:
        why = self.redact(why)
        with self._lock:
            self.report.failed[rel] = why
        logger.error("Could not upload %s to %s; it stays in %s: %s", rel, self.uri, self.root, why)


def open_storage(uri: str | os.PathLike[str], settings: Mapping[str, Any] | Any = None) -> Storage:
    """The storage for an archive URI: :class:`S3Storage` for ``s3://``, else :class:`LocalStorage`."""
    if is_s3_uri(uri):
        return S3Storage.from_settings(str(uri), settings)
    return LocalStorage(Path(uri))
