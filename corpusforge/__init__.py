"""corpusforge: one import name over the design's top-level folders (each is a symlink here)."""
