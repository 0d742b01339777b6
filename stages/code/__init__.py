"""The code lane: repository readers, licenses, languages, filters, secrets and repository packing."""
