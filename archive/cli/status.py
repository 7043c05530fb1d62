"""``newsarchive status --frontier redis://host:port/db``: a shared frontier at a glance.

Read-only: queue size, URLs in flight, live and dead workers, per-minute rates and totals. A dead
worker's requests are requeued by the next live worker's heartbeat, not by ``status``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from archive.cli import UsageError


def register(sub) -> None:
    p = sub.add_parser("status", help="show a shared crawl frontier: queue, workers, rates",
                       description="Show the queue, the workers and their rates of a Redis frontier "
                                   "shared by crawler processes (docs/frontier.md).")
    p.add_argument("--frontier", metavar="redis://HOST:PORT/DB", default=os.environ.get("NEWSARCHIVE_FRONTIER_URL"),
                   help="the frontier's Redis (default: $NEWSARCHIVE_FRONTIER_URL)")
    p.add_argument("--name", default="newsarchive", help="frontier name (NEWSARCHIVE_FRONTIER_NAME)")
    p.add_argument("--spider", default="news", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from crawler.frontier import FrontierError, FrontierKeys, connect, ping, redact
    from crawler.frontier_workers import read_status

    if not args.frontier:
        raise UsageError("give --frontier redis://host:port/db (or set NEWSARCHIVE_FRONTIER_URL)")
    try:
        client = connect(args.frontier, password=os.environ.get("NEWSARCHIVE_FRONTIER_PASSWORD") or None)
        ping(client, args.frontier)
    except FrontierError as e:
        raise UsageError(str(e)) from None
    status = read_status(client, FrontierKeys(args.name, args.spider))
    status["url"] = redact(args.frontier)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        print(format_status(status))
    return 0


def format_status(status: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    rates = status["per_minute"]
    lines = [
        f"frontier {status['frontier']} on {status.get('url', '?')}",
        f"queued {status['queued']}, in flight {status['in_flight']}, "
        f"fresh fingerprints {status['seen']}",
        f"workers {status['workers_alive']} alive, {status['workers_dead']} dead"
        + (" (their requests go back to the queue at the next live worker's heartbeat)"
           if status["workers_dead"] else ""),
        "per minute (live workers): " + (", ".join(f"{k} {v:g}" for k, v in sorted(rates.items())) or "-"),
        "totals: " + (", ".join(f"{k} {v}" for k, v in sorted(status["totals"].items())) or "-"),
    ]
    if status["workers"]:
        header = ("worker", "host", "pid", "alive", "in flight", "fetched", "records", "fetched/min",
                  "up", "last seen")
        rows = [header]
        for w in status["workers"]:
            counts, per_min = w.get("counts") or {}, w.get("per_minute") or {}
            up = now - w["started"] if "started" in w else None
            rows.append((
                w["worker"], str(w.get("host", "?")), str(w.get("pid", "?")), "yes" if w["alive"] else "DEAD",
                str(w["in_flight"]), str(counts.get("fetched", 0)), str(counts.get("records", 0)),
                f"{per_min.get('fetched', 0):g}", _duration(up),
                "-" if w.get("last_seen_s") is None else f"{w['last_seen_s']:g}s ago",
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines.append("")
        lines.extend("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
