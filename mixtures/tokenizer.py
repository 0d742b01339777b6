"""Tokenizers: train a byte-level BPE with HF tokenizers, load any tokenizer.json, encode in batches."""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from corpusforge.core import storage

DEFAULT_EOD = "<|endoftext|>"


def train_bpe(
    texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = (DEFAULT_EOD,), min_frequency: int = 2
) -> Tokenizer:
    """Train a byte-level BPE (GPT-2 style: every byte is a symbol, so no text is out of vocabulary)."""
    tok = Tokenizer(models.BPE())
    # GPT-2's byte-level pre-tokenizer: split on its regex, map bytes to printable symbols.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok: Tokenizer, path: str) -> str:
    """Write tokenizer.json atomically (local or s3://); returns the path."""
    storage.write_text(path, tok.to_str())
    return path


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, sha: str) -> Tokenizer:
    return Tokenizer.from_str(storage.read_text(path))


def load_tokenizer(path: str) -> Tokenizer:
    """Load a tokenizer.json once per process (cached by path and content hash)."""
    return _load_cached(path, tokenizer_sha256(path))


def tokenizer_sha256(path: str) -> str:
    return hashlib.sha256(storage.read_bytes(path)).hexdigest()


def eod_id(tok: Tokenizer, eod_token: str | None) -> int | None:
    """The id of the end-of-document token, or None when no EOD is appended."""
    if eod_token is None:
        return None
    tid = tok.token_to_id(eod_token)
    if tid is None:
        raise KeyError(f"tokenizer.eod_token: {eod_token!r} is not in the tokenizer's vocabulary")
    return tid


def token_dtype(vocab_size: int) -> type[np.number]:
    """Token dtype of the .bin: uint16 below 65500 ids, else int32 (megatron-core's DType.optimal_dtype)."""
    return np.uint16 if vocab_size < 65500 else np.int32


def encode_batches(
    tok: Tokenizer, texts: list[str], eod: int | None, batch_size: int = 1000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Encode texts in batches; yields (lengths int64, concatenated ids int32) per batch, EOD appended."""
    for start in range(0, len(texts), batch_size):
        encs = tok.encode_batch_fast(texts[start : start + batch_size], add_special_tokens=False)
        ids = [e.ids for e in encs]
        if eod is not None:
            for x in ids:
                x.append(eod)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(lengths.sum()))
        yield lengths, flat
