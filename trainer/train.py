"""The proxy training loop: AdamW, warmup-stable-decay, gradient clipping, bf16 autocast on GPU, exact resume.

Loop in plain sight (nanoGPT style): batches are a pure function of the step (see `data.py`), so a checkpoint of the
model (router-balancing biases included), the optimizer, the RNG states and the step number resumes exactly: bit for
bit on CPU (tested); on a GPU as closely as two fresh runs agree (non-deterministic kernels).
With a mix manifest, its phases train in order (the curriculum), each for its share of the tokens.
Logged every `log_every` steps: loss, learning rate, gradient norm, tokens/s, MFU, expert load balance; every
`eval_every` steps and at the end: validation loss per source.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from corpusforge.core import storage
from corpusforge.core.config import apply_overrides, load_yaml_model, validate_model
from corpusforge.trainer.data import DataSource, TokenBlend, sources_from_manifest
from corpusforge.trainer.kernels import require_kernels
from corpusforge.trainer.model import (
    HybridLM,
    ModelConfig,
    count_parameters,
    flops_per_token,
    get_config,
    warm_up_kernels,
)
from corpusforge.trainer.runtime import (
    GraphedStep,
    autocast,
    compile_model,
    load_optimizer_state,
    make_optimizer,
    peak_flops,
    resolve_device,
    set_lr,
    set_tf32,
    train_step,
)

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
RESULT = "result.json"


class TrainConfig(BaseModel):
    """One proxy run: model preset (+ overrides), data, optimisation and logging."""

    model_config = ConfigDict(extra="forbid")
    preset: str = "proxy-10m"
    model: dict[str, Any] = {}  # ModelConfig fields overriding the preset, e.g. {d_model: 128, pattern: "M*E"}
    sources: list[DataSource] = []
    manifest: str | None = None  # a mix manifest (or its directory): its phases become the sources
    # Manifest phases in training order, each for its share of the tokens (Nemotron-H's two-phase curriculum: the
    # high-quality phase last). False samples every phase together, weighted by its tokens.
    curriculum: bool = True
    out_dir: str = "runs/proxy"
    seq_len: int = Field(1024, ge=8)
    batch_size: int = Field(16, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_steps: int = Field(500, ge=1)
    # AdamW as in Nemotron-H / GPT-3: betas (0.9, 0.95), weight decay 0.1, clip 1.0; peak LR for ~10-200M models.
    lr: float = Field(2e-3, gt=0)
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    # Warmup-stable-decay (Hu et al. 2024, MiniCPM; Hägele et al. 2024): linear warmup, flat, linear decay over the
    # last 20% of steps to 1% of peak. One run's stable phase can be branched off at any length.
    warmup_steps: int = Field(50, ge=0)
    decay_fraction: float = Field(0.2, ge=0, le=1)
    min_lr_ratio: float = Field(0.01, ge=0, le=1)
    router_bias_rate: float = 1e-3  # DeepSeek-V3's bias update speed gamma
    val_fraction: float = Field(0.02, gt=0, lt=1)
    eval_every: int = Field(100, ge=0)  # 0: only at the end
    eval_batches: int = Field(8, ge=1)  # per source
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(0, ge=0)  # 0: only at the end (and when stopped early)
    resume: bool = True
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = Field(0, ge=0)  # CPU threads for torch; 0 keeps torch's default (one per core)
    compile: bool = False
    # With compile: inductor's coordinate-descent kernel tuning ("coordinate_descent"), minutes more compile time.
    compile_tuning: Literal["default", "coordinate_descent"] = "default"
    # Replay each whole step as one CUDA graph after 2 eager steps (GPU only): no kernel-launch gaps.
    cuda_graph: bool = False
    progress: bool = True

    @model_validator(mode="after")
    def _data(self) -> TrainConfig:
        if not self.sources and not self.manifest:
            raise ValueError("give `sources` (name, prefixes, weight) or a `manifest`")
        return self

    @model_validator(mode="after")
    def _model(self) -> TrainConfig:
        # The preset and its overrides are checked here, so a bad model setting stops the run before any data work.
        try:
            require_kernels(get_config(self.preset, **self.model))
        except TypeError as e:  # an unknown ModelConfig field
            raise ValueError(f"model: {e}") from None
        except ValueError as e:
            raise ValueError(f"preset/model: {e}") from None
        return self


def load_train_config(path: str | Path | None, overrides: Sequence[str] = (), **fields: Any) -> TrainConfig:
    """A TrainConfig from YAML (optional), `key=value` overrides (YAML-parsed values) and keyword fields."""
    data = {k: v for k, v in fields.items() if v is not None}
    if path is None:
        return validate_model(TrainConfig, apply_overrides(data, list(overrides)), "train settings")
    # Keyword fields (the CLI's options) win over the file, as --set overrides do.
    return load_yaml_model(
        path,
        TrainConfig,
        "train config",
        "`preset`, `manifest` or `sources`, `max_steps`",
        [*overrides, *(f"{k}={json.dumps(v)}" for k, v in data.items())],
    )


@dataclass
class TrainResult:
    """What a run produced: the metric history, final per-source validation losses and throughput."""

    out_dir: str
    steps: int
    history: list[dict] = field(default_factory=list)
    val_losses: dict[str, float] = field(default_factory=dict)
    model_config: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    tokens_per_second: float = 0.0
    mfu: float | None = None


def wsd_lr(step: int, cfg: TrainConfig) -> float:
    """Warmup-stable-decay learning rate at `step` (0-based)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    decay_steps = int(cfg.decay_fraction * cfg.max_steps)
    decay_start = cfg.max_steps - decay_steps
    if step < decay_start or decay_steps == 0:
        return cfg.lr
    progress = (step - decay_start + 1) / decay_steps
    return cfg.lr * (1 - (1 - cfg.min_lr_ratio) * progress)


