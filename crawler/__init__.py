"""Crawling: the Scrapy project (spiders, middlewares, settings, site configs)."""
