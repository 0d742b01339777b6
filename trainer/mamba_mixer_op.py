"""A Mamba-2 layer from in_proj's output to its gated norm's output as one custom op, `corpusforge::mamba_mixer`.

The forward and backward are mamba_ssm's `mamba_split_conv1d_scan_combined` (the memory-efficient path Megatron-LM
trains Mamba layers with: causal-conv1d's CUDA conv, the Triton SSD with dt's softplus and D inside, the gated norm
kernel) re-assembled from the same kernels (Apache-2.0, Tri Dao and Albert Gu), with one change: the forward keeps
the conv's output, the chunk states and C B^T for the backward instead of having it recompute them: memory traded
for the recompute time (README's GPU section has the figures).
As a custom op with its own backward the mixer is one opaque node: torch.compile keeps the model in one graph, where
mamba_ssm's autograd.Function (Triton launches, einops, a device guard inside) broke it at every Mamba layer.
"""

from __future__ import annotations

import functools
import importlib
import math

import torch

DT_LIMIT = (0.0, float("inf"))
NORM_BACKWARD_PROGRAMS_PER_SM = 8


def _split(xbc: torch.Tensor, heads: int, headdim: int, groups: int) -> tuple[torch.Tensor, ...]:
    """x, B, C of the conv's output, in the SSD kernels' shapes: (b, t, heads, headdim), (b, t, groups, state)."""
    dim = heads * headdim
    state = (xbc.shape[-1] - dim) // groups // 2
    x, b, c = xbc.split([dim, groups * state, groups * state], dim=-1)
    return x.unflatten(-1, (heads, headdim)), b.unflatten(-1, (groups, state)), c.unflatten(-1, (groups, state))


def _channel_last(xbc: torch.Tensor) -> torch.Tensor:
    """(b, channels, t) with channels innermost, the layout causal-conv1d's channel-last kernels read in place; they
    need the time stride to be a multiple of 8 (mamba_ssm's `ensure_stride`)."""
    return (xbc if xbc.stride(1) % 8 == 0 else xbc.contiguous()).transpose(1, 2)


def mixer_forward(
    zxbcdt: torch.Tensor,
    conv_weight: torch.Tensor,
    conv_bias: torch.Tensor,
    dt_bias: torch.Tensor,
    a: torch.Tensor,
    d: torch.Tensor,
    norm_weight: torch.Tensor,
    chunk: int,
    eps: float,
    headdim: int,
    groups: int,
) -> tuple[torch.Tensor, ...]:
    """The gated norm's output (b, t, heads * headdim), then what the backward reads: the SSD's output before the
    norm, the norm's 1/rms, the conv's output, dt after softplus, its cumulative sum times A (both per chunk),
    C B^T per chunk and the states entering each chunk (fp32, as mamba_ssm's backward recomputes them)."""
    from causal_conv1d.cpp_functions import causal_conv1d_fwd_function
    from mamba_ssm.ops.triton.layernorm_gated import _layer_norm_fwd
    from mamba_ssm.ops.triton.ssd_bmm import _bmm_chunk_fwd
    from mamba_ssm.ops.triton.ssd_chunk_scan import _chunk_scan_fwd
    from mamba_ssm.ops.triton.ssd_chunk_state import _chunk_cumsum_fwd, _chunk_state_fwd
    from mamba_ssm.ops.triton.ssd_state_passing import _state_passing_fwd

    heads = d.shape[0]
    dim = heads * headdim
    z, xbc, dt = zxbcdt.split([dim, conv_weight.shape[0], heads], dim=-1)
    xbc_conv = causal_conv1d_fwd_function(_channel_last(xbc), conv_weight, conv_bias, None, None, None, True).transpose(
        1, 2
    )
    x, b, c = _split(xbc_conv, heads, headdim, groups)
    da_cumsum, dt_soft = _chunk_cumsum_fwd(dt, a, chunk, dt_bias=dt_bias, dt_softplus=True, dt_limit=DT_LIMIT)
    states = _chunk_state_fwd(b, x, dt_soft, da_cumsum, states_in_fp32=True)
    # fp32 states, as the backward's recompute made them; the scan casts them to C's dtype as it loads them
    states = _state_passing_fwd(states.flatten(-2), da_cumsum[:, :, :, -1], chunk_size=chunk)[0]
    states = states.unflatten(-1, x.shape[-1:] + b.shape[-1:])
    cb = _bmm_chunk_fwd(c, b, chunk, output_dtype=torch.float32)
    ssd_out = _chunk_scan_fwd(cb, x, dt_soft, da_cumsum, c, states, D=d)[0]
    out, _, rstd = _layer_norm_fwd(
        ssd_out.flatten(0, 1).flatten(-2),
        norm_weight.contiguous(),
        None,
        eps,
        z.flatten(0, 1),
        group_size=dim // groups,
        norm_before_gate=False,
        is_rms_norm=True,
    )
    return out.view(zxbcdt.shape[:2] + (dim,)), ssd_out, rstd, xbc_conv, dt_soft, da_cumsum, cb, states


