"""Deduplication: exact (normalised-text hash) and fuzzy (MinHash, LSH, connected components)."""
