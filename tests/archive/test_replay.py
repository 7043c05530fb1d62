"""Replay through a running pywb server (a subprocess on a free port), from a two-crawl archive.

pywb runs from its own interpreter (tests/support/pywb.py), as ``newsarchive replay`` runs it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from archive.cli import replay as replay_cli
from archive.records import iter_records
from archive.replay import ReplayError, check_archive, pywb_command, pywb_config, write_config
from archive.wacz import capture_of
from tests.archive.replay_archive import (
    T1,
    T2,
    article_url,
    build_archive,
    crawl_site,
    headline,
    running_replay,
)
from tests.support import pywb as pywb_support

pywb_python = pywb_support.pywb_python  # the fixture, shared: pywb's own interpreter

REPO = Path(__file__).resolve().parents[2]

H1 = re.compile(rb"<h1>(.*?)</h1>", re.S)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return build_archive(tmp_path_factory.mktemp("replay") / "archive", n=12)


@pytest.fixture(scope="module")
def base(archive, pywb_python):
    with running_replay(archive.root, python=pywb_python) as url:
        yield url


def get(base: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """One GET, redirects not followed (so a replayed 301 can be seen as such)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", parts.path + path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def ts14(d) -> str:
    return d.strftime("%Y%m%d%H%M%S")


def test_binds_loopback_by_default(base):
    assert urlsplit(base).hostname == "127.0.0.1"
    assert base.endswith("/news/")


def test_sampled_articles_replay_with_their_own_headline(base, archive):
    sample = random.Random(6).sample(range(archive.n), 10)
    for i in sample:
        url = article_url(i)
        status, _, body = get(base, "mp_/" + url)
        assert status == 200, url
        assert H1.findall(body) == [headline(i, 1 if i == 2 else 0).encode()], url
        # the framed page (pywb's banner + the capture in an iframe) is there as well
        status, _, framed = get(base, url)
        assert status == 200 and url.encode() in framed


def test_gzip_encoded_capture_is_served_decoded(base, archive):
    # article 1 was gzip-encoded on the wire: replay must undo that, not show compressed bytes
    status, headers, body = get(base, "id_/" + article_url(1))
    assert status == 200
    assert headers.get("x-archive-orig-content-encoding") == "gzip"
    assert body == archive.latest(article_url(1)).decoded


def test_latest_and_given_timestamp(base):
    status, headers, body = get(base, "mp_/" + article_url(2))
    assert status == 200 and H1.findall(body) == [headline(2, 1).encode()]
    assert headers["memento-datetime"] == "Mon, 30 Nov 2026 10:00:01 GMT"

    first = ts14(T1.replace(second=3))
    status, headers, body = get(base, f"{first}mp_/" + article_url(2))
    assert status == 200 and H1.findall(body) == [headline(2).encode()]
    assert headers["memento-datetime"] == "Sun, 29 Nov 2026 10:00:03 GMT"


def test_unknown_url_is_404(base):
    for path in ("mp_/http://news.example.test/never-archived.html",
                 "http://elsewhere.example.test/",
                 "id_/http://news.example.test/2026/11/29/article-99.html"):
        status, _, _ = get(base, path)
        assert status == 404, path


def test_revisit_replays_its_original_payload(base, archive):
    url = article_url(0)
    revisit = archive.latest(url)
    assert revisit.revisit_of is not None and revisit.date == T2
    status, headers, body = get(base, f"{ts14(T2)}id_/{url}")
    assert status == 200
    # the revisit capture itself (its own date), with the payload of the record it refers to
    assert headers["memento-datetime"] == "Mon, 30 Nov 2026 10:00:00 GMT"
    assert body == revisit.revisit_of.decoded
    status, _, body = get(base, f"{ts14(T2)}mp_/{url}")
    assert status == 200 and H1.findall(body) == [headline(0).encode()]


def test_archived_redirect_replays_as_redirect_into_the_archive(base):
    status, headers, _ = get(base, "mp_/http://news.example.test/s/1")
    assert status == 301
    assert headers["location"].endswith("/news/mp_/" + article_url(1))
    assert urlsplit(headers["location"]).hostname == "127.0.0.1"


