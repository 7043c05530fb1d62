"""The bundled demo news site (the fictional Meridian Courier) and the server that hosts it.

The site lives under ``site/`` as package data; ``crawler.demo.server.DemoSite`` serves it on
127.0.0.1 for ``newsarchive demo`` and for tests. See docs/demo.md.
"""