def mixer_backward(
    dout: torch.Tensor,
    zxbcdt: torch.Tensor,
    conv_weight: torch.Tensor,
    conv_bias: torch.Tensor,
    dt_bias: torch.Tensor,
    a: torch.Tensor,
    d: torch.Tensor,
    norm_weight: torch.Tensor,
    saved: list[torch.Tensor],
    chunk: int,
    eps: float,
    headdim: int,
    groups: int,
) -> tuple[torch.Tensor, ...]:
    """Gradients of zxbcdt, conv weight and bias, dt bias, A, D and the norm weight: mamba_ssm's backward of
    mamba_split_conv1d_scan_combined, reading what `mixer_forward` kept where that recomputes it."""
    from causal_conv1d.cpp_functions import causal_conv1d_bwd_function
    from mamba_ssm.ops.triton.ssd_chunk_state import _chunk_cumsum_bwd

    ssd_out, rstd, xbc_conv, dt_soft, da_cumsum, cb, states = saved
    heads = d.shape[0]
    dim = heads * headdim
    z, xbc, dt = zxbcdt.split([dim, conv_weight.shape[0], heads], dim=-1)
    dzxbcdt = torch.empty_like(zxbcdt)
    dz, dxbc_given, ddt_given = dzxbcdt.split([dim, conv_weight.shape[0], heads], dim=-1)
    dxbc = torch.empty_like(xbc)
    dy, dnorm_weight, _, _ = _layer_norm_bwd_wide(
        dout.flatten(0, 1),
        ssd_out.flatten(0, 1).flatten(-2),
        norm_weight,
        None,
        eps,
        None,
        rstd,
        z.flatten(0, 1),
        group_size=dim // groups,
        norm_before_gate=False,
        is_rms_norm=True,
        dz=dz.flatten(0, 1),
    )
    dy = dy.view(ssd_out.shape)
    ddt, dda_cumsum, dd = _ssd_backward(
        dy,
        _split(xbc_conv, heads, headdim, groups),
        _split(dxbc, heads, headdim, groups),
        dt_soft,
        da_cumsum,
        cb,
        states,
        d,
    )
    # dt's clone: mamba_ssm's own backward clones it too (a Triton device-context error on some versions otherwise)
    _, da, ddt_bias = _chunk_cumsum_bwd(
        dda_cumsum, ddt, dt.clone(), a, dt_bias=dt_bias, dt_softplus=True, dt_limit=DT_LIMIT, ddt=ddt_given
    )
    dxbc_written, dconv_weight, dconv_bias, *_ = causal_conv1d_bwd_function(
        _channel_last(xbc),
        conv_weight,
        conv_bias,
        dxbc.transpose(1, 2),
        None,
        None,
        None,
        dxbc_given.transpose(1, 2),
        False,
        True,
    )
    if dxbc_written.data_ptr() != dxbc_given.data_ptr():
        dxbc_given.copy_(dxbc_written.transpose(1, 2))
    return dzxbcdt, dconv_weight, dconv_bias, ddt_bias, da, dd, dnorm_weight