def test_cli_server_starts_cleanly_and_stops_on_sigterm(archive, pywb_python, tmp_path):
    """gevent must patch the standard library before ssl is imported, or pywb may misbehave; the
    server is the command's own process (exec), so SIGTERM stops it cleanly, and it removes the
    scratch folder holding its generated configuration."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "archive", "replay", str(archive.root),
                             "--port", "0", "--pywb-python", pywb_python],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "TMPDIR": str(scratch)})
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:"), proc.stderr.read()
        (workdir,) = scratch.iterdir()
        assert sorted(p.name for p in workdir.iterdir()) == ["collections", "config.yaml",
                                                             "launch.py"]
        status, _, _ = get(line.split()[1], "mp_/" + article_url(4))
        assert status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert "MonkeyPatchWarning" not in err and "Traceback" not in err, err
    assert proc.returncode == 0, err
    assert list(scratch.iterdir()) == []


def test_port_in_use_is_one_clear_line(archive, pywb_python):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "archive", "replay", str(archive.root),
                               "--port", str(port), "--pywb-python", pywb_python],
                              capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"newsarchive replay: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in proc.stderr


def test_config_points_pywb_at_the_archive_layout(tmp_path):
    cfg = pywb_config(tmp_path / "a", tmp_path / "colls")
    coll = cfg["collections"]["news"]
    assert coll["index_paths"] == str((tmp_path / "a" / "index").resolve()) + "/"
    assert coll["archive_paths"] == str((tmp_path / "a" / "warc").resolve()) + "/"
    assert cfg["enable_auto_colls"] is False


def test_pywb_reads_the_generated_config_as_written(tmp_path, pywb_python):
    """config.yaml is written as JSON; pywb's own YAML loader must read the same settings
    (here with a path that needs escaping)."""
    root = tmp_path / "an archive ‘ü’"
    path = write_config(root, tmp_path / "conf")
    read = subprocess.run(
        [pywb_python, "-c", "import json, sys; from pywb.utils.loaders import load_yaml_config; "
         "print(json.dumps(load_yaml_config(sys.argv[1])))", str(path)],
        capture_output=True, text=True, check=True, cwd=tmp_path)
    assert json.loads(read.stdout) == pywb_config(root, (tmp_path / "conf" / "collections"))


def test_pywb_command_runs_the_generated_launcher(archive, tmp_path):
    argv = pywb_command(archive.root, "/opt/some/python", "127.0.0.2", 8123)
    launcher = Path(argv[1])
    try:
        assert argv[0] == "/opt/some/python"
        assert argv[2:] == ["--bind", "127.0.0.2", "--port", "8123"]
        assert launcher.name == "launch.py"
        source = launcher.read_text()
        # the pywb process must not need newsarchive: nothing of ours is imported there
        assert not re.search(r"^\s*(from|import)\s+(archive|crawler|pipelines|tests)\b", source,
                             re.M)
        assert source.splitlines()[1].startswith("from pywb.apps.cli import")  # gevent patches first
        assert (launcher.parent / "config.yaml").is_file()
    finally:
        import shutil

        shutil.rmtree(launcher.parent)


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    replay_cli.register(parser.add_subparsers())
    return replay_cli.run(parser.parse_args(["replay", *argv]))


@pytest.mark.parametrize("layout", ["missing", "empty", "no-index"])
def test_unservable_archive_is_a_usage_error(tmp_path, capsys, layout):
    root = tmp_path / "archive"
    if layout != "missing":
        root.mkdir()
    if layout == "no-index":
        (root / "warc").mkdir()
    with pytest.raises(ReplayError):
        check_archive(root)
    assert _run_cli([str(root), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("newsarchive replay: ")


@pytest.mark.parametrize("argv", [[], ["s3://"], ["s3://key:secret@bucket/p"],
                                  ["{archive}", "--port", "70000"]])
def test_bad_arguments_are_usage_errors(archive, capsys, argv):
    assert _run_cli([a.format(archive=archive.root) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("newsarchive replay: ")


def test_cli_registers_replay_with_loopback_default():
    parser = argparse.ArgumentParser()
    replay_cli.register(parser.add_subparsers())
    args = parser.parse_args(["replay", "some/archive"])
    assert args.func is replay_cli.run
    assert (args.host, args.port, args.archive) == ("127.0.0.1", 8080, "some/archive")
    assert (args.pywb_python, args.setup) == (None, False)


# --- a crawled site ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crawled_base(tmp_path_factory, pywb_python):
    """``newsarchive crawl`` of a 30-article site on 127.0.0.1, then served by pywb."""
    root = tmp_path_factory.mktemp("crawled") / "archive"
    crawl_site(root, 30)
    with running_replay(root, python=pywb_python) as url:
        yield root, url


def test_crawled_site_replays_sampled_pages_with_their_own_headline(crawled_base):
    root, base = crawled_base
    records = list(iter_records(root))
    assert len(records) == 30
    for rec in random.Random(10).sample(records, 10):
        stamp = re.sub(r"\D", "", capture_of(root, rec["warc"])[1])[:14]
        for path in (f"mp_/{rec['final_url']}", f"{stamp}mp_/{rec['final_url']}"):
            status, _, body = get(base, path)
            assert status == 200, path
            assert H1.findall(body) == [rec["title"].encode()], path
    status, _, _ = get(base, f"mp_/{records[0]['final_url']}-not-archived")
    assert status == 404
