"""Text filters: language ID, the Gopher/C4/FineWeb rules, PII normalisation."""
