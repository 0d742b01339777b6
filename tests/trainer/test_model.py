"""The fast paths of the proxy model agree with their references; presets have the advertised sizes."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from corpusforge.trainer.model import (
    PRESETS,
    HybridLM,
    MoE,
    causal_conv1d,
    count_parameters,
    experts_dense_reference,
    experts_grouped,
    get_config,
    linear_cross_entropy,
    ssd_chunked,
    ssd_reference,
)


def _ssd_inputs(seed, bsz=2, length=37, heads=4, groups=2, p=8, n=6):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(bsz, length, heads, p, generator=g, dtype=torch.float64)
    log_a = -torch.rand(bsz, length, heads, generator=g, dtype=torch.float64) * 2  # decays in (e^-2, 1]
    b = torch.randn(bsz, length, groups, n, generator=g, dtype=torch.float64)
    c = torch.randn(bsz, length, groups, n, generator=g, dtype=torch.float64)
    return x, log_a, b, c


@pytest.mark.parametrize("chunk", [1, 8, 16, 64, 160])  # 160: the long-chunk scan layout
def test_chunked_ssd_equals_sequential_reference(chunk):
    x, log_a, b, c = _ssd_inputs(seed=chunk)  # length 37: several chunks plus a ragged last one
    y_ref, state_ref = ssd_reference(x, log_a, b, c)
    y, state = ssd_chunked(x, log_a, b, c, chunk)
    assert torch.allclose(y, y_ref, rtol=1e-9, atol=1e-9)
    if 37 % chunk == 0 or chunk == 1:
        assert torch.allclose(state, state_ref, rtol=1e-9, atol=1e-9)


def test_chunked_ssd_gradients_match_reference():
    inputs = [t.requires_grad_() for t in _ssd_inputs(seed=3, length=20)]
    ref_grads = torch.autograd.grad(ssd_reference(*inputs)[0].square().sum(), inputs)
    grads = torch.autograd.grad(ssd_chunked(*inputs, 8)[0].square().sum(), inputs)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, rtol=1e-8, atol=1e-8)


def test_grouped_experts_equal_dense_reference():
    torch.manual_seed(0)
    n, d, f, e, k = 50, 16, 24, 8, 3
    x = torch.randn(n, d)
    w_up, w_down = torch.randn(e, f, d), torch.randn(e, d, f)
    idx = torch.stack([torch.randperm(e)[:k] for _ in range(n)])
    idx[:20] = torch.tensor([0, 1, 2])  # a crowded expert and idle ones exercise the group padding
    gate = torch.rand(n, k)
    assert torch.allclose(
        experts_grouped(x, idx, gate, w_up, w_down),
        experts_dense_reference(x, idx, gate, w_up, w_down),
        rtol=1e-5,
        atol=1e-4,
    )


@pytest.mark.parametrize("latent", [0, 8])
def test_moe_layer_equals_dense_reference_with_gradients(latent):
    cfg = get_config(
        "proxy-10m",
        d_model=32,
        moe_experts=6,
        moe_top_k=2,
        moe_expert_dim=16,
        moe_shared_dim=16,
        moe_latent_dim=latent,
        moe_aux_loss_coef=0.01,
    )
    torch.manual_seed(1)
    moe = MoE(cfg)
    for p in moe.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(2, 9, 32)
    outs = []
    for reference in (False, True):
        moe.use_reference = reference
        moe.zero_grad()
        y, load, aux = moe(x)
        (y.square().sum() + aux).backward()
        outs.append((y.detach(), load, [p.grad.clone() for p in moe.parameters()]))
    (y1, load1, g1), (y2, load2, g2) = outs
    assert torch.allclose(y1, y2, rtol=1e-5, atol=1e-5)
    assert torch.equal(load1, load2) and load1.sum() == 2 * 9 * 2
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


def test_router_bias_update_steers_tokens_to_idle_experts():
    cfg = get_config("proxy-10m", d_model=32, moe_experts=4, moe_top_k=1, moe_expert_dim=16)
    torch.manual_seed(0)
    moe = MoE(cfg)
    with torch.no_grad():
        torch.nn.init.normal_(moe.router.weight, std=0.2)
        moe.router.weight[0] += 0.1  # expert 0 is favoured by the inputs' positive mean
    x = torch.randn(256, 32) + 0.5
    spread = []
    for _ in range(40):
        _, load, _ = moe(x)
        spread.append(float(load.max() - load.min()))
        moe.update_bias(load, rate=0.01)
    assert spread[0] > 100 and max(spread[-10:]) < 0.25 * spread[0]


def test_hybrid_forward_backward_with_mtp_and_latent_moe():
    cfg = get_config(
        "proxy-10m",
        vocab_size=64,
        d_model=64,
        pattern="M*E-",
        mamba_d_state=16,
        mamba_head_dim=16,
        attn_heads=4,
        attn_kv_heads=2,
        attn_head_dim=16,
        ffn_dim=64,
        moe_experts=4,
        moe_expert_dim=16,
        moe_shared_dim=16,
        moe_latent_dim=32,
        mtp_depth=2,
        mamba_chunk=8,
    )
    model = HybridLM(cfg)
    idx = torch.randint(0, 64, (2, 19))
    out = model(idx[:, :-1], idx[:, 1:])
    out["loss"].backward()
    assert out["expert_load"].shape == (1, 4) and out["mtp_loss"] > 0
    assert abs(float(out["lm_loss"]) - torch.log(torch.tensor(64.0))) < 0.3  # near-uniform at init
    assert all(p.grad is not None for n, p in model.named_parameters() if "mtp" in n)


def test_causality_future_tokens_do_not_change_past_losses():
    cfg = get_config(
        "proxy-10m",
        vocab_size=50,
        d_model=64,
        pattern="M*E",
        mamba_d_state=16,
        mamba_head_dim=16,
        attn_head_dim=16,
        moe_experts=4,
        moe_expert_dim=16,
        moe_shared_dim=16,
        mamba_chunk=4,
    )
    model = HybridLM(cfg)
    idx = torch.randint(0, 50, (1, 16))
    h1 = model.norm(_hidden(model, idx))
    idx2 = idx.clone()
    idx2[0, 10:] = (idx2[0, 10:] + 1) % 50
    h2 = model.norm(_hidden(model, idx2))
    assert torch.allclose(h1[:, :10], h2[:, :10], atol=1e-6) and not torch.allclose(h1[:, 10:], h2[:, 10:])


def _hidden(model, idx):
    x = model.embed(idx)
    for layer in model.layers:
        x, _ = layer(x)
    return x


def test_presets_have_advertised_sizes():
    totals = {name: count_parameters(cfg)["total"] / 1e6 for name, cfg in PRESETS.items()}
    assert 9 < totals["proxy-10m"] < 15 and 40 < totals["proxy-50m"] < 65 and 180 < totals["proxy-200m"] < 240
    for cfg in PRESETS.values():
        assert cfg.pattern.count("*") >= 1 and abs(cfg.pattern.count("M") - cfg.pattern.count("E")) <= 1


def test_causal_conv_equals_torch_conv1d():
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(12, 12, 4, groups=12, padding=3)
    x = torch.randn(2, 17, 12, requires_grad=True)
    ref = conv(x.transpose(1, 2))[..., :17].transpose(1, 2)
    y = causal_conv1d(x, conv.weight, conv.bias)
    assert torch.allclose(y, ref, atol=1e-6)
    g = torch.autograd.grad(y.square().sum(), [x, conv.weight, conv.bias])
    g_ref = torch.autograd.grad(ref.square().sum(), [x, conv.weight, conv.bias])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g, g_ref))


@pytest.mark.parametrize("chunk", [7, 64])
def test_linear_cross_entropy_equals_unfused_loss_and_gradients(chunk):
    g = torch.Generator().manual_seed(3)
    h = torch.randn(50, 16, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(40, 16, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 40, (50,), generator=g)
    ref = F.cross_entropy(h @ w.T, t)
    gh, gw = torch.autograd.grad(3.0 * ref, (h, w))
    got = linear_cross_entropy(h, w, t, chunk)
    fh, fw = torch.autograd.grad(3.0 * got, (h, w))
    assert torch.allclose(got, ref, rtol=1e-9)
    assert torch.allclose(fh, gh, rtol=1e-6, atol=1e-9) and torch.allclose(fw, gw, rtol=1e-6, atol=1e-9)


def test_fla_kernel_maps_ssd_onto_simple_gla(monkeypatch):
    """The opt-in Triton path (GPU only) computes ssd_reference's function: checked here through FLA's own
    plain-PyTorch chunk_simple_gla, where flash-linear-attention is installed."""
    simple_gla = pytest.importorskip("fla.ops.simple_gla")
    naive = pytest.importorskip("fla.ops.simple_gla.naive").naive_chunk_simple_gla
    monkeypatch.setattr(
        simple_gla,
        "chunk_simple_gla",
        lambda q, k, v, g, scale, output_final_state: naive(
            q, k, v, g, scale=scale, output_final_state=output_final_state
        ),
    )
    from corpusforge.trainer.kernels import ssd_fla

    x, log_a, b, c = _ssd_inputs(5, length=128)
    y_ref, state_ref = ssd_reference(x, log_a, b, c)
    y, state = ssd_fla(*(t.float() for t in (x, log_a, b, c)))
    assert torch.allclose(y.double(), y_ref, rtol=1e-4, atol=1e-4)
    assert torch.allclose(state.double(), state_ref, rtol=1e-4, atol=1e-4)


def test_mamba_ssm_kernel_gets_the_layer_inputs_in_its_convention(monkeypatch):
    """Same check for the mamba_ssm path, through mamba_ssm's own plain-PyTorch ssd_chunk_scan_combined_ref."""
    combined = pytest.importorskip("mamba_ssm.ops.triton.ssd_combined")
    monkeypatch.setattr(combined, "mamba_chunk_scan_combined", combined.ssd_chunk_scan_combined_ref)
    from corpusforge.trainer.model import ssd

    x, log_a, b, c = _ssd_inputs(6, length=128)
    dt = torch.rand(log_a.shape, dtype=torch.float64) + 0.1
    a = -torch.rand(x.shape[2], dtype=torch.float64) - 0.5
    y_ref, _ = ssd_reference(x * dt[..., None], a * dt, b, c)
    y = ssd(*(t.float() for t in (x, dt, a, b, c)), 32, "mamba_ssm")
    assert torch.allclose(y.double(), y_ref, rtol=1e-4, atol=1e-4)
    d = torch.randn(x.shape[2], dtype=torch.float64)
    y = ssd(*(t.float() for t in (x, dt, a, b, c)), 32, "mamba_ssm", d.float())
    assert torch.allclose(y.double(), y_ref + x * d[:, None], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "option,kernel,package",
    [
        ("mamba_kernel", "fla", "fla-core"),
        ("mamba_kernel", "mamba_ssm", "mamba-ssm"),
        ("conv_kernel", "fla", "fla-core"),
        ("conv_kernel", "causal_conv1d", "causal-conv1d"),
    ],
)
def test_fused_kernel_without_its_package_is_a_config_error(monkeypatch, option, kernel, package):
    from corpusforge.trainer import kernels, model

    monkeypatch.setattr(kernels, "kernel_available", lambda *args: False)
    with pytest.raises(ValueError, match=f"{option} {kernel} needs `pip install {package}`"):
        model.Mamba2(get_config("proxy-10m", **{option: kernel}))
    with pytest.raises(ValueError, match=option):
        get_config("proxy-10m", **{option: "cuda"})


