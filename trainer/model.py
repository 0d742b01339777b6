"""The proxy model: a Nemotron-H / Nemotron 3 style hybrid of Mamba-2, attention and mixture-of-experts layers.

Read top to bottom: config and presets, the Mamba-2 mixer (chunked SSD beside its sequential reference; the fused GPU
kernels it can switch to live in `kernels.py`), grouped-query attention, the dense MLP, the mixture-of-experts layer
(grouped expert matmul beside its dense reference), the optional multi-token-prediction head, and the model that
stacks layers from one pattern string.

Pattern characters follow Megatron-LM's hybrid models: `M` Mamba-2, `*` attention, `E` MoE feed-forward, `-` dense MLP.
Every character is one pre-norm residual layer, as in Nemotron-H (NVIDIA 2025, arXiv:2504.03624).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from corpusforge.trainer.kernels import (
    KERNEL_OPTIONS,
    causal_conv1d_silu_dao,
    causal_conv1d_silu_fla,
    gated_rms_norm_mamba_ssm,
    mamba_mixer_mamba_ssm,
    require_kernels,
    ssd_fla,
    ssd_mamba_ssm,
)
from corpusforge.trainer.runtime import autocast

LAYER_TYPES = {"M": "mamba", "*": "attention", "E": "moe", "-": "mlp"}


# ----------------------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class ModelConfig:
    """Every shape of the hybrid model; presets below fill it in Nemotron-H / Nemotron 3 Nano proportions."""

    vocab_size: int = 32768
    d_model: int = 256
    pattern: str = "MEM*EM"
    # Mamba-2 (Dao & Gu 2024); Nemotron-H keeps head_dim 64, d_state 128, expand 2, conv 4, ~16 heads per group.
    mamba_head_dim: int = 64
    mamba_d_state: int = 128
    mamba_groups: int = 1
    mamba_expand: int = 2
    mamba_conv: int = 4
    mamba_chunk: int = 128
    # SSD kernel: "torch" (the chunked algorithm below), or fused Triton kernels for the same recurrence on GPU:
    # "mamba_ssm" (state-spaces/mamba, what Megatron-LM and NeMo train with; its gated-norm kernel too) or "fla"
    # (flash-linear-attention). Opt-in: faster and leaner than the torch path on a GPU (README), after a minute or two
    # of autotuning on a machine's first use.
    mamba_kernel: str = "torch"
    # The causal depthwise conv + SiLU before the SSD: "torch" (shifted multiply-adds that torch.compile fuses),
    # "fla" (flash-linear-attention's Triton causal_conv1d, forward and backward in one kernel each) or
    # "causal_conv1d" (Tri Dao's CUDA kernels, a compiled extension). With mamba_kernel "mamba_ssm" the last runs the
    # whole mixer as one custom op built from those kernels as Megatron-LM's path is (`trainer/mamba_mixer_op.py`),
    # the fastest pair (README's GPU table).
    conv_kernel: str = "torch"
    # Attention: GQA, no positional embeddings (Nemotron-H: the Mamba layers carry position).
    attn_heads: int = 4
    attn_kv_heads: int = 1
    attn_head_dim: int = 64
    # Dense MLP: squared ReLU, not gated (Nemotron-H).
    ffn_dim: int = 1024
    # MoE: fine-grained routed experts + shared expert, sigmoid router with top-k (Nemotron 3 Nano / DeepSeek-V3).
    moe_experts: int = 16
    moe_top_k: int = 2
    moe_expert_dim: int = 128
    moe_shared_experts: int = 1
    moe_shared_dim: int = 256
    moe_latent_dim: int = 0  # LatentMoE when > 0: routed experts work in this down-projected width
    moe_aux_loss_coef: float = 0.0  # 0 = balance only through the router bias (aux-loss-free, DeepSeek-V3)
    moe_routed_scale: float = 1.0
    # Multi-token prediction (DeepSeek-V3 section 2.2): extra heads predicting token t+1+d, loss weight 0.3.
    mtp_depth: int = 0
    mtp_loss_weight: float = 0.3
    tie_embeddings: bool = False
    # Residual stream in the autocast dtype (bf16 on GPU) as Megatron-LM's default (fp32_residual_connection=False);
    # True keeps it float32. On CPU there is no autocast and everything is float32 either way.
    fp32_residual: bool = False
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        bad = set(self.pattern) - set(LAYER_TYPES)
        if bad or not self.pattern:
            raise ValueError(f"pattern {self.pattern!r}: use only M (Mamba-2), * (attention), E (MoE), - (MLP)")
        if self.mamba_inner % self.mamba_head_dim or self.mamba_heads % self.mamba_groups:
            raise ValueError("mamba inner width must split into heads, and heads into groups")
        if self.attn_heads % self.attn_kv_heads:
            raise ValueError("attn_heads must be a multiple of attn_kv_heads")
        for field, kernels in KERNEL_OPTIONS.items():
            if getattr(self, field) not in ("torch", *kernels):
                raise ValueError(f"{field} {getattr(self, field)!r}: use torch, {' or '.join(kernels)}")
        if self.moe_top_k > self.moe_experts:
            raise ValueError("moe_top_k must not exceed moe_experts")

    @property
    def mamba_inner(self) -> int:
        return self.mamba_expand * self.d_model

    @property
    def mamba_heads(self) -> int:
        return self.mamba_inner // self.mamba_head_dim

    def to_dict(self) -> dict:
        return asdict(self)


def _preset(
    d: int,
    pattern: str,
    *,
    heads: int,
    kv: int,
    head_dim: int,
    experts: int,
    top_k: int,
    expert_dim: int,
    mamba_groups: int,
    tie: bool,
    d_state: int = 128,
) -> ModelConfig:
    # Nemotron 3 Nano: one shared expert twice a routed expert's width; dense MLP (for `-` layers) 4 x d_model.
    return ModelConfig(
        d_model=d,
        pattern=pattern,
        attn_heads=heads,
        attn_kv_heads=kv,
        attn_head_dim=head_dim,
        moe_experts=experts,
        moe_top_k=top_k,
        moe_expert_dim=expert_dim,
        moe_shared_experts=1,
        moe_shared_dim=2 * expert_dim,
        ffn_dim=4 * d,
        mamba_groups=mamba_groups,
        mamba_d_state=d_state,
        tie_embeddings=tie,
    )


# Mamba-2 : MoE : attention layers ~ 4:4:1 as in Nemotron 3 Nano (23:23:6 over 52 layers), Mamba-2 heads of 64 with
# d_state 128 (64 for the smallest) and GQA with 4 query heads per KV head. Parameters at the default 32k vocabulary:
#   proxy-10m   12.2M total (8.4M of it the tied embedding),  10.4M active per token
#   proxy-50m   52.8M total (16.8M tied embedding),           30.8M active
#   proxy-200m 220.7M total (33.6M embedding + 33.6M head),   99.1M active (LM head counted, embedding lookup not)
PRESETS: dict[str, ModelConfig] = {
    "proxy-10m": _preset(
        256,
        "MEM*EM",
        heads=4,
        kv=1,
        head_dim=64,
        experts=16,
        top_k=2,
        expert_dim=128,
        mamba_groups=1,
        tie=True,
        d_state=64,
    ),
    "proxy-50m": _preset(
        512, "MEMEM*EMEM", heads=8, kv=2, head_dim=64, experts=32, top_k=4, expert_dim=192, mamba_groups=1, tie=True
    ),
    "proxy-200m": _preset(
        1024,
        "MEMEM*EMEMEM*E",
        heads=8,
        kv=2,
        head_dim=128,
        experts=32,
        top_k=4,
        expert_dim=256,
        mamba_groups=2,
        tie=False,
    ),
}


def get_config(preset: str, **overrides) -> ModelConfig:
    """A preset's config with fields replaced by `overrides`."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[preset], **overrides)


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, eps: float) -> torch.Tensor:
    return F.rms_norm(x, (x.shape[-1],), weight, eps)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


