"""Proxy-trainer throughput: tokens/s and MFU of full training steps per preset, eager and torch.compile.

A step is what `corpusforge train` runs (`runtime.train_step`): bf16 autocast forward + backward, gradient clipping,
fused AdamW, router-bias update, with TF32 for the float32 matmuls autocast leaves (the router's; the figures in
benchmarks/reference up to session 6 ran those in full fp32); `--cuda-graph` replays it as one CUDA graph.
MFU = model FLOPs (6 x active params + attention and SSD quadratic terms, `model.flops_per_token`) x tokens/s over
the GPU's dense bf16 peak (989 TFLOP/s for H100/H200 SXM). Before timing, the fast kernels are checked against
their references on the device (grouped expert GEMM vs dense, chunked SSD vs sequential, and every installed
fused SSD kernel: values against the sequential SSD, gradients against the chunked one).

    python benchmarks/trainer_gpu.py --out results.json                     # GPU: every preset, eager + compile
    python benchmarks/trainer_gpu.py --tiny                                 # CPU smoke run with tiny settings
    python benchmarks/trainer_gpu.py --set mamba_kernel=mamba_ssm           # SSD through mamba_ssm's Triton kernels
    python benchmarks/trainer_gpu.py --set mamba_kernel=mamba_ssm --mamba-ssm-src mamba_ssm-2.3.2/  # unbuilt source
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from dataclasses import replace
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from corpusforge.trainer.model import (
    HybridLM,
    Layer,
    Mamba2,
    ModelConfig,
    causal_conv1d_silu,
    count_parameters,
    experts_dense_reference,
    experts_grouped,
    flops_per_token,
    get_config,
    ssd,
    ssd_chunked,
    ssd_reference,
    warm_up_kernels,
)
from corpusforge.trainer.runtime import (
    GraphedStep,
    autocast,
    compile_model,
    make_optimizer,
    peak_flops,
    set_tf32,
    train_step,
)

BATCH = {"proxy-10m": 32, "proxy-50m": 32, "proxy-200m": 32}  # sequences of 2048 per step (200m: 55 GB)
TINY = {
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
    "vocab_size": 512,
}


def use_source_package(name: str, parent: str) -> None:
    """Import package `name` from a source tree without running its __init__.

    mamba_ssm's __init__ imports its CUDA extensions (selective scan, causal conv), which a wheel-less GPU box
    cannot build offline; the SSD kernels themselves are pure Triton and import fine this way.
    """
    module = types.ModuleType(name)
    module.__path__ = [str(Path(parent) / name)]
    sys.modules[name] = module


def check_kernels(device: torch.device, cfg: ModelConfig) -> dict:
    """Relative error of the fast paths against their references, on this device. The fused kernels are checked at
    `cfg`'s layer shapes and dtypes, after the timed runs: Triton's autotuning is keyed on those but not on the batch,
    so a check on a few tokens run first would choose the configurations the training shapes then use."""
    g = torch.Generator(device="cpu").manual_seed(0)
    n, d, f, e, k = 4096, 512, 256, 32, 4
    x = torch.randn(n, d, generator=g).to(device)
    w_up = (torch.randn(e, f, d, generator=g) / d**0.5).to(device)
    w_down = (torch.randn(e, d, f, generator=g) / f**0.5).to(device)
    idx = torch.stack([torch.randperm(e, generator=g)[:k] for _ in range(n)]).to(device)
    gate = torch.rand(n, k, generator=g).to(device)
    ref = experts_dense_reference(x.double(), idx, gate.double(), w_up.double(), w_down.double())
    with autocast(device):
        fast = experts_grouped(x, idx, gate, w_up, w_down).double()
    moe_err = float((fast - ref).norm() / ref.norm())
    xs = torch.randn(2, 300, 8, 16, generator=g, dtype=torch.float64)
    la = -torch.rand(2, 300, 8, generator=g, dtype=torch.float64)
    b, c = (torch.randn(2, 300, 2, 32, generator=g, dtype=torch.float64) for _ in range(2))
    y_ref, _ = ssd_reference(xs, la, b, c)
    y, _ = ssd_chunked(*(t.float().to(device) for t in (xs, la, b, c)), 64)
    errors = {
        "moe_grouped_vs_dense_rel_err_bf16": moe_err,
        "ssd_chunked_vs_sequential_rel_err_fp32": float((y.double().cpu() - y_ref).norm() / y_ref.norm()),
    }
    any_fused = "fused" if (cfg.mamba_kernel, cfg.conv_kernel) != ("torch", "torch") else "torch"
    fused = [
        (check_fused_ssd, cfg.mamba_kernel, "ssd"),
        (check_fused_conv, cfg.conv_kernel, "conv"),
        (check_fused_layer, any_fused, "layer"),
    ]
    for check, kernel, part in fused:
        if device.type == "cuda" and kernel != "torch":
            try:
                errors.update(check(kernel, device, cfg))
            except Exception as e:  # report it beside the timings
                errors[f"{part}_{kernel}_error"] = f"{type(e).__name__}: {e}"[:2000]
    return errors


def _rel_errors(prefix: str, names: list[str], refs: list[torch.Tensor], values: list[torch.Tensor]) -> dict:
    def err(r: torch.Tensor, v: torch.Tensor) -> float:
        r, v = r.detach().double().cpu(), v.detach().double().cpu()
        return float((v - r).norm() / r.norm())

    return {f"{prefix}_{name}": err(r, v) for name, r, v in zip(names, refs, values)}


def check_fused_conv(kernel: str, device: torch.device, cfg: ModelConfig, dtype=torch.bfloat16) -> dict:
    """The fused causal conv + SiLU in `dtype` on in_proj's strided split, as the layer runs it, against the plain
    conv in fp32: output and gradients."""
    g = torch.Generator(device="cpu").manual_seed(2)
    di, conv_dim = cfg.mamba_inner, cfg.mamba_inner + 2 * cfg.mamba_groups * cfg.mamba_d_state
    inputs = [
        torch.randn(2, 300, di + conv_dim + cfg.mamba_heads, generator=g),
        torch.randn(conv_dim, 1, cfg.mamba_conv, generator=g) * 0.5,
        torch.randn(conv_dim, generator=g),
    ]
    grad = torch.randn(2, 300, conv_dim, generator=g).to(device)
    runs = []
    for impl, run_dtype in (("torch", torch.float32), (kernel, dtype)):
        full, w, b = [t.to(device, copy=True).requires_grad_() for t in inputs]
        out = causal_conv1d_silu(full.to(run_dtype)[..., di : di + conv_dim], w, b, impl)
        out.backward(grad.to(run_dtype))
        runs.append([out, full.grad, w.grad, b.grad])
    names = [f"{name}_vs_torch_rel_err_{str(dtype)[6:]}" for name in ("out", "grad_x", "grad_w", "grad_b")]
    return _rel_errors(f"conv_{kernel}", names, *runs)


def check_fused_layer(_: str, device: torch.device, cfg: ModelConfig, dtype=torch.bfloat16) -> dict:
    """A whole Mamba-2 layer on `cfg`'s fused kernels under `dtype` autocast against the same layer in plain fp32:
    output, input gradient and every parameter's gradient (the mixer kernel's conventions, on the device)."""
    torch.manual_seed(3)
    plain = Mamba2(replace(cfg, mamba_kernel="torch", conv_kernel="torch")).to(device)
    fused = Mamba2(cfg).to(device)
    fused.load_state_dict(plain.state_dict())
    u = torch.randn(2, 300, cfg.d_model, device=device)
    runs = []
    for layer, run_dtype in ((plain, None), (fused, dtype)):
        x = u.clone().requires_grad_()
        with torch.autocast(device.type, dtype=run_dtype, enabled=run_dtype is not None):
            y = layer(x)
        (y.float() * torch.linspace(-1, 1, cfg.d_model, device=device)).sum().backward()
        runs.append([y, x.grad] + [p.grad for p in layer.parameters()])
    names = ["out", "grad_input"] + [f"grad_{name}" for name, _ in plain.named_parameters()]
    return _rel_errors("layer_fused", [f"{n}_vs_fp32_rel_err_{str(dtype)[6:]}" for n in names], *runs)


def check_fused_ssd(kernel: str, device: torch.device, cfg: ModelConfig, dtype=torch.bfloat16) -> dict:
    """The fused SSD (with the D skip) in `dtype` at the layer's head shapes: output against the sequential reference,
    gradients against the plain chunked SSD in fp32."""
    g = torch.Generator(device="cpu").manual_seed(1)
    h, p, groups, n = cfg.mamba_heads, cfg.mamba_head_dim, cfg.mamba_groups, cfg.mamba_d_state
    x = torch.randn(1, 300, h, p, generator=g, dtype=torch.float64)
    dt = F.softplus(torch.randn(1, 300, h, generator=g, dtype=torch.float64) - 1)
    a = -torch.rand(h, generator=g, dtype=torch.float64) - 0.5
    b, c = (torch.randn(1, 300, groups, n, generator=g, dtype=torch.float64) for _ in range(2))
    d = torch.randn(h, generator=g, dtype=torch.float64)
    y_ref = ssd_reference(x * dt[..., None], a * dt, b, c)[0] + x * d[:, None]
    weight = torch.randn(x.shape, dtype=torch.float32, device=device)
    runs = []
    for impl, run_dtype in (("torch", torch.float32), (kernel, dtype)):
        inputs = [
            t.to(device, run_dtype if i in (0, 3, 4) else torch.float32).requires_grad_()
            for i, t in enumerate((x, dt, a, b, c, d))
        ]
        y = ssd(*inputs[:5], cfg.mamba_chunk, impl, inputs[5])
        (y.float() * weight).sum().backward()
        runs.append([y] + [t.grad for t in inputs])
    suffix = str(dtype)[6:]
    errors = _rel_errors(f"ssd_{kernel}", [f"vs_sequential_rel_err_{suffix}"], [y_ref], runs[1][:1])
    names = [f"grad_{name}_vs_torch_rel_err_{suffix}" for name in ["x", "dt", "a", "b", "c", "d"]]
    return errors | _rel_errors(f"ssd_{kernel}", names, runs[0][1:], runs[1][1:])


def check_cuda_graph(device: torch.device, cfg: ModelConfig, steps: int = 6) -> dict:
    """The losses of a few real training steps (eager model, small batch) replayed as one CUDA graph each, against
    the same steps run as they are."""

    def losses(graphed: bool) -> list[float]:
        torch.manual_seed(0)
        model = HybridLM(cfg).to(device)
        opt = make_optimizer(model, 1e-3, (0.9, 0.95), 0.1, device, capturable=graphed)
        run = partial(train_step, model, model, opt)
        run = GraphedStep(run) if graphed else run
        data = torch.randint(0, cfg.vocab_size, (steps, 1, 2, 513), device=device)
        return [float(run(x[..., :-1], x[..., 1:])[0]) for x in data]

    eager, graphed = losses(False), losses(True)
    return {
        "cuda_graph_losses_eager": eager,
        "cuda_graph_losses_graphed": graphed,
        "cuda_graph_max_rel_diff": max(abs(a - b) / abs(a) for a, b in zip(eager, graphed)),
    }


def profile_calls(fn, path: Path, calls: int = 1, rows: int = 80) -> str:
    """Profile `calls` calls of `fn` (CPU and CUDA, input shapes recorded) and write their tables (`write_profile`)."""
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities, record_shapes=True) as prof:
        for _ in range(calls):
            fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    return write_profile(prof, path, rows)


def write_profile(prof, path: Path, rows: int = 80) -> str:
    """The kernel table (device time, descending) to `path`, and every event's self device time to `path`.json,
    which untruncated names make easy to sum by kind (matmul, Triton, inductor, ...). Returns the table."""
    events = prof.key_averages()
    table = events.table(sort_by="cuda_time_total", row_limit=rows, max_name_column_width=100)
    path.write_text(table)
    timed = [
        {"name": e.key, "self_device_us": e.self_device_time_total, "count": e.count}
        for e in events
        if e.self_device_time_total > 0
    ]
    path.with_suffix(".json").write_text(json.dumps(sorted(timed, key=lambda e: -e["self_device_us"]), indent=1))
    # The aten ops again, split by input shapes: which sum, add or scatter is it (needs record_shapes).
    by_shape = prof.key_averages(group_by_input_shape=True)
    path.with_suffix(".shapes.txt").write_text(
        by_shape.table(
            sort_by="self_cuda_time_total", row_limit=rows, max_name_column_width=60, max_shapes_column_width=120
        )
    )
    return table


def time_steps(
    preset: str,
    compiled: bool,
    device: torch.device,
    batch: int,
    seq_len: int,
    steps: int,
    warmup: int,
    overrides: dict,
    profile: str | None = None,
    tuning: str = "default",
    cuda_graph: bool = False,
) -> dict:
    """Median-free steady-state throughput: `steps` timed steps after `warmup` (compilation, and the CUDA graph's
    capture, included there)."""
    set_tf32(device.type == "cuda")  # as `corpusforge train` runs; main turns it off for the fp32 checks
    torch.manual_seed(0)
    cfg = get_config(preset, **overrides)
    model = HybridLM(cfg).to(device)
    opt = make_optimizer(model, 1e-3, (0.9, 0.95), 0.1, device, capturable=cuda_graph)
    kernel_s = warm_up_kernels(cfg, batch, seq_len, device)
    if kernel_s:
        print(f"fused-kernel warm-up (Triton autotuning) {kernel_s:.1f} s", flush=True)
    forward = compile_model(model, tuning) if compiled else model
    x = torch.randint(0, cfg.vocab_size, (1, batch, seq_len + 1), device=device)

    def one_step():  # the mean LM loss
        return train_step(model, forward, opt, x[..., :-1], x[..., 1:])[0]

    step = GraphedStep(one_step) if cuda_graph else one_step

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if profile:
        for _ in range(warmup):
            step()
        table = profile_calls(step, Path(profile), rows=400)
        print("\n".join(table.splitlines()[:70]), flush=True)
    t0 = time.perf_counter()
    for _ in range(warmup):
        out = step()
    sync()
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        out = step()
    sync()
    dt = (time.perf_counter() - t0) / steps
    tok_s = batch * seq_len / dt
    flops = flops_per_token(cfg, seq_len)
    peak = peak_flops(device)
    params = count_parameters(cfg)
    return {
        "preset": preset,
        "compile": compiled,
        "compile_tuning": tuning if compiled else None,
        "cuda_graph": cuda_graph,
        "mamba_kernel": cfg.mamba_kernel,
        "conv_kernel": cfg.conv_kernel,
        "batch": batch,
        "seq_len": seq_len,
        "step_ms": 1000 * dt,
        "tokens_per_s": tok_s,
        "mfu": flops * tok_s / peak if peak else None,
        "flops_per_token": flops,
        "params_total": params["total"],
        "params_active": params["active"],
        "kernel_warm_up_s": kernel_s,
        "warmup_s": warm_s,
        "loss": float(out),
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else None,
    }


def layer_breakdown(preset: str, device: torch.device, batch: int, seq_len: int, overrides: dict) -> dict:
    """Forward + backward milliseconds of one layer of each kind at the preset's shapes (eager, bf16)."""
    cfg = get_config(preset, **overrides)
    out = {}
    x = torch.randn(batch, seq_len, cfg.d_model, device=device, requires_grad=True)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for kind in sorted(set(cfg.pattern)):
        layer = Layer(kind, cfg).to(device)
        for i in range(6):
            if i == 2:
                sync()
                t0 = time.perf_counter()
            with autocast(device):
                y, _ = layer(x)
            y.float().square().mean().backward()
        sync()
        out[kind] = 1000 * (time.perf_counter() - t0) / 4
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="proxy-10m,proxy-50m,proxy-200m")
    ap.add_argument("--modes", default="eager,compile")
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=None, help="sequences per step for every preset (default: BATCH)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--tiny", action="store_true", help="CPU smoke settings: tiny model, short sequences")
    ap.add_argument("--breakdown", action="store_true", help="also time one layer of each kind")
    ap.add_argument("--profile", default=None, help="write the kernel table of one step here (top rows printed)")
    ap.add_argument("--coord-descent", action="store_true", help="inductor's coordinate-descent kernel tuning")
    ap.add_argument("--cuda-graph", action="store_true", help="replay each whole step as one CUDA graph")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="model override key=value")
    ap.add_argument("--mamba-ssm-src", default=None, help="an unpacked mamba_ssm sdist to import the kernels from")
    ap.add_argument("--out", default=None, help="write results JSON here")
    args = ap.parse_args()
    if args.mamba_ssm_src:
        use_source_package("mamba_ssm", args.mamba_ssm_src)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and not args.tiny:  # `make bench` on a CPU box: the smoke settings, not hours of CPU
        print("no CUDA GPU here: running the CPU smoke settings (--tiny)")
        args.tiny = True
    overrides = dict(TINY) if args.tiny else {}
    for item in args.sets:
        k, _, v = item.partition("=")
        overrides[k] = json.loads(v) if v[:1].isdigit() or v in ("true", "false") else v
    seq = 64 if args.tiny else args.seq_len
    results = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "overrides": overrides,
        "kernels": {},
        "runs": [],
        "breakdown": {},
    }
    out = Path(args.out) if args.out else None
    if args.cuda_graph and device.type == "cuda":
        results["kernels"].update(check_cuda_graph(device, get_config(args.presets.split(",")[0], **overrides)))
        print(json.dumps(results["kernels"]), flush=True)
    for preset in args.presets.split(","):
        batch = 4 if args.tiny else args.batch or BATCH[preset]
        if args.breakdown:
            results["breakdown"][preset] = layer_breakdown(preset, device, batch, seq, overrides)
            print(preset, "layer ms (fwd+bwd):", json.dumps(results["breakdown"][preset]), flush=True)
        for mode in args.modes.split(","):
            try:
                r = time_steps(
                    preset,
                    mode == "compile",
                    device,
                    batch,
                    seq,
                    args.steps,
                    args.warmup,
                    overrides,
                    args.profile,
                    "coordinate_descent" if args.coord_descent else "default",
                    args.cuda_graph,
                )
            except Exception as e:  # one failing configuration must not lose the others' numbers
                import traceback

                traceback.print_exc()
                r = {"preset": preset, "compile": mode == "compile", "error": f"{type(e).__name__}: {e}"[:2000]}
            results["runs"].append(r)
            print(json.dumps(r), flush=True)
            if out:
                out.write_text(json.dumps(results, indent=1))
            if device.type == "cuda":
                torch.cuda.empty_cache()
    set_tf32(False)
    results["kernels"].update(check_kernels(device, get_config(args.presets.split(",")[0], **overrides)))
    print(json.dumps(results["kernels"]), flush=True)
    if out:
        out.write_text(json.dumps(results, indent=1))
    print(f"\n{'preset':<12}{'mode':<9}{'tok/s':>12}{'MFU':>8}{'step ms':>10}{'mem GB':>8}{'warm s':>8}")
    for r in results["runs"]:
        if "error" in r:
            print(f"{r['preset']:<12}{'compile' if r['compile'] else 'eager':<9}  ERROR {r['error'][:80]}")
            continue
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] else "-"
        mem = f"{r['peak_mem_gb']:.1f}" if r["peak_mem_gb"] else "-"
        print(
            f"{r['preset']:<12}{'compile' if r['compile'] else 'eager':<9}{r['tokens_per_s']:>12,.0f}{mfu:>8}"
            f"{r['step_ms']:>10.1f}{mem:>8}{r['warmup_s']:>8.1f}"
        )


if __name__ == "__main__":
    main()