SMALL = dict(
    vocab_size=64,
    d_model=64,
    pattern="ME*M",
    mamba_d_state=16,
    mamba_head_dim=16,
    mamba_groups=2,
    attn_heads=4,
    attn_kv_heads=2,
    attn_head_dim=16,
    moe_experts=4,
    moe_expert_dim=16,
    moe_shared_dim=16,
    mamba_chunk=8,
)


def _signature(*tensors) -> list:
    return [(tuple(t.shape), t.stride(), t.dtype) for t in tensors]


@pytest.fixture
def stand_in_kernels(monkeypatch):
    """Stand-ins with the fused kernels' signatures (mamba_ssm's SSD, gated norm and whole mixer, FLA's and
    causal-conv1d's causal conv), computed in plain PyTorch; returns the list of the SSD, conv and mixer calls, each
    as the shape, stride and dtype of every tensor argument -- what Triton's autotuner keys its choices on."""
    import sys
    import types

    from corpusforge.trainer import kernels, mamba_mixer_op

    calls = []

    def stand_in(x, dt, a, b, c, chunk, D=None):
        calls.append(["ssd", chunk] + _signature(x, dt, a, b, c, D))
        return ssd_chunked(x * dt[..., None], a * dt, b, c, chunk)[0] + x * D[:, None]

    def conv_stand_in(x, weight, bias, activation, backend):
        assert activation == "silu" and backend == "triton"
        calls.append(["conv"] + _signature(x, weight, bias))
        return F.silu(causal_conv1d(x, weight[:, None], bias)), None

    def norm_stand_in(y, weight, bias, z, eps, group_size, norm_before_gate):
        assert bias is None and not norm_before_gate
        gated = (y * F.silu(z)).unflatten(-1, (-1, group_size))
        return (gated * torch.rsqrt(gated.pow(2).mean(-1, keepdim=True) + eps)).flatten(-2) * weight

    def dao_conv_stand_in(x, weight, bias, activation):
        assert activation == "silu" and x.stride(1) == 1  # (batch, channels, T), channels innermost
        calls.append(["dao conv"] + _signature(x, weight, bias))
        return F.silu(causal_conv1d(x.transpose(1, 2), weight[:, None], bias)).transpose(1, 2)

    def mixer(zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight, chunk, eps, headdim, ngroups):
        width, heads = conv_weight.shape[0], d.shape[0]
        dim = heads * headdim
        z, xbc, dt = zxbcdt.split([dim, width, heads], dim=-1)
        x, b, c = F.silu(causal_conv1d(xbc, conv_weight[:, None], conv_bias)).split(
            [dim, (width - dim) // 2, (width - dim) // 2], dim=-1
        )
        y = stand_in(
            x.unflatten(-1, (heads, headdim)),
            F.softplus(dt.float() + dt_bias),
            a,
            b.unflatten(-1, (ngroups, -1)),
            c.unflatten(-1, (ngroups, -1)),
            chunk,
            d,
        )
        calls.pop()  # the SSD call above is part of the mixer's
        gated = (y.flatten(-2) * F.silu(z)).unflatten(-1, (ngroups, -1))
        rstd = torch.rsqrt(gated.pow(2).mean(-1) + eps)
        return (gated * rstd[..., None]).flatten(-2) * norm_weight, y, rstd.permute(2, 0, 1).flatten()

    def mixer_forward(zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight, chunk, eps, headdim, ngroups):
        """mamba_mixer_op.mixer_forward's contract: the output, the SSD output before the norm and the norm's rstd,
        then the kernels' intermediates (zeros here, in the shapes the op declares)."""
        calls.append(["mixer", chunk] + _signature(zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight))
        args = (zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight, chunk, eps, headdim, ngroups)
        declared = mamba_mixer_op.mixer_outputs_like(*args)
        return (*mixer(*args), *(torch.zeros_like(t) for t in declared[3:]))

    def mixer_backward(dout, zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight, saved, *settings):
        assert len(saved) == 7
        _, vjp = torch.func.vjp(
            lambda *t: mixer(*t, *settings)[0], zxbcdt, conv_weight, conv_bias, dt_bias, a, d, norm_weight
        )
        return vjp(dout)

    monkeypatch.setattr(mamba_mixer_op, "mixer_forward", mixer_forward)
    monkeypatch.setattr(mamba_mixer_op, "mixer_backward", mixer_backward)
    fake = types.ModuleType("mamba_ssm.ops.triton.ssd_combined")
    fake.mamba_chunk_scan_combined = stand_in
    monkeypatch.setitem(sys.modules, "mamba_ssm.ops.triton.ssd_combined", fake)
    fake_norm = types.ModuleType("mamba_ssm.ops.triton.layernorm_gated")
    fake_norm.rmsnorm_fn = norm_stand_in
    monkeypatch.setitem(sys.modules, "mamba_ssm.ops.triton.layernorm_gated", fake_norm)
    fake_conv = types.ModuleType("fla.modules.causal_conv1d")
    fake_conv.causal_conv1d = conv_stand_in
    monkeypatch.setitem(sys.modules, "fla.modules.causal_conv1d", fake_conv)
    fake_dao = types.ModuleType("causal_conv1d")
    fake_dao.causal_conv1d_fn = dao_conv_stand_in
    monkeypatch.setitem(sys.modules, "causal_conv1d", fake_dao)
    monkeypatch.setattr(kernels, "kernel_available", lambda *args: True)
    return calls


def test_fused_kernel_plumbing_trains_under_compile(stand_in_kernels):
    """The fused-kernel paths with stand-in kernels: a compiled model behind them must give the loss and gradients
    of the plain model, so argument order, the graph breaks around the kernels and the gradients through them are
    right even where the real kernels (GPU only) cannot run."""
    idx = torch.randint(0, 64, (2, 21))
    results = []
    for mamba, conv in (
        ("torch", "torch"),
        ("mamba_ssm", "fla"),
        ("torch", "causal_conv1d"),
        ("mamba_ssm", "causal_conv1d"),
    ):
        torch.manual_seed(0)
        model = HybridLM(get_config("proxy-10m", mamba_kernel=mamba, conv_kernel=conv, **SMALL))
        run = torch.compile(model) if mamba != "torch" or conv != "torch" else model
        loss = run(idx[:, :-1], idx[:, 1:])["loss"]
        loss.backward()
        results.append((loss.detach(), [p.grad for p in model.parameters()]))
    loss_a, grads_a = results[0]
    for loss_b, grads_b in results[1:]:
        assert torch.allclose(loss_a, loss_b, rtol=1e-5)
        assert all(torch.allclose(ga, gb, rtol=1e-4, atol=1e-6) for ga, gb in zip(grads_a, grads_b))
    assert {call[0] for call in stand_in_kernels} == {"ssd", "conv", "dao conv", "mixer"}


def test_kernel_warm_up_calls_the_kernels_as_training_does(stand_in_kernels):
    """The warm-up autotunes the fused kernels only if it calls them with the shapes, strides and dtypes of the
    training step: Triton keys its autotuning on them."""
    from corpusforge.trainer.model import warm_up_kernels

    cfg = get_config("proxy-10m", mamba_kernel="mamba_ssm", conv_kernel="fla", **SMALL)
    HybridLM(cfg)(torch.randint(0, 64, (3, 24)), torch.randint(0, 64, (3, 24)))
    one_layer = stand_in_kernels[:2]
    assert [call[0] for call in one_layer] == ["conv", "ssd"] and stand_in_kernels[2:] == one_layer
    stand_in_kernels.clear()
    rng = torch.get_rng_state()
    assert warm_up_kernels(cfg, 3, 24, torch.device("cpu")) > 0
    assert stand_in_kernels == one_layer
    assert torch.equal(torch.get_rng_state(), rng)  # training's random stream is left where it was
    assert warm_up_kernels(get_config("proxy-10m", **SMALL), 3, 24, torch.device("cpu")) == 0
    assert len(stand_in_kernels) == 2  # plain PyTorch has nothing to autotune


_INTERPRETER_PRELUDE = """
import contextlib, json, sys, types
import torch, torch.nn.functional as F
import triton.runtime.autotuner as autotuner
# CPU stand-ins for what the kernels ask of CUDA; one config per autotuned kernel (nothing to time on a CPU).
torch.cuda.device = lambda index: contextlib.nullcontext()
torch.cuda.get_device_properties = lambda device: types.SimpleNamespace(multi_processor_count=132)
autotuner.Autotuner.prune_configs = lambda self, kwargs: [self.configs[-1]]
"""
_INTERPRETED_MAMBA_SSM = (
    _INTERPRETER_PRELUDE
    + """
from corpusforge.trainer.model import gated_rms_norm, ssd
g = torch.Generator().manual_seed(1)
inputs = [torch.randn(1, 80, 4, 16, generator=g), F.softplus(torch.randn(1, 80, 4, generator=g) - 1),
          -torch.rand(4, generator=g) - 0.5, torch.randn(1, 80, 2, 16, generator=g),
          torch.randn(1, 80, 2, 16, generator=g), torch.randn(4, generator=g),          # x dt a b c d
          torch.randn(1, 80, 64, generator=g), 1 + 0.1 * torch.randn(64, generator=g)]  # z, norm weight
weight = torch.randn(1, 80, 64, generator=g)
runs = []
for kernel in ("torch", "mamba_ssm"):
    leaves = [t.clone().requires_grad_() for t in inputs]
    x, dt, a, b, c, d, z, w = leaves
    y = ssd(x, dt, a, b, c, 32, kernel, d)
    out = gated_rms_norm(y.flatten(2), z, w, 2, 1e-5, kernel)
    (out * weight).sum().backward()
    runs.append([y.detach(), out.detach()] + [t.grad for t in leaves])
print(json.dumps([float((b - a).norm() / a.norm()) for a, b in zip(*runs)]))
"""
)
# The conv reads a strided slice of a wider tensor, as the layer passes in_proj's split output.
_INTERPRETED_FLA_CONV = (
    _INTERPRETER_PRELUDE
    + """
from corpusforge.trainer.model import causal_conv1d_silu
g = torch.Generator().manual_seed(2)
inputs = [torch.randn(2, 75, 96, generator=g), torch.randn(48, 1, 4, generator=g), torch.randn(48, generator=g)]
weight = torch.randn(2, 75, 48, generator=g)
runs = []
for kernel in ("torch", "fla"):
    full, w, b = [t.clone().requires_grad_() for t in inputs]
    out = causal_conv1d_silu(full[..., 16:64], w, b, kernel)
    (out * weight).sum().backward()
    runs.append([out.detach(), full.grad, w.grad, b.grad])
print(json.dumps([float((b - a).norm() / a.norm()) for a, b in zip(*runs)]))
"""
)
# A whole Mamba-2 layer on every fused kernel at once against the plain layer, the same weights in both.
_INTERPRETED_LAYER = (
    _INTERPRETER_PRELUDE
    + """
from corpusforge.trainer.model import Mamba2, get_config
small = dict(d_model=64, mamba_head_dim=16, mamba_d_state=16, mamba_groups=2, mamba_chunk=32)
torch.manual_seed(0)
plain = Mamba2(get_config("proxy-10m", **small))
fused = Mamba2(get_config("proxy-10m", mamba_kernel="mamba_ssm", conv_kernel="fla", **small))
fused.load_state_dict(plain.state_dict())
u = torch.randn(2, 70, 64)
runs = []
for layer in (plain, fused):
    x = u.clone().requires_grad_()
    y = layer(x)
    (y * torch.linspace(-1, 1, 64)).sum().backward()
    runs.append([y.detach(), x.grad] + [p.grad for p in layer.parameters()])
print(json.dumps([float((b - a).norm() / a.norm()) for a, b in zip(*runs)]))
"""
)

# The same for the whole mixer in one node (mamba_kernel=mamba_ssm with conv_kernel=causal_conv1d): mamba_ssm's real
# mamba_split_conv1d_scan_combined, with causal-conv1d's CUDA forward and backward (no CPU build) played by torch.
_INTERPRETED_MIXER = (
    _INTERPRETER_PRELUDE
    + """
def conv_fwd(x, weight, bias, seq_idx, initial_states, final_states_out, silu):
    y = F.conv1d(x, weight[:, None], bias, padding=weight.shape[1] - 1, groups=x.shape[1])[..., :x.shape[2]]
    return F.silu(y) if silu else y
def conv_bwd(x, weight, bias, dout, seq_idx, initial_states, dfinal_states, dx, return_dinitial_states, silu):
    # torch.func, not autograd: this runs inside the mixer's custom op, below the autograd dispatch keys
    _, vjp = torch.func.vjp(lambda *t: conv_fwd(*t, None, None, None, silu), x, weight, bias)
    grads = vjp(dout)
    if dx is not None:
        dx.copy_(grads[0])
    return (grads[0] if dx is None else dx, grads[1], grads[2], None)
cpp = types.ModuleType("causal_conv1d.cpp_functions")
cpp.causal_conv1d_fwd_function, cpp.causal_conv1d_bwd_function = conv_fwd, conv_bwd
cpp.causal_conv1d_update_function = None
package = types.ModuleType("causal_conv1d")
package.causal_conv1d_fn, package.cpp_functions = None, cpp
sys.modules.update({"causal_conv1d": package, "causal_conv1d.cpp_functions": cpp})
"""
    + _INTERPRETED_LAYER.removeprefix(_INTERPRETER_PRELUDE).replace('conv_kernel="fla"', 'conv_kernel="causal_conv1d"')
)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # a module object placed in sys.modules by hand has no spec
        return name in sys.modules


def _interpreted(script: str) -> list[float]:
    """Run `script` with Triton's CPU interpreter; its last output line is a JSON list of relative errors."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not (_importable("triton") and _importable("mamba_ssm")), reason="needs triton and mamba_ssm")
def test_mamba_ssm_triton_kernels_match_under_the_interpreter():
    """The real mamba_ssm Triton kernels, forward and backward, run by Triton's CPU interpreter on 80 steps (not a
    multiple of the chunk): the SSD's output (with the D skip), the gated group norm's output, and the gradients of
    x, dt, A, B, C, D, z and the norm weight equal the plain-PyTorch layer's."""
    errors = _interpreted(_INTERPRETED_MAMBA_SSM)
    assert len(errors) == 10 and max(errors) < 1e-4, errors