# ---------------------------------------------------------------------------------------------------------- Mamba-2
def ssd_reference(
    x: torch.Tensor, log_a: torch.Tensor, b: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The SSD recurrence one step at a time: h_t = exp(a_t) h_{t-1} + x_t b_t^T, y_t = h_t c_t.

    x (batch, T, heads, head_dim), log_a (batch, T, heads), b and c (batch, T, groups, d_state).
    Returns y like x and the final state (batch, heads, head_dim, d_state).
    """
    bsz, length, heads, p = x.shape
    per_group = heads // b.shape[2]
    b = b.repeat_interleave(per_group, dim=2)
    c = c.repeat_interleave(per_group, dim=2)
    state = x.new_zeros(bsz, heads, p, b.shape[-1])
    ys = []
    for t in range(length):
        state = state * torch.exp(log_a[:, t])[:, :, None, None] + x[:, t, :, :, None] * b[:, t, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", state, c[:, t]))
    return torch.stack(ys, dim=1), state


def ssd_chunked(
    x: torch.Tensor, log_a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, chunk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same function as `ssd_reference`, computed chunk-parallel with matrix products (Mamba-2's SSD algorithm).

    Within a chunk the output is a masked (C B^T * decay) X product (the "attention-like" quadratic form); across
    chunks a small recurrence passes states. The algorithm of `ssd_minimal.py` (state-spaces/mamba), with B and C
    shared by the heads of a group and the decay segment sums taken as cumsum differences in float32. The products
    with B and C that do not depend on the head (chunk states, the entering-state term) run once per group with the
    group's heads folded into the matrix width, rather than as per-head products against a broadcast copy of B or C.
    """
    bsz, length, heads, p = x.shape
    groups, n = b.shape[2], b.shape[3]
    hg = heads // groups
    pad = (-length) % chunk
    if pad:  # zero inputs with zero log-decay leave the earlier (causal) outputs untouched
        x, b, c = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, b, c))
        log_a = F.pad(log_a, (0, 0, 0, pad))
    nc = (length + pad) // chunk
    xn = x.view(bsz, nc, chunk, groups, hg, p)  # natural layout (b, c, l, g, hg, p)
    bs = b.view(bsz, nc, chunk, groups, n).permute(0, 1, 3, 2, 4)  # (b, c, g, l, n)
    cs = c.view(bsz, nc, chunk, groups, n).permute(0, 1, 3, 2, 4)
    acc = torch.promote_types(log_a.dtype, torch.float32)  # decays in float32 at least
    a = log_a.to(acc).view(bsz, nc, chunk, groups, hg)
    if chunk <= 128:  # scan in the natural layout: faster under torch.compile at small chunks than the layout below
        a_cum = a.cumsum(2)  # (b, c, l, g, hg)
        a_head = a_cum.permute(0, 1, 3, 4, 2)  # (b, c, g, hg, l)
    else:  # inductor (torch 2.11) fails to generate that middle-dim scan at chunk 256: scan the last dim instead
        a_head = a.permute(0, 1, 3, 4, 2).cumsum(-1)
        a_cum = a_head.permute(0, 1, 4, 2, 3)

    # 1. diagonal blocks: y_i = sum_{j<=i} (c_i . b_j) exp(A_i - A_j) x_j; the decay is exact in float32 and the
    # (l, l) product it scales is cast once to the inputs' dtype (bf16 under autocast) for the matmul.
    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=x.device).tril()
    decay = torch.exp((a_head[..., :, None] - a_head[..., None, :]).masked_fill(~causal, float("-inf")))
    scores = (cs @ bs.transpose(-1, -2))[:, :, :, None]  # (b, c, g, 1, l, l)
    y_diag = (scores * decay).to(x.dtype) @ xn.permute(0, 1, 3, 4, 2, 5)  # (b, c, g, hg, l, p)

    # 2. each chunk's final state from its own inputs, per group: B^T (l, n) times X scaled (l, hg * p)
    to_end = torch.exp(a_cum[:, :, -1:] - a_cum)[..., None]  # (b, c, l, g, hg, 1)
    x_end = (xn * to_end).to(x.dtype).permute(0, 1, 3, 2, 4, 5).reshape(bsz, nc, groups, chunk, hg * p)
    states = bs.transpose(-1, -2) @ x_end  # (b, c, g, n, hg*p)

    # 3. pass states across chunks (nc is small so the (nc+1)^2 decay matrix is cheap)
    chunk_a = F.pad(a_cum[:, :, -1].permute(0, 2, 3, 1), (1, 0)).cumsum(-1)  # (b, g, hg, nc+1)
    causal_c = torch.ones(nc + 1, nc + 1, dtype=torch.bool, device=x.device).tril()
    across = torch.exp((chunk_a[..., :, None] - chunk_a[..., None, :]).masked_fill(~causal_c, float("-inf")))
    flat = states.to(acc).view(bsz, nc, groups, n, hg, p).permute(0, 2, 4, 1, 3, 5).reshape(bsz, groups, hg, nc, n * p)
    flat = F.pad(flat, (0, 0, 1, 0))  # zero initial state
    entering = across @ flat  # (b, g, hg, nc+1, n*p)
    final_state = entering[..., -1, :].reshape(bsz, groups, hg, n, p).transpose(-1, -2).reshape(bsz, heads, p, n)
    entering = entering[..., :-1, :].reshape(bsz, groups, hg, nc, n, p).permute(0, 3, 1, 4, 2, 5)
    entering = entering.reshape(bsz, nc, groups, n, hg * p).to(cs.dtype)  # (b, c, g, n, hg*p)

    # 4. contribution of the state entering each chunk, per group: c_i . h_in (l, hg * p), scaled by exp(A_i)
    y_off = (cs @ entering).view(bsz, nc, groups, chunk, hg, p)  # (b, c, g, l, hg, p)
    y = y_diag.permute(0, 1, 2, 4, 3, 5) + y_off * torch.exp(a_cum).permute(0, 1, 3, 2, 4)[..., None]
    y = y.permute(0, 1, 3, 2, 4, 5).reshape(bsz, nc * chunk, heads, p)[:, :length]
    return y.to(x.dtype), final_state


