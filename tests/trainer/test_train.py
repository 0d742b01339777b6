"""Training on real shards: the loss falls, resume is exact, and clean data beats shuffled-word noise."""

import copy
import json
from functools import partial

import pytest

from corpusforge.trainer.train import TrainConfig, load_train_config, train, wsd_lr


def _config(corpus, tiny_model, tmp_path, **kw):
    base = dict(
        preset="proxy-10m",
        model=tiny_model(),
        seq_len=64,
        batch_size=8,
        lr=3e-3,
        warmup_steps=5,
        eval_batches=2,
        eval_every=0,
        log_every=1,
        device="cpu",
        progress=False,
        out_dir=str(tmp_path),
        sources=[{"name": "clean", "prefix": corpus["clean"], "weight": 1.0}],
    )
    base.update(kw)
    return TrainConfig.model_validate(base)


def test_loss_falls_on_a_tiny_corpus(corpus, tiny_model, tmp_path):
    result = train(_config(corpus, tiny_model, tmp_path, max_steps=40))
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < losses[0] - 1.5  # from ~ln(512) = 6.2 at init
    assert result.val_losses["clean"] < losses[0] - 1.5
    assert result.model_config["vocab_size"] == 512
    saved = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert saved[-1]["step"] == 40 and "val/clean" in saved[-1]
    assert all(r["expert_load_max_over_mean"] >= 1.0 for r in saved if "loss" in r)


def test_resume_reproduces_an_uninterrupted_run(corpus, tiny_model, tmp_path):
    whole = train(_config(corpus, tiny_model, tmp_path / "whole", max_steps=8, warmup_steps=2))
    cfg = _config(corpus, tiny_model, tmp_path / "split", max_steps=8, warmup_steps=2)
    first = train(cfg, stop_after=4)
    assert first.steps == 4 and (tmp_path / "split" / "checkpoint.pt").exists()
    resumed = train(cfg)
    losses = lambda r: [(h["step"], h["loss"]) for h in r.history if "loss" in h]
    assert losses(resumed) == losses(whole)  # bit-identical, steps 5-8 included
    assert resumed.val_losses == whole.val_losses


def test_clean_source_beats_shuffled_word_noise_on_clean_validation(corpus, tiny_model, tmp_path):
    val = {}
    for name, weights in (("clean", (1.0, 0.0)), ("noise", (0.0, 1.0))):
        sources = [
            {"name": "clean", "prefix": corpus["clean"], "weight": weights[0]},
            {"name": "noise", "prefix": corpus["noise"], "weight": weights[1]},
        ]
        result = train(_config(corpus, tiny_model, tmp_path / name, max_steps=60, log_every=20, sources=sources))
        val[name] = result.val_losses
    # Same words, same unigram statistics: only word order differs, and the clean proxy must have learnt it.
    assert val["clean"]["clean"] < val["noise"]["clean"] - 0.2
    assert val["noise"]["noise"] < val["clean"]["noise"]


