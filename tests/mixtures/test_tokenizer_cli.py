"""Byte-level BPE training, the `tokenizer train` and `mix` commands."""

from __future__ import annotations

import json

import numpy as np
import yaml
from typer.testing import CliRunner

from corpusforge.cli import app
from corpusforge.mixtures.manifest import load_mix_manifest
from corpusforge.mixtures.tokenizer import encode_batches, eod_id, load_tokenizer, token_dtype, train_bpe


def test_byte_level_bpe_round_trips_any_text():
    texts = ["The quick brown fox jumps over the lazy dog. " * 20, "Zahlen 12345 und Umlaute äöü, 中文, emoji 🙂"]
    tok = train_bpe(texts, 300)
    assert tok.get_vocab_size() <= 300 and tok.token_to_id("<|endoftext|>") == 0
    for t in texts + ["never seen: ŋ ʒ ∮ \x00 \t tab"]:  # byte-level: nothing is out of vocabulary
        assert tok.decode(tok.encode(t).ids) == t
    lengths, flat = next(encode_batches(tok, texts, eod_id(tok, "<|endoftext|>"), batch_size=10))
    assert lengths.tolist() == [len(tok.encode(t).ids) + 1 for t in texts]
    assert flat[lengths[0] - 1] == 0 and flat[-1] == 0
    assert token_dtype(300) == np.uint16 and token_dtype(65500) == np.int32


def test_tokenizer_train_command(corpus, tmp_path):
    out = tmp_path / "tok.json"
    # the group registers lazily by argv in the real CLI; invoke the sub-app it registers
    from corpusforge import cli
    from corpusforge.cli.tokenizer import app as tokenizer_app

    assert "corpusforge.cli.tokenizer:app" in open(cli.__file__).read()
    res = CliRunner().invoke(
        tokenizer_app, ["train", str(corpus), "--out", str(out), "--vocab-size", "600", "--sample-docs", "200"]
    )
    assert res.exit_code == 0, res.output
    tok = load_tokenizer(str(out))
    assert tok.get_vocab_size() == 600
    assert json.loads(out.read_text())["model"]["type"] == "BPE"


def test_mix_command_trains_its_tokenizer_and_reports_errors(corpus, make_blend, tmp_path):
    data = make_blend(corpus, tmp_path / "out")  # tokenizer trained from the blend's own sources
    path = tmp_path / "blend.yaml"
    path.write_text(yaml.safe_dump(data))
    res = CliRunner().invoke(app, ["mix", str(path)])
    assert res.exit_code == 0, res.output
    manifest = load_mix_manifest(str(tmp_path / "out"))
    assert manifest.tokenizer.vocab_size == 1000 and manifest.tokenizer.eod_id == 0
    assert all(abs(p.shares[s] - p.weights[s]) <= 0.005 for p in manifest.phases for s in p.weights)

    bad = CliRunner().invoke(app, ["mix", str(path), "--set", "phases.0.weights.math=0.9"])
    assert bad.exit_code == 2
    assert "phases.0" in bad.output and "weights must sum to 1" in bad.output