@pytest.mark.skipif(not (_importable("triton") and _importable("fla")), reason="needs triton and fla-core")
def test_fla_causal_conv_matches_under_the_interpreter():
    """FLA's Triton causal conv + SiLU, forward and backward, under Triton's CPU interpreter on a strided input of
    75 steps: output and the gradients of input, weight and bias equal the plain layer's (the model's conv_kernel)."""
    errors = _interpreted(_INTERPRETED_FLA_CONV)
    assert len(errors) == 4 and max(errors) < 1e-5, errors


@pytest.mark.skipif(not all(map(_importable, ("triton", "mamba_ssm", "fla"))), reason="needs triton, mamba_ssm, fla")
def test_mamba_layer_on_fused_kernels_equals_the_plain_layer_under_the_interpreter():
    """A Mamba-2 layer with mamba_kernel=mamba_ssm and conv_kernel=fla, its real Triton kernels run by the
    interpreter, gives the plain layer's output and the gradients of its input and every parameter."""
    errors = _interpreted(_INTERPRETED_LAYER)
    assert len(errors) == 2 + 8 and max(errors) < 1e-4, errors


@pytest.mark.skipif(not (_importable("triton") and _importable("mamba_ssm")), reason="needs triton and mamba_ssm")
def test_whole_mamba_mixer_kernel_equals_the_plain_layer_under_the_interpreter():
    """mamba_kernel=mamba_ssm with conv_kernel=causal_conv1d hands in_proj's output to mamba_ssm's
    mamba_split_conv1d_scan_combined (its Triton kernels interpreted, the CUDA conv played by torch): output and
    every gradient equal the plain layer's, so the weights, A, D, dt bias and norm reach it in its conventions."""
    errors = _interpreted(_INTERPRETED_MIXER)
    assert len(errors) == 2 + 8 and max(errors) < 1e-4, errors