def _ssd_backward(dy, xbc, dxbc, dt_soft, da_cumsum, cb, states, d) -> tuple[torch.Tensor, ...]:
    """mamba_ssm's `_mamba_chunk_scan_combined_bwd` (no z, no initial states) from the forward's chunk states and
    C B^T: writes dx, dB, dC into `dxbc`'s views and returns the gradients of dt and of dA's cumulative sum (per
    chunk, for `_chunk_cumsum_bwd`) and of D."""
    from mamba_ssm.ops.triton.ssd_bmm import _bmm_chunk_bwd
    from mamba_ssm.ops.triton.ssd_chunk_scan import (
        _chunk_scan_bwd_dC,
        _chunk_scan_bwd_dcb,
        _chunk_scan_bwd_ddAcs_stable,
        _chunk_scan_bwd_dstates,
    )
    from mamba_ssm.ops.triton.ssd_chunk_state import _chunk_state_bwd_db
    from mamba_ssm.ops.triton.ssd_combined import _chunk_scan_chunk_state_bwd_dx
    from mamba_ssm.ops.triton.ssd_state_passing import _state_passing_bwd

    x, b, c = xbc
    dx, db_given, dc_given = dxbc
    groups = b.shape[2]
    dstates = _chunk_scan_bwd_dstates(c, da_cumsum, dy, dtype=states.dtype)
    dstates, dda_chunk_cumsum, _, states = _state_passing_bwd(
        states.flatten(-2),
        da_cumsum[:, :, :, -1],
        dstates.flatten(-2),
        has_initial_states=False,
        dstates_dtype=x.dtype,
        states_dtype=x.dtype,
    )
    states, dstates = (t.unflatten(-1, x.shape[-1:] + b.shape[-1:]) for t in (states, dstates))
    dx, ddt, dd = _chunk_scan_chunk_state_bwd_dx(x, dt_soft, da_cumsum, b, cb, dy, dstates, D=d, dx=dx)
    db, dda_next = _chunk_state_bwd_db(x, dt_soft, da_cumsum, dstates, B=b, ngroups=groups)
    dc, dda_cumsum_prev = _chunk_scan_bwd_dC(states.to(x.dtype), da_cumsum, dy, C=c, ngroups=groups)
    dcb = _chunk_scan_bwd_dcb(x, dt_soft, da_cumsum, dy, ngroups=groups).to(cb.dtype)
    _bmm_chunk_bwd(c, dcb, residual=db, out=db_given)
    _bmm_chunk_bwd(b, dcb.transpose(-1, -2), residual=dc, out=dc_given)
    dda_cumsum_prev[..., -1] += dda_chunk_cumsum
    dda = _chunk_scan_bwd_ddAcs_stable(x, dt_soft, da_cumsum, dy, cb)
    dda += dda_next + dda_cumsum_prev.flip([-1]).cumsum(dim=-1).flip([-1])
    return ddt, dda, dd


