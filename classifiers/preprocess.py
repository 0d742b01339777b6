"""The one text preprocessing that training and scoring share, so a model never sees a text
prepared differently from the way it was trained."""

from __future__ import annotations

# Bumped whenever `prepare_text` changes; a model trained under another version refuses to load.
PREPROCESS_VERSION = "1"

# Long documents carry their quality signal in the first pages; the cap bounds the cost of one
# pathological document (fastText and the tokenizer are linear in length).
MAX_CHARS = 100_000


def prepare_text(text: str, max_chars: int = MAX_CHARS) -> str:
    """The text a classifier sees: newlines folded to spaces, length capped.

    DCLM's fastText classifier (Li et al. 2024, `fasttext_filter`) sees the document with its
    newlines replaced by spaces and nothing else; fastText splits on whitespace itself. Anything
    heavier (lowercasing, punctuation splitting) costs more than the 15% budget over raw
    fastText predict that the benchmark holds us to.
    """
    return text[:max_chars].replace("\n", " ")
