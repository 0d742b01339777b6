"""Readers: input files (WARC, Parquet, JSONL) to documents, every unreadable record counted."""