def _layer_norm_bwd_wide(
    dy,
    x,
    weight,
    bias,
    eps,
    mean,
    rstd,
    z=None,
    group_size=None,
    norm_before_gate=True,
    is_rms_norm=False,
    recompute_output=False,
    dz=None,
    out=None,
):
    """mamba_ssm's `_layer_norm_bwd` (same arguments, same kernel) launched on 8 programs per SM instead of ~one.

    For a 2048-wide norm in 2 groups its launcher starts one 4-warp program per SM, each walking ~750 rows one
    after another: latency-bound, well above what its memory traffic needs. Only the grid grows, and with it the
    per-program weight-gradient partials.
    """
    import triton
    from mamba_ssm.ops.triton.layernorm_gated import _layer_norm_bwd_kernel

    m, n = x.shape
    group_size = group_size or n
    groups = n // group_size
    block_n = triton.next_power_of_2(group_size)
    if n % group_size or block_n > 65536 // x.element_size():
        raise RuntimeError(f"gated norm backward: group size {group_size} of {n} unsupported")
    dx = torch.empty_like(x)
    dz = torch.empty_like(z) if dz is None and z is not None else dz
    out = torch.empty_like(x) if recompute_output and out is None else out
    sm_count = torch.cuda.get_device_properties(x.device).multi_processor_count
    programs = min(m, math.ceil(sm_count * NORM_BACKWARD_PROGRAMS_PER_SM / groups))
    dw = torch.empty((programs, n), dtype=torch.float32, device=weight.device)
    db = torch.empty((programs, n), dtype=torch.float32, device=weight.device) if bias is not None else None
    with torch.cuda.device(x.device.index):
        _layer_norm_bwd_kernel[(programs, groups)](
            x,
            weight,
            bias,
            z,
            out if recompute_output else None,
            dy,
            dx,
            dw,
            db,
            dz,
            mean,
            rstd,
            x.stride(0),
            z.stride(0) if z is not None else 0,
            out.stride(0) if recompute_output else 0,
            dy.stride(0),
            dx.stride(0),
            dz.stride(0) if dz is not None else 0,
            dw.stride(0),
            db.stride(0) if db is not None else 0,
            m,
            group_size,
            eps,
            math.ceil(m / programs),
            BLOCK_N=block_n,
            NORM_BEFORE_GATE=norm_before_gate,
            IS_RMS_NORM=is_rms_norm,
            num_warps=min(max(block_n // 256, 1), 8),
        )
    grads = (dx, dw.sum(0).to(weight.dtype), db.sum(0).to(bias.dtype) if bias is not None else None, dz)
    return grads + (out,) if recompute_output else grads


@functools.cache  # once per process: called from the kernels' wrappers, on every forward
def use_wide_norm_backward() -> None:
    """Point mamba_ssm's gated-norm backward, in both modules that call it, at `_layer_norm_bwd_wide`."""
    for name in ("mamba_ssm.ops.triton.layernorm_gated", "mamba_ssm.ops.triton.ssd_combined"):
        module = importlib.import_module(name)
        if hasattr(module, "_layer_norm_bwd"):
            # A private mamba_ssm function the checker cannot see on a dynamically imported module.
            module._layer_norm_bwd = _layer_norm_bwd_wide  # type: ignore[attr-defined]


@torch.library.custom_op("corpusforge::mamba_mixer", mutates_args=())
def mamba_mixer(
    zxbcdt: torch.Tensor,
    conv_weight: torch.Tensor,
    conv_bias: torch.Tensor,
    dt_bias: torch.Tensor,
    a: torch.Tensor,
    d: torch.Tensor,
    norm_weight: torch.Tensor,
    chunk: int,
    eps: float,
    headdim: int,
    groups: int,
) -> list[torch.Tensor]:
    """`mixer_forward`: the output first, then what the backward reads."""
    return list(mixer_forward(zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight, chunk, eps, headdim, groups))


@mamba_mixer.register_fake
def mixer_outputs_like(zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight, chunk, eps, headdim, groups):
    """Empty tensors shaped as `mixer_forward`'s results."""
    batch, length, _ = zxbcdt.shape
    heads, width = d.shape[0], conv_weight.shape[0]
    state, chunks = (width - heads * headdim) // groups // 2, math.ceil(length / chunk)
    f32 = functools.partial(zxbcdt.new_empty, dtype=torch.float32)
    return [
        zxbcdt.new_empty(batch, length, heads * headdim),
        zxbcdt.new_empty(batch, length, heads, headdim),
        f32(groups * batch * length),
        zxbcdt.new_empty(batch, length, width),
        f32(batch, heads, chunks, chunk),
        f32(batch, heads, chunks, chunk),
        f32(batch, chunks, groups, chunk, chunk),
        f32(batch, chunks, heads, headdim, state),
    ]


@torch.library.custom_op("corpusforge::mamba_mixer_backward", mutates_args=())
def mamba_mixer_backward(
    dout: torch.Tensor,
    zxbcdt: torch.Tensor,
    conv_weight: torch.Tensor,
    conv_bias: torch.Tensor,
    dt_bias: torch.Tensor,
    a: torch.Tensor,
    d: torch.Tensor,
    norm_weight: torch.Tensor,
    saved: list[torch.Tensor],
    chunk: int,
    eps: float,
    headdim: int,
    groups: int,
) -> list[torch.Tensor]:
    """`mixer_backward`, each gradient in its input's dtype."""
    inputs = (zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight)
    grads = mixer_backward(dout.contiguous(), *inputs, saved, chunk, eps, headdim, groups)
    return [g.to(x.dtype).contiguous() for g, x in zip(grads, inputs)]


@mamba_mixer_backward.register_fake
def _(dout, zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight, saved, chunk, eps, headdim, groups):
    return [torch.empty_like(x) for x in (zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight)]


def _setup_context(ctx, inputs, output) -> None:
    *tensors, chunk, eps, headdim, groups = inputs
    ctx.save_for_backward(*tensors, *output[1:])
    ctx.settings = (chunk, eps, headdim, groups)


def _backward(ctx, grads):
    inputs, saved = ctx.saved_tensors[:7], list(ctx.saved_tensors[7:])
    return (*mamba_mixer_backward(grads[0], *inputs, saved, *ctx.settings), None, None, None, None)


mamba_mixer.register_autograd(_backward, setup_context=_setup_context)
