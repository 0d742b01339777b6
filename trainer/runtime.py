"""Device plumbing shared by the trainer and the GPU benchmark: device choice, autocast, compile, optimizer, peak
FLOPs."""
from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

# Dense bf16 datasheet peaks (no sparsity), for MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "GH200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 70e12}


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` is the first GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on GPU; plain fp32 on CPU (bf16 CPU matmuls are slow and change the numbers)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# torch.compile's inductor settings per `compile_tuning`. Coordinate descent searches each generated kernel's block
# sizes at compile time: 4-9% off a proxy-200m Mamba or MoE layer on an H100 (torch path), for minutes more compile;
# the choices are cached with inductor's cache, so a machine pays that once.
COMPILE_TUNING = {"default": {}, "coordinate_descent": {"coordinate_descent_tuning": True}}


def compile_model(model: Callable, tuning: str = "default") -> Callable:
    """torch.compile with the inductor options of `tuning` (a COMPILE_TUNING key), scoped to this model or function."""
    options = COMPILE_TUNING[tuning]
    return torch.compile(model, options=options) if options else torch.compile(model)


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak of the GPU, or None where MFU means nothing (CPU, unknown cards)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key in sorted(PEAK_BF16_FLOPS, key=len, reverse=True):
        if key in name:
            return PEAK_BF16_FLOPS[key]
    return None


def make_optimizer(model: torch.nn.Module, lr: float, betas: tuple[float, float], weight_decay: float,
                   device: torch.device) -> torch.optim.AdamW:
    """AdamW (fused on GPU) with weight decay on matrices only: none on norms, SSM A/D/dt or conv filters."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "conv1d" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device.type == "cuda")
