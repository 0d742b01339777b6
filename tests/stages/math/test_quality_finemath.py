"""The FineMath classifier as the math quality backend: read from a local folder only, a clear error naming the field
when it is asked for and absent, and scores clipped and cut as Curator does."""

from __future__ import annotations

import pytest

from corpusforge.core.config import ConfigError
from corpusforge.core.document import Document
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.stages.math.quality import MathQuality


def _pipeline(**stage) -> dict:
    return {
        "name": "t",
        "input": {"type": "parquet", "paths": ["x/*.parquet"]},
        "stages": [{"type": "math_quality", **stage}],
        "output": "out",
    }


def test_finemath_asked_for_and_missing_names_the_field(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "absent", tmp_path / "empty"):
        with pytest.raises((ConfigError, ValueError), match=r"model \(backend: finemath\).*never downloads"):
            validate_pipeline(_pipeline(backend="finemath", model=str(folder)))


def test_a_local_sequence_classifier_folder_scores_pages(tmp_path, monkeypatch):
    """A small BERT regression model saved the way the FineMath classifier is laid out (random weights: this tests
    the loading, cropping and cutting, not FineMath's judgement), loaded with the hub switched off."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "sum", "of", "x", "is", "integral", "cat"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    fast.save_pretrained(str(tmp_path / "finemath"))
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=1,
        max_position_embeddings=520,
    )
    BertForSequenceClassification(config).save_pretrained(str(tmp_path / "finemath"))

    stage = MathQuality(backend="finemath", model=str(tmp_path / "finemath"), min_score=0, device="cpu")
    docs = [Document(f"d{i}", t, "math", {}) for i, t in enumerate(["the sum of x", "the cat " * 2000, "integral"])]
    out = list(stage.run(docs))
    assert len(out) == 3 and stage.ledger.balanced
    for d in out:
        assert 0.0 <= d.annotations["scores"]["math_quality"] <= 5.0
        assert d.annotations["math_quality"] == round(d.annotations["scores"]["math_quality"])
