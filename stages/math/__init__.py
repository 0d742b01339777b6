"""Math pages: the raw-HTML prefilter, math-preserving extraction, math quality score."""
