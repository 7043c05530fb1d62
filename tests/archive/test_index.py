from __future__ import annotations

import bisect
import mmap
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archive.index as index_module
from archive.cli import main as cli_main
from archive.index import IndexBuildError, build_index, lookup, parse_line
from archive.warcrecord import read_record
from pipelines.cdxj import CdxjIndexWriter
from pipelines.session import ArchiveSession
from pipelines.warc import timestamp14
from tests.pipelines.warc_helpers import CRAWL_ID, T0, make_exchange, make_writer

OTHER_CRAWL = "20240301T000000Z-def456"
REAL_MMAP = mmap.mmap


def crawl(
    root: Path, crawl_id: str, urls_and_times: list[tuple[str, datetime]], max_size: int = 1 << 30
) -> Path:
    """Write WARCs and the live index the way the capture middleware does."""
    session = ArchiveSession(root=root, crawl_id=crawl_id)
    writer = make_writer(root, session=session, max_size=max_size)
    live = CdxjIndexWriter(session)
    for url, when in urls_and_times:
        ex = make_exchange(url=url, date=when, body=f"<p>{url} {when}</p>".encode())
        p = writer.write_exchange(ex)
        live.add(
            url,
            timestamp14(when),
            "text/html",
            200,
            p["payload_digest"],
            p["length"],
            p["offset"],
            p["file"].removeprefix("warc/"),
            "response",
        )
    writer.close()
    return root / live.close()["path"]


CAPTURES = [
    ("http://news.example/story", T0),
    ("http://news.example/story", T0 + timedelta(days=2)),
    ("http://news.example/story", T0 + timedelta(days=10)),
    ("http://news.example/story?page=2", T0),
    ("http://news.example/", T0 + timedelta(hours=1)),
    ("https://www.news.example/story", T0 + timedelta(hours=2)),  # same SURT key as the first
    ("http://other.example/story", T0),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    crawl(tmp_path, CRAWL_ID, CAPTURES, max_size=2500)
    crawl(tmp_path, OTHER_CRAWL, [("http://news.example/late", T0 + timedelta(days=60))])
    return tmp_path


def test_rebuilt_index_is_the_live_index(root: Path) -> None:
    live = {p.name: p.read_bytes() for p in (root / "index").glob("*.cdxj")}
    assert len(live) == 2 and len(list((root / "warc" / CRAWL_ID).glob("*.warc.gz"))) > 1
    shutil.rmtree(root / "index")
    built = build_index(root)
    assert sorted(p.name for p in built) == sorted(live)
    assert {p.name: p.read_bytes() for p in built} == live
    assert not list((root / "index").glob("*.open"))


def test_one_crawl_only_and_unfinished_warcs_skipped(root: Path) -> None:
    (root / "warc" / CRAWL_ID / "NEWSARCHIVE-20990101000000-00099-x.warc.gz.open").write_bytes(
        b"half"
    )
    before = (root / "index" / f"{OTHER_CRAWL}.cdxj").stat().st_mtime_ns
    (root / "index" / f"{CRAWL_ID}.cdxj").write_text("stale\n")
    assert build_index(root, CRAWL_ID) == [root / "index" / f"{CRAWL_ID}.cdxj"]
    assert "stale" not in (root / "index" / f"{CRAWL_ID}.cdxj").read_text()
    assert (root / "index" / f"{OTHER_CRAWL}.cdxj").stat().st_mtime_ns == before
    with pytest.raises(FileNotFoundError, match="no crawl nope"):
        build_index(root, "nope")
    with pytest.raises(FileNotFoundError, match="no warc/ folder"):
        build_index(root / "index")
    with pytest.raises(FileNotFoundError, match="not an archive folder"):
        build_index(root / "missing")


def test_a_broken_warc_fails_its_crawl_only(root: Path) -> None:
    good = (root / "index" / f"{CRAWL_ID}.cdxj").read_bytes()
    (root / "warc" / CRAWL_ID / "NEWSARCHIVE-20990101000000-00099-x.warc.gz").write_bytes(
        b"garbage\n" * 10  # not "not a warc at all": five words parse as an ARC header
    )
    with pytest.raises(IndexBuildError) as info:
        build_index(root)
    assert list(info.value.failures) == [CRAWL_ID]
    assert info.value.built == [root / "index" / f"{OTHER_CRAWL}.cdxj"]
    assert (root / "index" / f"{CRAWL_ID}.cdxj").read_bytes() == good  # old index kept
    assert not list((root / "index").glob("*.open"))


def test_lookup_by_url(root: Path) -> None:
    path = root / "index" / f"{CRAWL_ID}.cdxj"
    found = lookup(path, "http://news.example/story")
    assert [(e["url"], e["timestamp"]) for e in found] == [
        ("http://news.example/story", "20240102030405"),
        ("https://www.news.example/story", "20240102050405"),
        ("http://news.example/story", "20240104030405"),
        ("http://news.example/story", "20240112030405"),
    ]
    for entry in found:
        pointer = {
            "file": "warc/" + entry["filename"],
            "offset": int(entry["offset"]),
            "length": int(entry["length"]),
        }
        assert read_record(root, pointer).rec_headers.get_header("WARC-Target-URI") == entry["url"]
    assert [e["url"] for e in lookup(path, "http://news.example/story?page=2")] == [
        "http://news.example/story?page=2"
    ]
    assert lookup(path, "http://news.example/nothing") == []
    assert lookup(path, "http://zzz.example/") == []
    assert lookup(path, "http://aaa.example/") == []


def test_lookup_closest_to_a_time(root: Path) -> None:
    path = root / "index" / f"{CRAWL_ID}.cdxj"
    assert [e["timestamp"] for e in lookup(path, "http://news.example/story", "20240109")] == [
        "20240112030405",  # 20240109 means the end of that day
        "20240104030405",
        "20240102050405",
        "20240102030405",
    ]
    at = datetime(2024, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=2)))  # 03:00 UTC
    assert lookup(path, "http://news.example/story", at)[0]["timestamp"] == "20240102030405"