def build(cfg: TrainConfig) -> tuple[TokenBlend, ModelConfig]:
    """The data blend and the model config (vocabulary from the manifest's tokenizer, else from the data)."""
    sources, vocab = list(cfg.sources), None
    if cfg.manifest:
        extra, vocab = sources_from_manifest(cfg.manifest)
        sources += extra
    blend = TokenBlend(sources, cfg.seq_len, seed=cfg.seed, val_fraction=cfg.val_fraction)
    if cfg.manifest and cfg.curriculum and not cfg.sources:
        blend.phase_ends = np.cumsum(blend.weights)
    if "vocab_size" not in cfg.model:
        vocab = vocab or blend.vocab_size()
        vocab = (vocab + 63) // 64 * 64  # a multiple of 64 keeps the LM head's matmul on fast tiles
    overrides = {"vocab_size": vocab} if vocab else {}
    return blend, get_config(cfg.preset, **{**overrides, **cfg.model})


def phase_at(blend: TokenBlend, step: int, cfg: TrainConfig) -> int | None:
    """The curriculum phase (source index) that `step` trains on, or None when sources are blended."""
    if blend.phase_ends is None:
        return None
    return min(int(np.searchsorted(blend.phase_ends, (step + 0.5) / cfg.max_steps)), len(blend.phase_ends) - 1)


