"""Where a proxy step's time goes: compiled forward + backward of each layer kind and of the LM head + loss alone.

Each part runs under torch.compile and bf16 autocast at the preset's shapes (batch x seq_len tokens, residual input
in the model's dtype), timed with CUDA events (median of `--iters` after warm-up). Variants are model overrides,
e.g. `--variant mamba_chunk=64`, so layer-level ideas can be compared in one call before a full-model run.
Summing the parts by their counts in the pattern gives the model's share; the rest of a step is the optimizer.

    python benchmarks/trainer_gpu_parts.py --preset proxy-200m --variant mamba_chunk=64 --variant mamba_kernel=mamba_ssm
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F
from trainer_gpu import profile_calls, use_source_package  # benchmarks/ is on the path when this runs as a script

from corpusforge.trainer.model import Layer, get_config, linear_cross_entropy, warm_up_kernels
from corpusforge.trainer.runtime import autocast, compile_model


def _time(fn, iters: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def time_layer(
    kind: str, cfg, tokens: tuple[int, int], iters: int, profile: Path | None = None, tuning: str = "default"
) -> float:
    device = torch.device("cuda")
    layer = Layer(kind, cfg).to(device)
    if kind == "M":
        warm_s = warm_up_kernels(cfg, *tokens, device)
        if warm_s:
            print(f"fused-kernel warm-up (Triton autotuning) {warm_s:.1f} s", flush=True)
    compiled = compile_model(lambda x: layer(x)[0], tuning)
    dtype = torch.float32 if cfg.fp32_residual else torch.bfloat16  # the residual stream's dtype in the model
    x = torch.randn(*tokens, cfg.d_model, device=device, dtype=dtype, requires_grad=True)
    grad = torch.randn_like(x)

    def step():
        with autocast(device):
            y = compiled(x)
        y.backward(grad)

    ms = _time(step, iters)
    if profile:
        profile_calls(step, profile, calls=3)
    return ms


def time_head(cfg, tokens: tuple[int, int], iters: int, fused: bool, chunk: int, tuning: str = "default") -> float:
    device = torch.device("cuda")
    weight = torch.nn.Parameter(torch.randn(cfg.vocab_size, cfg.d_model, device=device) * 0.02)
    h = torch.randn(tokens[0] * tokens[1], cfg.d_model, device=device, requires_grad=True)
    t = torch.randint(0, cfg.vocab_size, (h.shape[0],), device=device)

    def unfused(h):
        return F.cross_entropy((h @ weight.T).float(), t)

    loss_fn = compile_model((lambda h: linear_cross_entropy(h, weight, t, chunk)) if fused else unfused, tuning)

    def step():
        with autocast(device):
            loss = loss_fn(h)
        loss.backward()

    return _time(step, iters)


def _guarded(fn, *args) -> float:
    """One part's milliseconds, or NaN (with the traceback printed) when it fails: the other parts still run."""
    try:
        return fn(*args)
    except Exception:
        import traceback

        traceback.print_exc()
        return float("nan")
    finally:
        torch.cuda.empty_cache()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="proxy-200m")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--variant", action="append", default=[], help="key=value[,key=value] model overrides")
    ap.add_argument("--ce-chunks", default="4096,8192,16384")
    ap.add_argument("--kinds", default=None, help="layer kinds to time, e.g. ME (default: every kind in the pattern)")
    ap.add_argument("--coord-descent", action="store_true", help="inductor's coordinate-descent kernel tuning")
    ap.add_argument("--mamba-ssm-src", default=None, help="an unpacked mamba_ssm sdist to import the kernels from")
    ap.add_argument("--skip-base", action="store_true", help="time the variants only")
    ap.add_argument("--profile", default=None, help="folder for each layer's kernel table")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("trainer_gpu_parts: needs a CUDA GPU (CUDA-event timing of compiled layers); skipped")
        return
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    if args.mamba_ssm_src:
        use_source_package("mamba_ssm", args.mamba_ssm_src)
    tuning = "coordinate_descent" if args.coord_descent else "default"
    tokens = (args.batch, args.seq_len)
    results: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "layers": {}, "head": {}}
    variants = ([] if args.skip_base else [""]) + args.variant
    base = get_config(args.preset)
    for variant in variants:
        overrides = {}
        for item in filter(None, variant.split(",")):
            key, _, value = item.partition("=")
            overrides[key] = json.loads(value)
        cfg = get_config(args.preset, **overrides)
        only_mamba = overrides and all(k.startswith("mamba_") for k in overrides)
        kinds = ["M"] if only_mamba else sorted(set(args.kinds or cfg.pattern))
        for kind in kinds:
            name = re.sub(r"[^\w.-]+", "_", f"{kind} {variant or 'base'}")
            profile = Path(args.profile) / f"{name}.txt" if args.profile else None
            ms = _guarded(time_layer, kind, cfg, tokens, args.iters, profile, tuning)
            results["layers"][f"{kind} {variant or 'base'}"] = ms
            print(f"layer {kind} {variant or 'base':<40} {ms:8.2f} ms  x{cfg.pattern.count(kind)}", flush=True)
    if not args.ce_chunks:
        return _write(results, args.out)
    results["head"]["unfused"] = ms = _guarded(time_head, base, tokens, args.iters, False, 0, tuning)
    print(f"head unfused {ms:8.2f} ms", flush=True)
    for chunk in map(int, args.ce_chunks.split(",")):
        results["head"][f"fused {chunk}"] = ms = _guarded(time_head, base, tokens, args.iters, True, chunk, tuning)
        print(f"head fused chunk {chunk:<6} {ms:8.2f} ms", flush=True)
    _write(results, args.out)


def _write(results: dict, out: str | None) -> None:
    if out:
        with open(out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