def test_lookup_on_empty_index(tmp_path: Path) -> None:
    (tmp_path / "empty.cdxj").write_bytes(b"")
    assert lookup(tmp_path / "empty.cdxj", "http://news.example/") == []


class _CountingMap:
    """Stands in for mmap.mmap to count the lines lookup looks at."""

    slices = 0

    def __init__(self, fileno: int, length: int, access: int) -> None:
        self._mm = REAL_MMAP(fileno, length, access=access)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._mm.close()

    def __len__(self) -> int:
        return len(self._mm)

    def __getitem__(self, key):
        type(self).slices += 1
        return self._mm[key]

    def find(self, *args):
        return self._mm.find(*args)

    def rfind(self, *args):
        return self._mm.rfind(*args)


def test_lookup_is_a_binary_search_not_a_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.cdxj"
    lines = sorted(f"example,news)/p/{i:06d} 20240101000000 {{}}\n" for i in range(20000))
    path.write_text("".join(lines))
    monkeypatch.setattr(index_module.mmap, "mmap", _CountingMap)
    found = lookup(path, "http://news.example/p/012345")
    assert [e["urlkey"] for e in found] == ["example,news)/p/012345"]
    assert _CountingMap.slices < 40  # log2(20000) ~ 15 probes, plus the matches


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.text(alphabet="abc/,)", min_size=1, max_size=4), max_size=30),
    probe=st.text(alphabet="abc/,)", min_size=1, max_size=4),
)
def test_first_at_or_after_agrees_with_bisect(
    tmp_path_factory, keys: list[str], probe: str
) -> None:
    lines = sorted(f"{k} 2024 {{}}" for k in keys)
    path = tmp_path_factory.mktemp("idx") / "x.cdxj"
    path.write_text("".join(line + "\n" for line in lines))
    prefix = (probe + " ").encode()
    encoded = [line.encode() for line in lines]
    expected_index = bisect.bisect_left(encoded, prefix)
    expected_offset = sum(len(line) + 1 for line in encoded[:expected_index])
    if not lines:
        return
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        assert index_module._first_at_or_after(mm, prefix) == expected_offset


def test_parse_line() -> None:
    entry = parse_line(
        b'example,news)/ 20240101000000 {"url": "http://news.example/", "status": "200"}\n'
    )
    assert entry == {
        "urlkey": "example,news)/",
        "timestamp": "20240101000000",
        "url": "http://news.example/",
        "status": "200",
    }


# --- the command ------------------------------------------------------------------------------


def test_cli_index(root: Path, capsys: pytest.CaptureFixture) -> None:
    live = (root / "index" / f"{CRAWL_ID}.cdxj").read_bytes()
    shutil.rmtree(root / "index")
    assert cli_main(["index", str(root), "--crawl-id", CRAWL_ID]) == 0
    assert capsys.readouterr().out.splitlines() == [str(root / "index" / f"{CRAWL_ID}.cdxj")]
    assert (root / "index" / f"{CRAWL_ID}.cdxj").read_bytes() == live
    assert cli_main(["index", str(root)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["{root}/missing"], 2, "not an archive folder"),
        (["{root}", "--crawl-id", "nope"], 2, "no crawl nope"),
        (["s3://"], 2, "no bucket"),  # s3:// archives: tests/archive/test_storage_s3.py
    ],
)
def test_cli_index_usage_errors(
    root: Path, capsys: pytest.CaptureFixture, args, code, message
) -> None:
    assert cli_main(["index", *(a.format(root=root) for a in args)]) == code
    err = capsys.readouterr().err
    assert err.startswith("newsarchive index: ") and message in err and err.count("\n") == 1


def test_cli_index_broken_warc_exits_1(root: Path, capsys: pytest.CaptureFixture) -> None:
    (root / "warc" / OTHER_CRAWL / "NEWSARCHIVE-20990101000000-00099-x.warc.gz").write_bytes(
        b"garbage\n" * 4
    )
    assert cli_main(["index", str(root)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [str(root / "index" / f"{CRAWL_ID}.cdxj")]
    assert f"crawl {OTHER_CRAWL}:" in captured.err


def test_a_subcommand_run_imports_only_its_own_module():
    """`newsarchive crawl` must not pay for importing replay, export or S3 code at start-up."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from archive.cli import main\n"
        "try:\n"
        "    main(['index', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('archive.cli.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "['archive.cli.index']"
