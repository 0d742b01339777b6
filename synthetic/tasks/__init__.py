"""Generation tasks built on the LLM stage: Nemotron-CC rephrasing (`rephrase.py`)."""
