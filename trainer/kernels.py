"""The fused GPU kernels the Mamba-2 mixer can run instead of its plain-PyTorch code, and how they are found.

Each wrapper computes the same function as the readable path in `model.py` (tests compare them); `model.py` picks one
by the model's `mamba_kernel` / `conv_kernel` options. The kernels are imported on first call, so a CPU-only install
never needs them.
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Any

import torch

from corpusforge.trainer.mamba_mixer_op import mamba_mixer, use_wide_norm_backward

# Fused GPU kernels (Triton) the Mamba-2 mixer can use instead of its plain-PyTorch code, per model option: the
# modules to import, and the pip package providing them. "torch" is always there.
KernelTable = dict[str, tuple[tuple[str, ...], str]]
FUSED_SSD: KernelTable = {
    "mamba_ssm": (("mamba_ssm.ops.triton.ssd_combined", "mamba_ssm.ops.triton.layernorm_gated"), "mamba-ssm"),
    "fla": (("fla.ops.simple_gla",), "fla-core"),
}
FUSED_CONV: KernelTable = {
    "fla": (("fla.modules.causal_conv1d",), "fla-core"),
    "causal_conv1d": (("causal_conv1d",), "causal-conv1d"),
}
KERNEL_OPTIONS: dict[str, KernelTable] = {"mamba_kernel": FUSED_SSD, "conv_kernel": FUSED_CONV}


@functools.cache
def kernel_available(kernel: str, option: str = "mamba_kernel") -> bool:
    """Whether a fused kernel's modules import here (its package installed, Triton present)."""
    # Keep Triton's autotuning results on disk (as vLLM does): mamba_ssm's SSD is ~20 kernels and ~200 configs to
    # compile and time on first use, and every proxy of a study would otherwise pay that again. Read at import.
    os.environ.setdefault("TRITON_CACHE_AUTOTUNING", "1")
    try:
        for module in KERNEL_OPTIONS[option][kernel][0]:
            importlib.import_module(module)
    except Exception:  # ImportError, or Triton failing to find a driver on a CPU-only box
        return False
    return True


def require_kernels(cfg: Any) -> None:
    """Raise ValueError naming the option and the package to install when a chosen fused kernel cannot be imported."""
    for option, kernels in KERNEL_OPTIONS.items():
        kernel = getattr(cfg, option)
        if kernel != "torch" and not kernel_available(kernel, option):
            raise ValueError(f"{option} {kernel} needs `pip install {kernels[kernel][1]}` (GPU with Triton)")


# The fused kernels run as they are (torch.compile fuses what comes before and after): the plain-PyTorch SSD writes
# and reads back each chunk's decay-weighted (l, l) scores and its states, a large share of a Mamba layer's GPU time;
# these kernels keep both on chip.
@torch.compiler.disable
def ssd_mamba_ssm(
    x: torch.Tensor,
    dt: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    chunk: int,
    d: torch.Tensor | None = None,
) -> torch.Tensor:
    """`ssd` through state-spaces/mamba's mamba_chunk_scan_combined (Dao & Gu 2024, Apache-2.0)."""
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined

    return mamba_chunk_scan_combined(x, dt, a, b, c, chunk, D=d)


# Inductor's fusion of this norm's backward (a per-group reduction over a gated input) took several times its memory
# traffic; mamba_ssm's kernel is the one Mamba-2 trains with.
@torch.compiler.disable
def gated_rms_norm_mamba_ssm(
    y: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, groups: int, eps: float
) -> torch.Tensor:
    """`gated_rms_norm` through mamba_ssm's Triton rmsnorm_fn; the result is in y's dtype."""
    from mamba_ssm.ops.triton.layernorm_gated import rmsnorm_fn

    use_wide_norm_backward()
    return rmsnorm_fn(y, weight, None, z=z, eps=eps, group_size=y.shape[-1] // groups, norm_before_gate=False)


@torch.compiler.disable
def ssd_fla(
    x: torch.Tensor, log_a: torch.Tensor, b: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`ssd_reference`'s function through flash-linear-attention's chunk_simple_gla (Yang et al., MIT licence).

    Mamba-2's SSD is scalar-gated linear attention: state S_t = exp(g_t) S_{t-1} + k_t^T v_t, output q_t S_t, with
    q = C, k = B, v = X, g = log A and no score scale. FLA refuses Hopper GPUs with Triton < 3.7.1 (a known
    miscompile in its backward) unless tilelang is installed.
    """
    from fla.ops.simple_gla import chunk_simple_gla

    per_group = x.shape[2] // b.shape[2]
    y, state = chunk_simple_gla(
        c.repeat_interleave(per_group, dim=2),
        b.repeat_interleave(per_group, dim=2),
        x,
        log_a,
        scale=1.0,
        output_final_state=True,
    )
    return y.to(x.dtype), state.transpose(-1, -2)


@torch.compiler.disable
def causal_conv1d_silu_fla(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """`causal_conv1d_silu` through flash-linear-attention's Triton causal_conv1d (MIT licence), which reads the
    strided split of in_proj's output as it is."""
    from fla.modules.causal_conv1d import causal_conv1d as fla_causal_conv1d

    w, b = weight[:, 0].to(x.dtype), bias.to(x.dtype)
    return fla_causal_conv1d(x, w, b, activation="silu", backend="triton")[0]


@torch.compiler.disable
def causal_conv1d_silu_dao(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """`causal_conv1d_silu` through Tri Dao's causal-conv1d CUDA kernels (BSD licence). x (batch, T, channels) seen
    as (batch, channels, T) has channels innermost: the layout its channel-last kernels read in place."""
    from causal_conv1d import causal_conv1d_fn

    w, b = weight[:, 0].to(x.dtype), bias.to(x.dtype)
    return causal_conv1d_fn(x.transpose(1, 2), w, b, activation="silu").transpose(1, 2)


def mamba_mixer_mamba_ssm(zxbcdt: torch.Tensor, layer: Any) -> torch.Tensor:
    """A Mamba-2 layer from in_proj's output to the gated norm's as one autograd node, the custom op
    `corpusforge::mamba_mixer` (mamba_ssm's mamba_split_conv1d_scan_combined, see `mamba_mixer_op`). Its backward
    writes the gradients of z, x, B, C and dt straight into one tensor where the split-by-split path concatenates
    them."""
    cfg, dtype = layer.cfg, zxbcdt.dtype
    return mamba_mixer(
        zxbcdt,
        layer.conv1d.weight[:, 0].to(dtype),
        layer.conv1d.bias.to(dtype),
        layer.dt_bias,
        -torch.exp(layer.A_log.float()),
        layer.D,
        layer.norm.weight,
        cfg.mamba_chunk,
        cfg.norm_eps,
        cfg.mamba_head_dim,
        cfg.mamba_groups,
    )[0]
