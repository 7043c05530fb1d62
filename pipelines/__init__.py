"""Writing the archive: item pipelines, WARC and record writers, and the storage they share."""
