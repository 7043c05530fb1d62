"""A full disk: the crawl says so clearly, exits 1, and leaves nothing half-written under a final name.

The archive goes to a small tmpfs (mounting needs root; the tests skip with the reason otherwise),
sized to fill up at different moments of a crawl of the bundled demo site. Whatever carries its
final name afterwards must be whole: WARCs pass ``warcio check``, record files decompress to
complete JSON lines, the index and the manifest parse.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import zlib
from pathlib import Path

import pytest

from pipelines.session import ArchiveSession
from tests.reliability.support import crawl_cmd, run_measured, warcio_check
from tests.support.servers import demo_site

PAGE = 4096


@contextlib.contextmanager
def tmpfs(path: Path, size: int):
    """A tmpfs of ``size`` bytes at ``path``; skips the test when it cannot be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    size = max(PAGE, size // PAGE * PAGE)
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True)
        why = proc.stderr.strip() or f"exit {proc.returncode}"
    except OSError as exc:
        proc, why = None, str(exc)
    if proc is None or proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up (needs root): {why}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def tree_bytes(root: Path) -> int:
    """Bytes the files under ``root`` occupy, in whole pages as tmpfs counts them."""
    return sum(-(-p.stat().st_size // PAGE) * PAGE for p in root.rglob("*") if p.is_file())


def assert_whole(path: Path) -> None:
    """A file under its final name must be complete, whatever its kind."""
    name = path.name
    if name.endswith(".warc.gz"):
        check = warcio_check([path])
        assert check.returncode == 0, (path, check.stdout, check.stderr)
    elif name.endswith(".jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
        for line in lines:
            json.loads(line)
    elif name.endswith(".cdxj"):
        for line in path.read_text(encoding="utf-8").splitlines():
            key, stamp, block = line.split(" ", 2)
            assert key and stamp.isdigit()
            json.loads(block)
    elif path.parent.name == "crawls" and name.endswith(".json"):
        json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo():
    with demo_site() as site:
        yield site


@pytest.fixture(scope="module")
def full_size(demo, tmp_path_factory) -> int:
    """How much a complete crawl of the demo site writes."""
    out = tmp_path_factory.mktemp("roomy") / "archive"
    run = run_measured(crawl_cmd(out, demo.url + "/"), out, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return tree_bytes(out)


# At a quarter of the space the crawl state cannot even be created; at 60% and 90% the WARC,
# records or index fill the disk part-way.
@pytest.mark.parametrize("fraction", [0.25, 0.6, 0.9])
def test_disk_full_is_a_clear_error_exit_1_and_nothing_half_written(demo, full_size, tmp_path, fraction):
    mount = tmp_path / "small"
    with tmpfs(mount, int(full_size * fraction)):
        out = mount / "archive"
        run = run_measured(crawl_cmd(out, demo.url + "/"), out, timeout=120)
        finals = [p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".open")]
        for path in finals:
            assert_whole(path)
    assert run.returncode == 1, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("newsarchive crawl:"), last
    assert "No space left on device" in run.stderr or "disk is full" in run.stderr
    if "WARC capture of" in run.stderr:  # the WARC hit the full disk: the crawl stopped there
        assert "The archive's disk is full: closing the crawl" in run.stderr
    # handled, not crashed: no unhandled errors, no tracebacks from the reactor
    assert "Unhandled error" not in run.stderr and "CRITICAL" not in run.stderr, run.stderr[-3000:]


def test_records_file_never_gets_a_broken_record_under_its_final_name(tmp_path):
    """The records writer on its own: records keep coming after the disk fills up, space comes
    back, the file is finished. What has the final name must be whole JSON lines."""
    from pipelines.records import RecordsWriter

    mount = tmp_path / "small"
    with tmpfs(mount, 64 * 1024):
        writer = RecordsWriter(ArchiveSession(root=mount, crawl_id="20261130T000000Z-abcdef"))
        filler = mount / "filler"
        failures = 0
        record = {"text": os.urandom(3000).hex()}  # incompressible: 6 KB a member
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            f.write(b"\0" * (40 * 1024))
        for _ in range(20):
            try:
                writer.write(record)
            except OSError:
                failures += 1
        filler.unlink()  # space is back
        with contextlib.suppress(OSError):
            writer.close()
        assert failures, "the disk never filled up: the test proves nothing"
        for path in mount.rglob("*.jsonl.gz"):
            data = path.read_bytes()
            # every member complete: zlib reports no truncated stream and no trailing garbage
            while data:
                d = zlib.decompressobj(31)
                line = d.decompress(data)
                assert d.eof, f"{path.name}: a cut-off member under the final name"
                json.loads(line)
                data = d.unused_data


def test_mount_helper_reports_why_it_skips(tmp_path, monkeypatch):
    """The skip above must name its reason, not pass silently."""
    monkeypatch.setenv("PATH", "")
    with pytest.raises(pytest.skip.Exception, match="cannot mount"), tmpfs(tmp_path / "x", PAGE):
        pass



def test_an_index_that_cannot_be_written_leaves_no_open_file(tmp_path):
    """The index is rebuilt from the WARCs (``newsarchive index``); half of one is only litter."""
    from pipelines.cdxj import CdxjIndexWriter

    mount = tmp_path / "small"
    with tmpfs(mount, 16 * 1024):
        index = CdxjIndexWriter(ArchiveSession(root=mount, crawl_id="20261130T000000Z-abcdef"))
        for i in range(2000):  # about 400 KB of lines, in memory until close()
            index.add(f"http://news.example/{i}/" + "x" * 100, "20261130000000", "text/html", 200,
                      "sha1:AAAA", 1000, i * 1000, "c/NEWSARCHIVE-x.warc.gz", "response")
        with pytest.raises(OSError):
            index.close()
        assert not list(mount.rglob("*.open"))
        assert not list(mount.rglob("*.cdxj"))


def test_a_warc_file_survives_the_disk_filling_up_mid_record(tmp_path):
    """On a real full disk (not a simulated one): the failed record is rolled back, later
    records fail cleanly, and once there is room again the file is finished, valid, and keeps
    every record written before the disk filled up."""
    from pipelines.warc import WarcWriteError
    from tests.pipelines.warc_helpers import make_exchange, make_writer

    mount = tmp_path / "small"
    with tmpfs(mount, 96 * 1024):
        writer = make_writer(mount)
        filler = mount / "filler"
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            f.write(b"\0" * (60 * 1024))
        written, failed = [], 0
        for i in range(12):
            try:
                written.append(writer.write_exchange(
                    make_exchange(url=f"http://news.example/{i}", body=os.urandom(9000))))
            except WarcWriteError:
                failed += 1
        assert written and failed, (len(written), failed)
        filler.unlink()  # room again
        files = writer.close()
        assert [f["path"] for f in files] == [written[0]["file"]]
        assert not list(mount.rglob("*.open"))
        path = mount / written[0]["file"]
        check = warcio_check([path])
        assert check.returncode == 0, check.stdout + check.stderr
        from warcio.archiveiterator import ArchiveIterator

        with open(path, "rb") as f:
            responses = [r.rec_headers.get_header("WARC-Target-URI")
                         for r in ArchiveIterator(f) if r.rec_type == "response"]
        assert responses == [f"http://news.example/{i}" for i in range(len(written))]