def evaluate(model: HybridLM, blend: TokenBlend, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """Mean validation loss per source (and their plain mean under `mean`)."""
    out = {}
    with torch.no_grad(), autocast(device):
        for i, name in enumerate(blend.names):
            batches = blend.val_batches(i, cfg.batch_size, cfg.eval_batches)
            losses = [float(model(x.to(device), y.to(device))["lm_loss"]) * len(x) for x, y in batches]
            out[name] = sum(losses) / sum(len(x) for x, _ in batches)
    out["mean"] = float(np.mean([out[n] for n in blend.names]))
    return out


def train(cfg: TrainConfig, stop_after: int | None = None) -> TrainResult:
    """Train one proxy; resumes from `out_dir/checkpoint.pt` when present. `stop_after` ends (and checkpoints)
    after that many steps, as an interruption would."""
    device = resolve_device(cfg.device)
    if cfg.cuda_graph and device.type != "cuda":
        raise ValueError(f"cuda_graph: needs a CUDA device, and this run's device is {device}")
    if cfg.threads:
        # On a busy machine fewer threads than cores avoids OpenMP oversubscription (10x slower steps seen on 2 cores).
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    blend, mcfg = build(cfg)
    model = HybridLM(mcfg).to(device)
    optimizer = make_optimizer(model, cfg.lr, cfg.betas, cfg.weight_decay, device, capturable=cfg.cuda_graph)
    out_dir = cfg.out_dir
    storage.makedirs(out_dir)
    ckpt_path = storage.join(out_dir, CHECKPOINT)
    start = 0
    history: list[dict] = []
    if cfg.resume and storage.exists(ckpt_path):
        start, history = _load_checkpoint(ckpt_path, model, optimizer, device)
    set_tf32(device.type == "cuda")
    warm_up_kernels(mcfg, cfg.batch_size, cfg.seq_len, device)  # autotune before activations fill the GPU
    forward = compile_model(model, cfg.compile_tuning) if cfg.compile else model
    params = count_parameters(mcfg)
    flops_tok = flops_per_token(mcfg, cfg.seq_len)
    peak = peak_flops(device)
    tokens_per_step = cfg.batch_size * cfg.grad_accum * cfg.seq_len
    bar = _progress(cfg, start)
    window_t, window_steps, speeds = time.perf_counter(), 0, []
    step = start
    val: dict[str, float] = {}
    run_step: Callable[..., tuple[torch.Tensor, ...]]  # the plain step or its CUDA-graphed replay
    run_step = partial(
        train_step, model, forward, optimizer, grad_clip=cfg.grad_clip, router_bias_rate=cfg.router_bias_rate
    )
    if cfg.cuda_graph:
        run_step = GraphedStep(run_step)
    for step in range(start, cfg.max_steps):
        lr = wsd_lr(step, cfg)
        set_lr(optimizer, lr)
        loss_sum, load, grad_norm = run_step(*_micro_batches(blend, step, cfg, device))
        window_steps += 1
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.max_steps:
            loss = float(loss_sum)  # syncs: timing below covers all queued work
            now = time.perf_counter()
            tok_s = window_steps * tokens_per_step / (now - window_t)
            speeds.append(tok_s)
            record: dict[str, Any]
            record = {
                "step": done,
                "loss": loss,
                "lr": lr,
                "grad_norm": float(grad_norm),
                "tokens_per_s": tok_s,
                "tokens": done * tokens_per_step,
            }
            if peak:
                record["mfu"] = flops_tok * tok_s / peak
            if (phase := phase_at(blend, step, cfg)) is not None:  # None exactly when blend.phase_ends is None
                record["phase"] = blend.names[phase]
            if load.numel():
                balance = (load.max(-1).values / load.mean(-1)).cpu()  # 1.0 = perfectly balanced
                record["expert_load_max_over_mean"] = float(balance.mean())
            history.append(record)
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tok_s:,.0f}")
            window_t, window_steps = time.perf_counter(), 0
        if (cfg.eval_every and done % cfg.eval_every == 0) or done == cfg.max_steps:
            val = evaluate(model, blend, cfg, device)
            _attach(history, done, {f"val/{k}": v for k, v in val.items()})
        bar.update(1)
        stopping = stop_after is not None and done >= stop_after and done < cfg.max_steps
        if (cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done == cfg.max_steps or stopping:
            _save_checkpoint(ckpt_path, model, optimizer, done, history, cfg, mcfg)
            _write_metrics(out_dir, history)
        if stopping:
            break
    bar.close()
    steps_done = history[-1]["step"] if history else start
    result = TrainResult(
        out_dir=out_dir,
        steps=steps_done,
        history=history,
        val_losses=val or _last_val(history),
        model_config=mcfg.to_dict(),
        parameters=params,
        tokens_per_second=float(np.median(speeds)) if speeds else 0.0,
    )
    if peak and speeds:
        result.mfu = flops_tok * result.tokens_per_second / peak
    if steps_done >= cfg.max_steps:
        storage.write_text(storage.join(out_dir, RESULT), json.dumps(result.__dict__, indent=1))
    return result


def _micro_batches(blend: TokenBlend, step: int, cfg: TrainConfig, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The step's `grad_accum` micro-batches, stacked (micro, batch, seq), on the device."""
    batches = [
        blend.batch(step * cfg.grad_accum + m, cfg.batch_size, only=phase_at(blend, step, cfg))[:2]
        for m in range(cfg.grad_accum)
    ]
    return tuple(torch.stack(t).to(device, non_blocking=True) for t in zip(*batches))


def _attach(history: list[dict], step: int, values: dict) -> None:
    if history and history[-1]["step"] == step:
        history[-1].update(values)
    else:
        history.append({"step": step, **values})


def _last_val(history: list[dict]) -> dict[str, float]:
    for record in reversed(history):
        vals = {k[4:]: v for k, v in record.items() if k.startswith("val/")}
        if vals:
            return vals
    return {}


def _progress(cfg: TrainConfig, start: int):
    from tqdm.auto import tqdm

    return tqdm(total=cfg.max_steps, initial=start, desc="train", unit="step", disable=not cfg.progress)


def _save_checkpoint(
    path: str, model: HybridLM, optimizer, step: int, history: list[dict], cfg: TrainConfig, mcfg: ModelConfig
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "history": history,
        "config": cfg.model_dump(mode="json"),
        "model_config": mcfg.to_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": np.random.get_state(),
            "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
    }
    with storage.atomic_write(path, "wb") as f:
        torch.save(state, f)


def _load_checkpoint(path: str, model: HybridLM, optimizer, device: torch.device) -> tuple[int, list[dict]]:
    with storage.open_file(path, "rb") as f:
        state = torch.load(f, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    load_optimizer_state(optimizer, state["optimizer"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"].cpu())
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    return state["step"], state["history"]


def load_result(out_dir: str) -> TrainResult | None:
    """The result a finished run wrote (None while it has not finished)."""
    path = storage.join(out_dir, RESULT)
    if not storage.exists(path):
        return None
    return TrainResult(**json.loads(storage.read_text(path)))


def checkpoint_step(out_dir: str) -> int | None:
    """The step a run in `out_dir` would resume from (None: no checkpoint, it starts at step 0)."""
    path = storage.join(out_dir, CHECKPOINT)
    if not storage.exists(path):
        return None
    with storage.open_file(path, "rb") as f:
        return int(torch.load(f, map_location="cpu", weights_only=False)["step"])


def _write_metrics(out_dir: str, history: list[dict]) -> None:
    storage.write_text(storage.join(out_dir, METRICS), "".join(json.dumps(r) + "\n" for r in history))


def main_summary(result: TrainResult) -> str:
    """A few lines for the command line."""
    lines = [
        f"steps {result.steps}  tokens/s {result.tokens_per_second:,.0f}"
        + (f"  MFU {100 * result.mfu:.1f}%" if result.mfu else ""),
        f"parameters: total {result.parameters.get('total', 0) / 1e6:.1f}M, "
        f"active {result.parameters.get('active', 0) / 1e6:.1f}M",
    ]
    lines += [f"val loss {k}: {v:.4f}" for k, v in result.val_losses.items()]
    return "\n".join(lines)
