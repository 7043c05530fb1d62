"""scripts/extraction_gate.py: skips without the benchmark, passes/fails against the floor."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "scripts" / "extraction_gate.py"
SEED = Path(__file__).parent / "data" / "extraction" / "seed-article.html"

# A two-page stand-in for the shared benchmark, with a scorer of the same interface
# (load_scrapinghub_layout, score_doc, aggregate) and a word-overlap metric.
FAKE_SCORER = """
import json, re
from pathlib import Path
W = re.compile(r"\\w+")
class Doc:
    def __init__(self, doc_id, url, gold, path):
        self.id, self.url, self.golds, self.path = doc_id, url, [gold], Path(path)
    def read_html(self):
        return self.path.read_text(encoding="utf-8")
def load_scrapinghub_layout(data_dir):
    data_dir = Path(data_dir)
    truth = json.loads((data_dir / "ground-truth.json").read_text())
    return [Doc(k, v["url"], v["articleBody"], data_dir / "html" / f"{k}.html") for k, v in sorted(truth.items())]
def score_doc(doc, pred):
    g, p = set(W.findall(doc.golds[0])), set(W.findall(pred))
    tp = len(g & p)
    return {"precision": tp / len(p) if p else None, "recall": tp / len(g) if g else None}
def aggregate(records):
    pr = [r["precision"] for r in records if r["precision"] is not None]
    rc = [r["recall"] for r in records if r["recall"] is not None]
    p, r = sum(pr) / len(pr), sum(rc) / len(rc)
    return {"f1": 2 * p * r / (p + r), "precision": p, "recall": r}
"""


def make_bench(tmp_path: Path) -> Path:
    bench = tmp_path / "bench"
    data = bench / "extraction" / "scrapinghub"
    (data / "html").mkdir(parents=True)
    (bench / "score_extraction.py").write_text(FAKE_SCORER)
    html = SEED.read_text(encoding="utf-8")
    gold = " ".join(p.strip() for p in re.findall(r"<p>(.*?)</p>", html))
    truth = {}
    for i in range(2):
        (data / "html" / f"doc{i}.html").write_text(html, encoding="utf-8")
        truth[f"doc{i}"] = {
            "url": "https://nationaltimes.example/2025/10/22/japan/",
            "articleBody": gold,
        }
    (data / "ground-truth.json").write_text(json.dumps(truth))
    return bench


def run(*args: str, env_bench: str | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    if env_bench:
        env["NEWSARCHIVE_BENCH_DIR"] = env_bench
    return subprocess.run(
        [sys.executable, str(GATE), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_passes_and_fails_against_the_floor(tmp_path):
    bench = make_bench(tmp_path)
    floor = tmp_path / "floor.json"
    done = run("--bench", str(bench), "--floor", str(floor), "--update-floor")
    assert done.returncode == 0, done.stderr
    pinned = json.loads(floor.read_text())
    assert pinned["f1"] > 0.9 and pinned["pages"] == 2
    done = run("--bench", str(bench), "--floor", str(floor))
    assert done.returncode == 0 and "passed" in done.stdout
    pinned["f1"] = 1.5  # a floor no extractor can reach
    floor.write_text(json.dumps(pinned))
    done = run("--bench", str(bench), "--floor", str(floor))
    assert done.returncode == 1 and "FAILED" in done.stdout and "f1" in done.stdout


def test_skips_without_the_benchmark(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(GATE.parent))
    try:
        import extraction_gate
    finally:
        sys.path.remove(str(GATE.parent))
    monkeypatch.setattr(extraction_gate, "ROOT", tmp_path / "checkout")
    monkeypatch.setattr(extraction_gate, "find_bench", lambda explicit: None)
    assert extraction_gate.main([]) == 0
    assert "SKIPPED" in capsys.readouterr().out


def test_find_bench_prefers_the_explicit_folder(tmp_path):
    sys.path.insert(0, str(GATE.parent))
    try:
        import extraction_gate
    finally:
        sys.path.remove(str(GATE.parent))
    bench = make_bench(tmp_path)
    assert extraction_gate.find_bench(str(bench)) == bench
    assert extraction_gate.find_bench(str(tmp_path / "nowhere")) != tmp_path / "nowhere"


def test_broken_floor_is_bad_usage(tmp_path):
    bench = make_bench(tmp_path)
    floor = tmp_path / "floor.json"
    floor.write_text("{not json")
    assert run("--bench", str(bench), "--floor", str(floor)).returncode == 2
