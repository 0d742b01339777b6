"""A small RegMix study end to end on CPU: proxies train, the fit ranks them, the recommendation favours clean data."""

import json

import numpy as np
import pytest
import yaml

from corpusforge.core.config import ConfigError
from corpusforge.trainer.ablate import fit_regression, run_study
from corpusforge.trainer.study import StudySpec, load_study


def test_study_end_to_end_recommends_the_clean_source(corpus, tiny_model, tmp_path):
    spec = StudySpec(
        name="clean-vs-noise",
        out_dir=str(tmp_path / "study"),
        proxies=5,
        seed=3,
        candidates=2000,
        top_average=20,
        sources=[{"name": "clean", "prefixes": [corpus["clean"]]}, {"name": "noise", "prefixes": [corpus["noise"]]}],
        target={"clean": 1.0},
        train={
            "preset": "proxy-10m",
            "model": tiny_model(),
            "seq_len": 64,
            "batch_size": 8,
            "max_steps": 30,
            "lr": 6e-3,
            "warmup_steps": 5,
            "eval_batches": 2,
            "eval_every": 0,
            "log_every": 5,
            "device": "cpu",
        },
    )
    result = run_study(spec)
    w = np.array(result.weights)
    assert w.shape == (5, 2) and np.allclose(w.sum(1), 1) and np.allclose(w[0], 0.5)  # uniform anchor first
    # more clean data -> lower clean validation loss, and the regression sees it. Proxies share their sampling
    # randomness (data.py), so the ordering is the mixtures' doing: seeds 0-5 of this spec gave r in [-1, -0.98].
    assert np.corrcoef(w[:, 0], result.target)[0, 1] < -0.8
    assert result.recommended["clean"] > 0.6 and abs(sum(result.recommended.values()) - 1) < 1e-9
    assert result.spearman > 0.5
    saved = json.loads((tmp_path / "study" / "study.json").read_text())
    assert saved["recommended"] == result.recommended and len(saved["curves"]) == 5
    page = (tmp_path / "study" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "Recommended mixture" in page
    # a rerun resumes every finished proxy instead of training it again
    again = run_study(spec)
    assert again.target == result.target


def test_regression_recovers_a_known_loss_surface():
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(3), size=40)
    loss = 3.0 - 0.8 * w[:, 0] + 0.3 * w[:, 2] + rng.normal(0, 0.005, 40)
    for kind in ("ridge", "gbm"):
        _, loo, used = fit_regression(kind, w, loss)
        assert used == kind and np.corrcoef(loo, loss)[0, 1] > 0.9


def test_study_yaml_is_validated(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"out_dir": "x", "sources": [{"name": "a", "prefixes": ["p"]}]}))
    with pytest.raises(ConfigError, match="at least two sources"):
        load_study(path)
    path.write_text(
        yaml.safe_dump(
            {
                "out_dir": "x",
                "sources": [{"name": "a", "prefixes": ["p"]}, {"name": "b", "prefixes": ["q"]}],
                "train": {"sources": []},
            }
        )
    )
    with pytest.raises(ConfigError, match="set by the study"):
        load_study(path)


def test_proxies_on_several_devices_give_the_sequential_study(corpus, tiny_model, tmp_path, monkeypatch):
    """Two worker processes, one per device (two CPUs here, GPUs on a node): every proxy's losses are the ones the
    one-at-a-time study gets, in the same order, and each worker keeps its own device."""

    def spec(out, devices=(), **train):
        return StudySpec(
            name="par",
            out_dir=str(tmp_path / out),
            proxies=3,
            seed=1,
            candidates=500,
            top_average=10,
            sources=[
                {"name": "clean", "prefixes": [corpus["clean"]]},
                {"name": "noise", "prefixes": [corpus["noise"]]},
            ],
            devices=list(devices),
            train={
                "preset": "proxy-10m",
                "model": tiny_model(),
                "seq_len": 32,
                "batch_size": 4,
                "max_steps": 8,
                "warmup_steps": 2,
                "eval_batches": 1,
                "eval_every": 0,
                "log_every": 4,
                "threads": 1,
                **train,
            },
        )

    from corpusforge.trainer import ablate

    pools = []

    class RecordingPool(ablate.ProcessPoolExecutor):
        def __init__(self, workers, **kw):
            pools.append(workers)
            super().__init__(workers, **kw)

    monkeypatch.setattr(ablate, "ProcessPoolExecutor", RecordingPool)
    sequential = run_study(spec("seq"))
    assert pools == []
    parallel = run_study(spec("par", devices=["cpu", "cpu"]))
    assert pools == [2]
    assert parallel.target == sequential.target and parallel.val_losses == sequential.val_losses
    assert parallel.weights == sequential.weights
    with pytest.raises(ValueError, match="devices"):
        spec("bad", devices=["cpu"], device="cpu")


def test_recommended_blend_is_the_study_blend_at_the_recommended_weights(tmp_path):
    from corpusforge.mixtures.spec import load_blend, validate_blend
    from corpusforge.trainer.ablate import StudyResult, recommended_blend

    study_blend = "trainer/examples/demo_study_blend.yaml"
    spec = StudySpec(out_dir=str(tmp_path / "study"), blend=study_blend)
    weights = {"high": 0.6, "medium": 0.3, "low": 0.1}
    result = StudyResult(
        names=list(weights),
        weights=[],
        target=[],
        val_losses=[],
        cv_predicted=[],
        regression="ridge",
        spearman=0.0,
        mae=0.0,
        recommended=weights,
        predicted_loss=0.0,
        best_observed=0,
    )
    blend = validate_blend(recommended_blend(spec, result))
    original = load_blend(study_blend)
    assert [(p.name, p.fraction, p.weights) for p in blend.phases] == [("recommended", 1.0, weights)]
    assert blend.sources == original.sources and blend.tokenizer == original.tokenizer
    assert blend.output == str(tmp_path / "study" / "recommended_mix")
    assert (
        recommended_blend(
            StudySpec(out_dir="x", sources=[{"name": "a", "prefixes": ["p"]}, {"name": "b", "prefixes": ["q"]}]), result
        )
        is None
    )