def test_wsd_schedule_shape():
    cfg = TrainConfig(
        sources=[{"name": "a", "prefix": "x"}],
        lr=1.0,
        warmup_steps=10,
        max_steps=100,
        decay_fraction=0.2,
        min_lr_ratio=0.0,
    )
    lrs = [wsd_lr(s, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == 1.0 and lrs[79] == 1.0
    assert lrs[80] < 1.0 and lrs[99] == pytest.approx(0.0) and lrs == sorted(lrs[:80]) + lrs[80:]


def test_yaml_config_with_overrides(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("preset: proxy-10m\nsources: [{name: a, prefix: /x}]\nmodel: {d_model: 128}\n")
    cfg = load_train_config(path, ["seq_len=128", "model.pattern=M*E"], max_steps=7)
    assert cfg.seq_len == 128 and cfg.model == {"d_model": 128, "pattern": "M*E"} and cfg.max_steps == 7


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.d_modl=3", "d_modl"),
        ("model.pattern=MX", "pattern"),
        ("preset=proxy-1m", "unknown preset"),
        ("model.mamba_kernel=cuda", "mamba_kernel"),
        ("compile_tuning=max", "compile_tuning"),
    ],
)
def test_bad_model_settings_stop_before_any_work(tmp_path, override, message):
    from corpusforge.core.config import ConfigError

    path = tmp_path / "train.yaml"
    path.write_text("preset: proxy-10m\nsources: [{name: a, prefix: /does/not/exist}]\n")
    with pytest.raises(ConfigError, match=message):
        load_train_config(path, [override])


def test_compile_tuning_reaches_inductor(monkeypatch):
    """`compile_tuning: coordinate_descent` compiles with inductor's coordinate-descent option, scoped to the model;
    every compile leaves GPU rows unpadded (the Mamba mixer op takes in_proj's output dense)."""
    import torch

    from corpusforge.trainer.runtime import compile_model

    seen = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: seen.append(kw) or model)
    module = torch.nn.Linear(2, 2)
    assert compile_model(module) is module and compile_model(module, "coordinate_descent") is module
    assert seen == [
        {"options": {"comprehensive_padding": False}},
        {"options": {"comprehensive_padding": False, "coordinate_descent_tuning": True}},
    ]


def test_cuda_graph_on_a_cpu_run_stops_before_any_work(corpus, tiny_model, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="cuda_graph"):
        train(_config(corpus, tiny_model, out, max_steps=2, cuda_graph=True))
    assert not out.exists()


def test_capturable_optimizer_resumes_from_a_plain_checkpoint():
    """A checkpoint written without CUDA graphs loads into the capturable AdamW they need: it stays capturable, its
    learning rate stays the tensor a graph reads (set in place), and the update continues the plain one's."""
    import torch

    from corpusforge.trainer.runtime import load_optimizer_state, make_optimizer, set_lr

    def model_and_opt(capturable):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8))
        return model, make_optimizer(model, 1e-2, (0.9, 0.95), 0.1, torch.device("cpu"), capturable=capturable)

    def step(model, opt, lr):
        set_lr(opt, lr)
        model(torch.ones(4, 8)).square().sum().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    plain, plain_opt = model_and_opt(False)
    for _ in range(3):
        step(plain, plain_opt, 1e-2)
    graphed, graphed_opt = model_and_opt(True)
    graphed.load_state_dict(plain.state_dict())
    lr_tensors = [g["lr"] for g in graphed_opt.param_groups]
    load_optimizer_state(graphed_opt, copy.deepcopy(plain_opt.state_dict()))  # as torch.load gives it
    assert all(g["capturable"] and g["lr"] is t for g, t in zip(graphed_opt.param_groups, lr_tensors))
    step(plain, plain_opt, 5e-3)
    step(graphed, graphed_opt, 5e-3)
    assert float(lr_tensors[0]) == pytest.approx(5e-3)
    for a, b in zip(plain.parameters(), graphed.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="CUDA graphs need a GPU")
def test_graphed_steps_follow_the_eager_ones(tiny_model):
    """Whole-step CUDA graph replay (forward, backward, clipping, AdamW, router biases) gives the eager losses."""
    import torch

    from corpusforge.trainer.model import HybridLM, get_config
    from corpusforge.trainer.runtime import GraphedStep, make_optimizer, train_step

    def losses(graphed):
        torch.manual_seed(0)
        model = HybridLM(get_config("proxy-10m", **tiny_model(vocab_size=512))).cuda()
        opt = make_optimizer(model, 3e-3, (0.9, 0.95), 0.1, torch.device("cuda"), capturable=graphed)
        run = partial(train_step, model, model, opt)
        run = GraphedStep(run) if graphed else run
        data = torch.randint(0, 512, (6, 1, 4, 65), device="cuda")
        return [float(run(x[..., :-1], x[..., 1:])[0]) for x in data]

    eager, graphed = losses(False), losses(True)
    assert graphed == pytest.approx(eager, rel=2e-2) and graphed[-1] < graphed[0]
