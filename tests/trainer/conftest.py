"""Shared fixtures: Megatron shards of real text (GSM8K) and of the same words shuffled, via megatron-core."""

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

GSM8K = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "benchmarks" / "gsm8k" / "train.jsonl"


def gsm8k_texts(n: int) -> list[str]:
    with open(GSM8K) as f:
        rows = [json.loads(line) for _, line in zip(range(n), f)]
    return [r["question"] + "\n" + r["answer"] for r in rows]


def shuffled_words(texts: list[str], seed: int) -> list[str]:
    """The same words in random order across the whole corpus, cut back into documents of the same lengths."""
    words = [w for t in texts for w in t.split()]
    random.Random(seed).shuffle(words)
    out, i = [], 0
    for t in texts:
        n = len(t.split())
        out.append(" ".join(words[i : i + n]))
        i += n
    return out


def write_shard(prefix: Path, docs: list[list[int]]) -> str:
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    builder = IndexedDatasetBuilder(str(prefix) + ".bin", dtype=np.uint16)
    for ids in docs:
        builder.add_document(torch.tensor(ids), [len(ids)])
    builder.finalize(str(prefix) + ".idx")
    return str(prefix)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Tiny matrices on a shared 2-core machine: extra threads only spin against the other processes.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """{'tokenizer', 'clean': prefix, 'noise': prefix, 'clean_docs': token lists} over ~1,500 GSM8K items."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    root = tmp_path_factory.mktemp("shards")
    texts = gsm8k_texts(1500)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=512, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    eod = tok.token_to_id("<|endoftext|>")
    encode = lambda docs: [e.ids + [eod] for e in tok.encode_batch(docs)]
    clean = encode(texts)
    noise = encode(shuffled_words(texts, seed=0))
    return {
        "tokenizer": tok,
        "vocab": tok.get_vocab_size(),
        "clean_docs": clean,
        "clean": write_shard(root / "clean", clean),
        "noise": write_shard(root / "noise", noise),
        "clean_part2": write_shard(root / "clean_part2", clean[:200]),
    }


@pytest.fixture
def shard_writer():
    return write_shard


@pytest.fixture
def tiny_model():
    return _tiny_model


def _tiny_model(**extra) -> dict:
    """ModelConfig overrides for a CPU-sized hybrid with every layer kind."""
    return {
        "d_model": 64,
        "pattern": "ME*E",
        "mamba_d_state": 16,
        "mamba_head_dim": 16,
        "mamba_chunk": 32,
        "attn_heads": 4,
        "attn_kv_heads": 2,
        "attn_head_dim": 16,
        "moe_experts": 8,
        "moe_top_k": 2,
        "moe_expert_dim": 32,
        "moe_shared_dim": 32,
        **extra,
    }
