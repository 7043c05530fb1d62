"""``newsarchive crawl SEED... [--sites FILE] [--out URI] [--max-articles N] [--since AGE]``."""

from __future__ import annotations

import argparse
import sys

from archive.cli import UsageError


def parse_set(values: list[str]) -> dict[str, str]:
    out = {}
    for v in values or []:
        if "=" not in v:
            raise UsageError(f"--set expects NAME=VALUE, got {v!r}")
        k, _, val = v.partition("=")
        out[k.strip()] = val
    return out


def add_crawl_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("seeds", nargs="*", metavar="SEED",
                   help="homepage, RSS/Atom feed, sitemap, news sitemap, robots.txt or article URL")
    p.add_argument("--sites", metavar="FILE", help="TOML file of sites (feeds, sitemaps, patterns)")
    p.add_argument("--out", default="./archive", metavar="URI", help="archive folder (default ./archive)")
    p.add_argument("--max-articles", type=int, default=0, metavar="N", help="stop after N article records")
    p.add_argument("--since", metavar="AGE", help="skip discovered articles older than AGE (36h, 7d, ISO date)")
    p.add_argument("--crawl-id", help="use this crawl id instead of a new one")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any Scrapy / NEWSARCHIVE_* setting, e.g. --set DOWNLOAD_DELAY=1")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING (default: INFO on a terminal, WARNING in a pipe)")
    p.add_argument("--frontier", metavar="redis://HOST:PORT/DB",
                   help="share the queue with other crawler processes through this Redis (docs/frontier.md)")


def overrides_from(args) -> dict:
    overrides = parse_set(args.set)
    if args.max_articles:
        overrides["NEWSARCHIVE_MAX_ARTICLES"] = args.max_articles
    if args.since:
        from crawler.spiders.news import parse_age

        try:
            parse_age(args.since)
        except ValueError as e:
            raise UsageError(str(e)) from None
        overrides["NEWSARCHIVE_SINCE"] = args.since
    if args.crawl_id:
        overrides["NEWSARCHIVE_CRAWL_ID"] = args.crawl_id
    if args.log_level:
        overrides["LOG_LEVEL"] = args.log_level.upper()
    if getattr(args, "frontier", None):
        from crawler.frontier import FrontierError, cli_overrides, preflight
        from crawler.runner import build_settings

        try:
            overrides.update(cli_overrides(args.frontier))
            preflight(build_settings(args.out, overrides), args.seeds, args.sites)
        except FrontierError as e:
            raise UsageError(str(e)) from None
    return overrides


def register(sub) -> None:
    p = sub.add_parser("crawl", help="crawl news sites into the archive",
                       description="Crawl seeds (or a sites file) politely into a WARC archive and article records.")
    add_crawl_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from crawler.runner import CrawlFailed, run_crawl
    from crawler.sites import SitesConfigError

    overrides = overrides_from(args)
    try:
        result = run_crawl(args.seeds, sites_file=args.sites, out=args.out, overrides=overrides)
    except SitesConfigError as e:
        raise UsageError(str(e)) from None
    except CrawlFailed as e:
        print(f"newsarchive crawl: {e}", file=sys.stderr)
        return 1
    print(result.summary())
    if result.exit_code:
        print(f"newsarchive crawl: some data could not be written: {result.errors}", file=sys.stderr)
    return result.exit_code