def ssd(
    x: torch.Tensor,
    dt: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    chunk: int,
    kernel: str = "torch",
    d: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mamba-2's SSD as the layer calls it: inputs x scaled by dt, decay exp(a * dt) per step; returns y like x.

    x (batch, T, heads, head_dim), dt (batch, T, heads) after softplus, a (heads,) negative, b and c (batch, T,
    groups, d_state), d (heads,) the optional skip connection y + d x. `kernel` picks the implementation; every one
    computes `ssd_reference`'s function.
    """
    if kernel == "mamba_ssm":
        return ssd_mamba_ssm(x, dt, a, b, c, chunk, d)
    args = (x * dt[..., None].to(x.dtype), a * dt, b, c)
    y = (ssd_fla(*args) if kernel == "fla" else ssd_chunked(*args, chunk))[0]
    return y if d is None else y + x * d[:, None].to(x.dtype)


def gated_rms_norm(
    y: torch.Tensor, z: torch.Tensor, weight: torch.Tensor, groups: int, eps: float, kernel: str = "torch"
) -> torch.Tensor:
    """Mamba-2's output norm: RMS-normalise y * silu(z) within each of `groups` channel groups, times weight.

    Per-group statistics (mamba_ssm's norm_before_gate=False with ngroups) keep the layer tensor-parallel invariant.
    """
    if kernel == "mamba_ssm":
        return gated_rms_norm_mamba_ssm(y, z, weight, groups, eps)
    shape = y.shape
    y = rms_norm((y * F.silu(z)).reshape(*shape[:-1], groups, -1), None, eps).reshape(shape)
    return y * weight


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Depthwise causal convolution over time as K shifted multiply-adds, x (batch, T, channels), weight (C, 1, K).

    Equals `F.conv1d(x.transpose(1, 2), weight, bias, padding=K-1, groups=C)[..., :T]` (the test checks it), but
    stays channels-last and fuses into one kernel under torch.compile, where cuDNN's depthwise conv1d plus the
    transposes around it cost a visible share of a GPU step.
    """
    width = weight.shape[-1]
    length = x.shape[1]
    w = weight[:, 0].to(x.dtype)
    padded = F.pad(x, (0, 0, width - 1, 0))
    y = bias.to(x.dtype) + padded[:, :length] * w[:, 0]
    for k in range(1, width):
        y = y + padded[:, k : k + length] * w[:, k]
    return y


def causal_conv1d_silu(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, kernel: str = "torch"
) -> torch.Tensor:
    """silu(causal_conv1d(x, weight, bias)) through the chosen kernel; weight and bias in x's dtype, as autocast."""
    if kernel == "fla":
        return causal_conv1d_silu_fla(x, weight, bias)
    if kernel == "causal_conv1d":
        return causal_conv1d_silu_dao(x, weight, bias)
    return F.silu(causal_conv1d(x, weight, bias))


class Mamba2(nn.Module):
    """Mamba-2 mixer: in_proj -> causal depthwise conv on (x, B, C) -> SSD -> gated group RMSNorm -> out_proj."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        di, g, n, h = cfg.mamba_inner, cfg.mamba_groups, cfg.mamba_d_state, cfg.mamba_heads
        require_kernels(cfg)
        self.conv_dim = di + 2 * g * n
        self.in_proj = nn.Linear(cfg.d_model, di + self.conv_dim + h, bias=False)
        self.conv1d = nn.Conv1d(
            self.conv_dim, self.conv_dim, cfg.mamba_conv, groups=self.conv_dim, padding=cfg.mamba_conv - 1
        )
        # dt in [1e-3, 1e-1] log-uniformly and A in [1, 16], as mamba_ssm's Mamba2 initialises them.
        dt = torch.exp(torch.rand(h) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(h).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(h))
        self.norm = RMSNorm(di, cfg.norm_eps)
        self.out_proj = nn.Linear(di, cfg.d_model, bias=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        bsz, length, _ = u.shape
        di, g, n, h, p = cfg.mamba_inner, cfg.mamba_groups, cfg.mamba_d_state, cfg.mamba_heads, cfg.mamba_head_dim
        zxbcdt = self.in_proj(u)
        if cfg.mamba_kernel == "mamba_ssm" and cfg.conv_kernel == "causal_conv1d":
            return self.out_proj(mamba_mixer_mamba_ssm(zxbcdt, self))
        z, xbc, dt = zxbcdt.split([di, self.conv_dim, h], dim=-1)
        assert self.conv1d.bias is not None  # nn.Conv1d's default bias=True
        xbc = causal_conv1d_silu(xbc, self.conv1d.weight, self.conv1d.bias, cfg.conv_kernel)
        x, b, c = xbc.split([di, g * n, g * n], dim=-1)
        dt = F.softplus(dt.float() + self.dt_bias)  # (b, T, h)
        a = -torch.exp(self.A_log.float())
        x = x.reshape(bsz, length, h, p)
        y = ssd(
            x,
            dt,
            a,
            b.reshape(bsz, length, g, n),
            c.reshape(bsz, length, g, n),
            cfg.mamba_chunk,
            cfg.mamba_kernel,
            self.D,
        )
        y = gated_rms_norm(y.reshape(bsz, length, di), z, self.norm.weight, g, cfg.norm_eps, cfg.mamba_kernel)
        return self.out_proj(y)


def warm_up_kernels(cfg: ModelConfig, batch: int, seq_len: int, device: torch.device) -> float:
    """Run one Mamba-2 layer with the model's fused kernels forward and backward at the training shapes; returns the
    seconds taken (0 when every kernel is plain PyTorch).

    Triton autotunes a kernel on its first call by compiling and timing every configuration. Inside the first training
    step that would run beside a GPU full of activations, and look like a hang; done here, before training allocates
    anything, it is a one-off cost per machine (the results are cached on disk).
    """
    if cfg.mamba_kernel == "torch" and cfg.conv_kernel == "torch":
        return 0.0
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # training's RNG stream untouched
        layer = Mamba2(cfg).to(device)
        u = torch.randn(batch, seq_len, cfg.d_model, device=device)
        with autocast(device):
            layer(u).float().sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


# -------------------------------------------------------------------------------------------------------- attention
class Attention(nn.Module):
    """Causal grouped-query attention with no positional embedding, through scaled_dot_product_attention."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        hd = cfg.attn_head_dim
        self.q_proj = nn.Linear(cfg.d_model, cfg.attn_heads * hd, bias=False)
        self.kv_proj = nn.Linear(cfg.d_model, 2 * cfg.attn_kv_heads * hd, bias=False)
        self.out_proj = nn.Linear(cfg.attn_heads * hd, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        bsz, length, _ = x.shape
        q = self.q_proj(x).view(bsz, length, cfg.attn_heads, cfg.attn_head_dim).transpose(1, 2)
        k, v = self.kv_proj(x).view(bsz, length, 2, cfg.attn_kv_heads, cfg.attn_head_dim).unbind(2)
        # Repeat K/V to the query heads: keeps every SDPA backend (flash included) eligible.
        rep = cfg.attn_heads // cfg.attn_kv_heads
        k = k.transpose(1, 2).repeat_interleave(rep, dim=1)
        v = v.transpose(1, 2).repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(y.transpose(1, 2).reshape(bsz, length, -1))


# -------------------------------------------------------------------------------------------------------------- MLP
class MLP(nn.Module):
    """Squared-ReLU feed-forward (Nemotron-H; So et al. 2021 "Primer")."""

    def __init__(self, d_in: int, hidden: int):
        super().__init__()
        self.up = nn.Linear(d_in, hidden, bias=False)
        self.down = nn.Linear(hidden, d_in, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.up(x))
        return self.down(h * h)  # not .square(): autocast would run pow in fp32


# -------------------------------------------------------------------------------------------------------------- MoE
GROUP_ALIGN = 16  # rows per expert group padded to this: grouped GEMM kernels want 16-byte aligned groups


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


class _DispatchRows(torch.autograd.Function):
    """Copy token rows into the expert-sorted buffer (zero padding rows); backward gathers each token's k rows and
    sums them, where autograd's default (index_put with accumulate) is an atomic scatter over the whole buffer."""

    @staticmethod
    def forward(ctx, x, row_token, row_valid, slot_pos, k):
        ctx.save_for_backward(slot_pos)
        ctx.k = k
        return torch.where(row_valid[:, None], x[row_token], 0)

    @staticmethod
    def backward(ctx, grad):
        (slot_pos,) = ctx.saved_tensors
        grad_x = grad[slot_pos].view(-1, ctx.k, grad.shape[-1]).sum(1)
        return grad_x, None, None, None, None


class _CombineRows(torch.autograd.Function):
    """out[t] = sum_j gate[t, j] * h[slot_pos[t, j]]; backward writes each buffer row's gradient by a gather (every
    row belongs to at most one (token, slot)), not by a scatter into a zeroed buffer."""

    @staticmethod
    def forward(ctx, h, gate, slot_pos, row_slot, row_valid):
        ctx.save_for_backward(h, gate, slot_pos, row_slot, row_valid)
        n, k = gate.shape
        picked = h[slot_pos].view(n, k, h.shape[-1])
        return (picked * gate[..., None]).sum(1).to(h.dtype)

    @staticmethod
    def backward(ctx, grad):
        h, gate, slot_pos, row_slot, row_valid = ctx.saved_tensors
        n, k = gate.shape
        picked = h[slot_pos].view(n, k, h.shape[-1])
        grad_gate = (picked.float() * grad.float()[:, None, :]).sum(-1).to(gate.dtype)
        row_gate = gate.reshape(-1)[row_slot].to(grad.dtype)
        grad_h = torch.where(row_valid[:, None], grad[row_slot // k] * row_gate[:, None], 0).to(h.dtype)
        return grad_h, grad_gate, None, None, None


def experts_grouped(
    x: torch.Tensor, idx: torch.Tensor, gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor
) -> torch.Tensor:
    """Routed experts as two grouped GEMMs over tokens sorted by expert (static shapes, so it compiles).

    x (N, d), idx and gate (N, k), w_up (E, f, d), w_down (E, d, f). Returns sum_k gate * expert(x), (N, d).
    The sort is done once: each padded buffer row knows its (token, slot) and each (token, slot) its row, so dispatch,
    combine and both their gradients are gathers, never atomic scatters.
    """
    if torch.compiler.is_compiling() and _compute_dtype(x) != torch.bfloat16:
        # The compiler's shape rules for grouped GEMM know only bf16 (the GPU path); fp32 (CPU) runs it eagerly.
        return _experts_grouped_eager(x, idx, gate, w_up, w_down)
    n_tokens, k = idx.shape
    n_experts = w_up.shape[0]
    flat = idx.reshape(-1)
    order = flat.argsort(stable=True)
    counts = torch.zeros(n_experts, dtype=torch.long, device=x.device).scatter_add_(0, flat, torch.ones_like(flat))
    padded = (counts + GROUP_ALIGN - 1) // GROUP_ALIGN * GROUP_ALIGN
    start = counts.cumsum(0) - counts
    pstart = padded.cumsum(0) - padded
    rows = n_tokens * k + n_experts * (GROUP_ALIGN - 1)
    # Position of each sorted assignment in the padded buffer; the last group runs to the buffer's end.
    expert_sorted = flat[order]
    pos = pstart[expert_sorted] + torch.arange(n_tokens * k, device=x.device) - start[expert_sorted]
    offs = padded.cumsum(0).to(torch.int32)
    offs[-1:].fill_(rows)  # a fill, not a copy from a host scalar: CUDA graph capture forbids those
    slot_pos = torch.empty_like(pos).scatter_(0, order, pos)  # (token, slot) -> buffer row
    row_slot = torch.zeros(rows, dtype=torch.long, device=x.device).scatter_(0, pos, order)  # row -> token*k+slot
    row_valid = torch.zeros(rows, dtype=torch.bool, device=x.device).index_fill_(0, pos, True)
    dtype = _compute_dtype(x)
    buf = _DispatchRows.apply(x.to(dtype), row_slot // k, row_valid, slot_pos, k)
    h = torch._grouped_mm(buf, w_up.to(dtype).transpose(-2, -1), offs=offs)
    h = F.relu(h)
    h = torch._grouped_mm(h * h, w_down.to(dtype).transpose(-2, -1), offs=offs)  # h*h: autocast runs pow in fp32
    return _CombineRows.apply(h, gate.to(torch.promote_types(gate.dtype, torch.float32)), slot_pos, row_slot, row_valid)


_experts_grouped_eager = torch.compiler.disable(experts_grouped)


def experts_dense_reference(
    x: torch.Tensor, idx: torch.Tensor, gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor
) -> torch.Tensor:
    """The same function run densely: every expert on every token, weighted by its (mostly zero) gate."""
    out = torch.zeros_like(x)
    for e in range(w_up.shape[0]):
        weight = (gate * (idx == e)).sum(-1, keepdim=True)
        h = F.relu(x @ w_up[e].T)
        out = out + weight * ((h * h) @ w_down[e].T)
    return out


class MoE(nn.Module):
    """Fine-grained routed experts plus shared experts, sigmoid top-k router with a load-balancing bias.

    The bias only steers which experts are chosen, never the gate values; after each step the trainer nudges it
    towards under-loaded experts (`update_bias`): DeepSeek-V3's auxiliary-loss-free balancing, also used by
    Nemotron 3. A Switch-style auxiliary loss is available as well (moe_aux_loss_coef > 0).
    """

    router_bias: torch.Tensor  # a buffer (register_buffer in __init__), typed for the checker

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d, e, f = cfg.d_model, cfg.moe_experts, cfg.moe_expert_dim
        width = cfg.moe_latent_dim or d
        self.router = nn.Linear(d, e, bias=False)
        self.register_buffer("router_bias", torch.zeros(e))
        # LatentMoE: project to a narrower latent for the routed experts, so more/larger experts fit per byte moved.
        self.latent_down = nn.Linear(d, width, bias=False) if cfg.moe_latent_dim else None
        self.latent_up = nn.Linear(width, d, bias=False) if cfg.moe_latent_dim else None
        self.w_up = nn.Parameter(torch.empty(e, f, width))
        self.w_down = nn.Parameter(torch.empty(e, width, f))
        self.shared = MLP(d, cfg.moe_shared_experts * cfg.moe_shared_dim) if cfg.moe_shared_experts else None
        self.use_reference = False  # tests flip this to run experts_dense_reference

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top-k experts per token: (indices, gates, sigmoid scores); routing in float32."""
        scores = torch.sigmoid(F.linear(x.float(), self.router.weight.float()))
        idx = torch.topk(scores + self.router_bias, self.cfg.moe_top_k, dim=-1).indices
        gate = scores.gather(-1, idx)
        gate = gate / gate.sum(-1, keepdim=True) * self.cfg.moe_routed_scale
        return idx, gate, scores

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Returns (output, tokens per expert, auxiliary loss or None when its coefficient is 0)."""
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        idx, gate, scores = self.route(flat)
        h = self.latent_down(flat) if self.latent_down is not None else flat
        run = experts_dense_reference if self.use_reference else experts_grouped
        y = run(h, idx, gate, self.w_up, self.w_down)
        if self.latent_up is not None:
            y = self.latent_up(y)
        if self.shared is not None:
            y = y + self.shared(flat)
        load = torch.zeros(self.cfg.moe_experts, device=x.device).scatter_add_(
            0, idx.reshape(-1), torch.ones(idx.numel(), device=x.device)
        )
        aux = None
        if self.cfg.moe_aux_loss_coef > 0:
            frac = load / idx.numel()
            prob = (scores / scores.sum(-1, keepdim=True)).mean(0)
            aux = self.cfg.moe_aux_loss_coef * self.cfg.moe_experts * (frac * prob).sum()
        return y.reshape(shape).to(x.dtype), load, aux

    @torch.no_grad()
    def update_bias(self, load: torch.Tensor, rate: float) -> None:
        """Raise the bias of experts below the mean load, lower it above (DeepSeek-V3 eq. 16, update speed gamma)."""
        self.router_bias += rate * torch.sign(load.mean() - load)


# ------------------------------------------------------------------------------------------- LM head + cross-entropy
CE_CHUNK = 8192  # tokens per slice of logits: one slice of bf16 logits lives at a time, never the whole fp32 tensor


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of (h @ weight^T) against targets, with the logits made one slice of tokens at a time.

    Each slice's logits live only inside the forward: it computes the slice's loss and, since d loss / d logits is
    softmax - onehot, also its gradients for h and the weight, which backward then only scales (the fused linear
    cross-entropy of Liger-Kernel / Apple's cut-cross-entropy, in plain PyTorch). A whole batch's fp32 logits and
    their gradient never exist, which was 4 GB written and read several times per proxy-200m step.
    """

    @staticmethod
    def forward(ctx, h, weight, targets, chunk):
        dtype = _compute_dtype(h)
        hc, w = h.to(dtype), weight.to(dtype)
        acc = torch.promote_types(dtype, torch.float32)  # softmax and the weight gradient sum in float32 at least
        n = h.shape[0]
        loss = torch.zeros((), dtype=acc, device=h.device)
        grad_h = torch.empty_like(hc)
        grad_w = torch.zeros(weight.shape, dtype=acc, device=h.device)
        for s in range(0, n, chunk):
            hs, ts = hc[s : s + chunk], targets[s : s + chunk]
            logits = (hs @ w.T).to(acc)
            lse = torch.logsumexp(logits, dim=-1)
            loss = loss + (lse - logits.gather(1, ts[:, None])[:, 0]).sum()
            # softmax - onehot as one pointwise expression: a scatter would split it into two passes over the slice
            onehot = torch.arange(logits.shape[1], device=h.device) == ts[:, None]
            grad = ((torch.exp(logits - lse[:, None]) - onehot.to(acc)) / n).to(dtype)
            grad_h[s : s + chunk] = grad @ w
            grad_w += (grad.T @ hs).to(acc)
        ctx.save_for_backward(grad_h, grad_w)
        ctx.dtypes = (h.dtype, weight.dtype)
        return loss / n

    @staticmethod
    def backward(ctx, grad_loss):
        grad_h, grad_w = ctx.saved_tensors
        h_dtype, w_dtype = ctx.dtypes
        return (grad_h * grad_loss).to(h_dtype), (grad_w * grad_loss).to(w_dtype), None, None


def linear_cross_entropy(
    h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int = CE_CHUNK
) -> torch.Tensor:
    """`F.cross_entropy(h @ weight.T, targets)` without materialising the logits; h (N, d), weight (V, d)."""
    return _LinearCrossEntropy.apply(h, weight, targets, chunk)


# ------------------------------------------------------------------------------------------------------ the stack
class Layer(nn.Module):
    """One pre-norm residual layer of the given kind."""

    def __init__(self, kind: str, cfg: ModelConfig):
        super().__init__()
        self.kind = LAYER_TYPES[kind]
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mixer = {
            "mamba": lambda: Mamba2(cfg),
            "attention": lambda: Attention(cfg),
            "moe": lambda: MoE(cfg),
            "mlp": lambda: MLP(cfg.d_model, cfg.ffn_dim),
        }[self.kind]()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple | None]:
        """The next residual stream, and an MoE layer's (tokens per expert, auxiliary loss or None).

        Returned, not appended to a list argument: torch.compile guards on such a list's length, so behind a graph
        break (the fused Mamba kernels) every MoE layer compiled its own copy, and past 8 copies (the recompile
        limit, e.g. 10 MoE layers) the remaining layers silently ran eagerly."""
        out = self.mixer(self.norm(x))
        if self.kind == "moe":
            out, load, aux = out
            return x + out, (load, aux)
        return x + out, None


class MTPHead(nn.Module):
    """One multi-token-prediction depth: merge the previous depth's hidden state with the next token's embedding,
    run one attention and one MLP layer, and predict one token further (DeepSeek-V3 section 2.2)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm_h = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.norm_e = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.proj = nn.Linear(2 * cfg.d_model, cfg.d_model, bias=False)
        self.layers = nn.ModuleList([Layer("*", cfg), Layer("-", cfg)])

    def forward(self, h: torch.Tensor, next_emb: torch.Tensor) -> torch.Tensor:
        x = self.proj(torch.cat([self.norm_h(h), self.norm_e(next_emb)], dim=-1))
        for layer in self.layers:
            x, _ = layer(x)
        return x


class HybridLM(nn.Module):
    """Token embedding -> layers from `cfg.pattern` -> final norm -> LM head (+ optional MTP heads)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList([Layer(ch, cfg) for ch in cfg.pattern])
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed.weight
        self.mtp = nn.ModuleList([MTPHead(cfg) for _ in range(cfg.mtp_depth)])
        self.apply(self._init)
        # Residual-branch outputs scaled by 1/sqrt(2 * layers) (GPT-2), so the stream's variance stays flat in depth.
        for name, p in self.named_parameters():
            if name.endswith(("out_proj.weight", "down.weight", "w_down", "latent_up.weight")):
                nn.init.normal_(p, std=cfg.init_std / math.sqrt(2 * len(cfg.pattern)))

    def _init(self, module: nn.Module) -> None:
        std = self.cfg.init_std
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=std)
        elif isinstance(module, MoE):
            nn.init.normal_(module.w_up, std=std)
            nn.init.normal_(module.w_down, std=std)

    @property
    def moe_layers(self) -> list[MoE]:
        return [layer.mixer for layer in self.layers if isinstance(layer.mixer, MoE)]

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss on next-token targets; returns loss (to optimise), lm_loss, aux_loss, mtp_loss, expert_load."""
        x = self.embed(idx)
        if not self.cfg.fp32_residual and torch.is_autocast_enabled(x.device.type):
            x = x.to(torch.get_autocast_dtype(x.device.type))
        stats = []
        for layer in self.layers:
            x, moe = layer(x)
            if moe is not None:
                stats.append(moe)
        h = x
        lm_loss = self._loss(self.norm(h), targets)
        loss = lm_loss
        # Only terms that exist are added: `loss + zeros` under torch.compile (2.11-2.13) returned a loss detached
        # from the graph when the detached lm_loss was returned beside it.
        aux = [a for _, a in stats if a is not None]
        aux_loss = torch.stack(aux).sum() if aux else None
        if aux_loss is not None:
            loss = loss + aux_loss
        mtp_losses = []
        for depth, head in enumerate(self.mtp, start=1):
            # depth d combines h at t with the embedding of token t+d to predict token t+d+1
            h = head(h[:, :-1], self.embed(targets[:, depth - 1 : -1]))
            mtp_losses.append(self._loss(self.norm(h), targets[:, depth:]))
        mtp_loss = torch.stack(mtp_losses).mean() if mtp_losses else None
        if mtp_loss is not None:
            loss = loss + self.cfg.mtp_loss_weight * mtp_loss
        load = (
            torch.stack([lo for lo, _ in stats]) if stats else torch.zeros(0, self.cfg.moe_experts, device=idx.device)
        )
        none = torch.zeros((), device=idx.device)
        return {
            "loss": loss,
            "lm_loss": lm_loss.detach(),
            "aux_loss": none if aux_loss is None else aux_loss.detach(),
            "mtp_loss": none if mtp_loss is None else mtp_loss.detach(),
            "expert_load": load,
        }

    def _loss(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        h, targets = h.reshape(-1, h.shape[-1]), targets.reshape(-1)
        # Fused under torch.compile (two kernels per slice; eager would run ~8 passes per slice), and only when a
        # backward follows: it computes the gradients in the forward.
        if torch.compiler.is_compiling() and torch.is_grad_enabled():
            return linear_cross_entropy(h, self.lm_head.weight, targets)
        return F.cross_entropy(self.lm_head(h).float(), targets)

    @torch.no_grad()
    def update_router_biases(self, expert_load: torch.Tensor, rate: float) -> None:
        """Apply one aux-loss-free balancing step to every MoE layer from its tokens-per-expert counts."""
        for moe, load in zip(self.moe_layers, expert_load):
            moe.update_bias(load, rate)


# --------------------------------------------------------------------------------------------------- accounting
def count_parameters(cfg: ModelConfig) -> dict[str, int]:
    """Total and active (per-token) parameters, built on the meta device so even big configs cost nothing."""
    with torch.device("meta"):
        model = HybridLM(cfg)
    total = sum(p.numel() for p in model.parameters())
    embed = model.embed.weight.numel()
    routed = sum(m.w_up.numel() + m.w_down.numel() for m in model.moe_layers)
    inactive = routed * (1 - cfg.moe_top_k / cfg.moe_experts)
    mtp = sum(p.numel() for p in model.mtp.parameters())
    # Active: what one token's forward multiplies by (the LM head yes, the embedding lookup no).
    active = total - inactive - (0 if cfg.tie_embeddings else embed)
    return {"total": total, "active": int(active), "embedding": embed, "routed_experts": routed, "mtp": mtp}


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token: 6 x active matmul parameters + attention and SSD quadratic terms (fwd + bwd).

    Attention: 12 * layers * heads * head_dim * T / 2 for the causal half (QK^T and AV, forward + backward x 3).
    SSD: the intra-chunk (C B^T) X product and the chunk states, the matmul work Mamba-2 adds beyond its projections.
    """
    params = count_parameters(cfg)
    dense = 6 * params["active"]
    n_attn = cfg.pattern.count("*") + cfg.mtp_depth
    attn = 12 * n_attn * cfg.attn_heads * cfg.attn_head_dim * seq_len / 2
    chunk = min(cfg.mamba_chunk, seq_len)
    n_mamba = cfg.pattern.count("M")
    per_tok = (
        2 * chunk * cfg.mamba_d_state * cfg.mamba_groups / 2  # C B^T, causal half
        + 2 * chunk * cfg.mamba_heads * cfg.mamba_head_dim / 2  # (.) X, causal half
        + 2 * 2 * cfg.mamba_heads * cfg.mamba_head_dim * cfg.mamba_d_state
    )  # states in and out
    ssd = 3 * n_mamba * per_tok
    return dense + attn + ssd


def preset_table(vocab_size: int | None = None) -> str:
    """The presets' layer mix and parameter counts, one line each (`python -m corpusforge.trainer.model`)."""
    lines = [f"{'preset':<11} {'pattern':<16} {'d':>5} {'M/E/*':>7} {'experts':>9} {'total':>8} {'active':>8}"]
    for name, cfg in PRESETS.items():
        if vocab_size:
            cfg = replace(cfg, vocab_size=vocab_size)
        n = count_parameters(cfg)
        mix = "/".join(str(cfg.pattern.count(c)) for c in "ME*")
        lines.append(
            f"{name:<11} {cfg.pattern:<16} {cfg.d_model:>5} {mix:>7} "
            f"{f'{cfg.moe_top_k}/{cfg.moe_experts}+{cfg.moe_shared_experts}':>9} "
            f"{n['total'] / 1e6:>7.1f}M {n['active'] / 1e6:>7.1f}M"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(preset_table())
