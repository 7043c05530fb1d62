"""Reading the archive: WARC records, CDXJ index, replay, re-extraction, export, and the CLI."""