def test_moe_layers_behind_graph_breaks_share_one_compiled_copy(monkeypatch):
    """The fused Mamba kernels break torch.compile's graph, so each layer is compiled as its own frame. Every MoE layer
    must reuse one compiled copy: a copy per layer ran into the recompile limit (8) at 10 MoE layers, and the
    layers past it ran eagerly without a word."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from corpusforge.trainer.model import Mamba2

    plain_forward = Mamba2.forward

    def forward_behind_a_break(self, u):
        torch._dynamo.graph_break()  # where mamba_ssm's kernels break the graph on a GPU
        return plain_forward(self, u)

    monkeypatch.setattr(Mamba2, "forward", forward_behind_a_break)
    graphs = []
    for pairs in (2, 10):
        torch._dynamo.reset()
        counters.clear()
        model = HybridLM(get_config("proxy-10m", **{**SMALL, "pattern": "ME" * pairs}))
        x = torch.randint(0, 64, (2, 16))
        torch.compile(model)(x, x)
        graphs.append(counters["stats"]["unique_graphs"])
    torch._dynamo.reset()
    assert graphs[0] == graphs[1], graphs


def test_whole_mixer_path_compiles_without_graph_breaks(stand_in_kernels):
    """mamba_kernel=mamba_ssm with conv_kernel=causal_conv1d runs mamba_ssm's mixer as a custom op: torch.compile
    keeps the whole model in one graph, where the Function behind it broke the graph at every Mamba layer."""
    import torch._dynamo

    # No MoE layer: on the CPU (fp32) its grouped GEMM runs eagerly, a graph break of its own.
    cfg = get_config("proxy-10m", mamba_kernel="mamba_ssm", conv_kernel="causal_conv1d", **{**SMALL, "pattern": "M*M"})
    idx = torch.randint(0, 64, (2, 21))
    explained = torch._dynamo.explain(HybridLM(cfg))(idx[:, :-1], idx[:, 1:])
    assert explained.graph_break_count == 0 and explained.graph_count == 1, explained.break_reasons
    assert [call[0] for call in stand_in_kernels] == ["mixer", "mixer"]
