"""Token counts for chunking, length caps and the context check, from a fast `tokenizers` tokenizer."""

from __future__ import annotations

import threading
from collections.abc import Sequence

_COUNTERS: dict[str, TokenCounter] = {}
_LOCK = threading.Lock()
# Chat templates wrap each message in a few role and separator tokens (ChatML: <|im_start|>role\n ... <|im_end|>\n)
# and open the assistant turn after the last one; an estimate for servers whose template we do not hold.
PER_MESSAGE_TOKENS = 5
REPLY_PRIMING_TOKENS = 3


class TokenCounter:
    """Counts tokens with a `tokenizer.json`: `embedded` is the bundled model's own tokenizer."""

    def __init__(self, spec: str = "embedded"):
        from tokenizers import Tokenizer

        self.spec = spec
        if spec == "embedded":
            from corpusforge.synthetic.backends.embedded import ensure_converted

            path = str(ensure_converted() / "tokenizer.json")
        else:
            path = spec
        from corpusforge.core import storage

        self._tok = Tokenizer.from_buffer(storage.read_bytes(path))

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def count_messages(self, messages: Sequence[dict[str, str]]) -> int:
        """Prompt tokens of a chat, template overhead estimated."""
        counts = self.count_many([m["content"] for m in messages])
        return sum(counts) + PER_MESSAGE_TOKENS * len(messages) + REPLY_PRIMING_TOKENS


def token_counter(spec: str = "embedded") -> TokenCounter:
    """One counter per tokenizer per process."""
    with _LOCK:
        if spec not in _COUNTERS:
            _COUNTERS[spec] = TokenCounter(spec)
        return _COUNTERS[spec]
