"""Device plumbing shared by the trainer and the GPU benchmark: device choice, autocast, compile, optimizer, peak
FLOPs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Protocol

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


def set_tf32(enabled: bool) -> None:
    """TF32 tensor cores for the float32 matmuls autocast leaves (the MoE router's, in its backward a long-K GEMM):
    several times the fp32 rate, with 10-bit mantissas, as Megatron-LM and nanoGPT train. Off for fp32 references."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


# torch.compile's inductor settings per `compile_tuning`. Coordinate descent searches each generated kernel's block
# sizes at compile time: a few percent off the torch path's Mamba and MoE layers, for minutes more compile;
# the choices are cached with inductor's cache, so a machine pays that once.
COMPILE_TUNING: dict[str, dict[str, Any]] = {"default": {}, "coordinate_descent": {"coordinate_descent_tuning": True}}
# Inductor pads a GPU buffer's rows to 128 bytes; the Mamba mixer op needs in_proj's output dense, so with padding
# each layer paid a copy forward and another backward.
COMPILE_OPTIONS: dict[str, Any] = {"comprehensive_padding": False}


def compile_model(model: Callable, tuning: str = "default") -> Callable:
    """torch.compile with the inductor options of `tuning` (a COMPILE_TUNING key), scoped to this model or function."""
    return torch.compile(model, options=COMPILE_OPTIONS | COMPILE_TUNING[tuning])


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak of the GPU, or None where MFU means nothing (CPU, unknown cards)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key in sorted(PEAK_BF16_FLOPS, key=len, reverse=True):
        if key in name:
            return PEAK_BF16_FLOPS[key]
    return None


def make_optimizer(
    model: torch.nn.Module,
    lr: float,
    betas: tuple[float, float],
    weight_decay: float,
    device: torch.device,
    capturable: bool = False,
) -> torch.optim.AdamW:
    """AdamW (fused on GPU) with weight decay on matrices only: none on norms, SSM A/D/dt or conv filters.

    `capturable`: step counts and the learning rate live on the GPU (set it with `set_lr`), so a CUDA graph can
    replay the update."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "conv1d" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if not capturable:
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device.type == "cuda")
    opt = torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True, capturable=True)
    for group in opt.param_groups:
        group["lr"] = torch.tensor(lr, device=device)
    return opt


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate; a tensor one (capturable optimizer) in place, where a CUDA graph reads it."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """`optimizer.load_state_dict`, keeping how this optimizer runs (fused, capturable, a tensor learning rate):
    a checkpoint written without CUDA graphs, or on the CPU, then resumes under them."""
    kept: list[dict[str, Any]] = [
        {k: g[k] for k in ("fused", "capturable", "lr") if k in g} for g in optimizer.param_groups
    ]
    optimizer.load_state_dict(state)
    for group, own in zip(optimizer.param_groups, kept):
        group.update(own)
        for p in group["params"]:
            step = optimizer.state.get(p, {}).get("step")
            if group.get("capturable") and step is not None and step.device != p.device:
                optimizer.state[p]["step"] = step.to(p.device, torch.float32)


class RoutedModel(Protocol):
    """What `train_step` needs of the model (HybridLM): its parameters and the MoE router-bias update."""

    def parameters(self) -> Iterator[torch.nn.Parameter]:
        """Every trainable tensor (what the gradient clipping sees)."""

    def update_router_biases(self, expert_load: torch.Tensor, rate: float) -> None:
        """One auxiliary-loss-free balancing step from the tokens each expert got."""


def train_step(
    model: RoutedModel,
    forward,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    grad_clip: float = 1.0,
    router_bias_rate: float = 1e-3,
) -> tuple[torch.Tensor, ...]:
    """One optimizer step over the micro-batches x, y (micro, batch, seq): returns the mean LM loss, the tokens each
    expert got (layers, experts) and the gradient norm before clipping, all on the device and without a host sync
    (so `GraphedStep` can capture it)."""
    loss, load = torch.zeros((), device=x.device), None
    for xm, ym in zip(x, y):
        with autocast(x.device):
            out = forward(xm, ym)
        (out["loss"] / len(x)).backward()
        loss += out["lm_loss"].float() / len(x)
        load = out["expert_load"].detach() if load is None else load + out["expert_load"].detach()
    assert load is not None, "x holds no micro-batch"
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    model.update_router_biases(load, router_bias_rate)
    return loss, load, grad_norm


class GraphedStep:
    """A whole training step (forward, backward, clipping, AdamW, router biases) replayed as one CUDA graph.

    Megatron-LM's full-iteration CUDA graphs, for the same reason: proxy-200m's step launches about 2,000 kernels,
    and where Python is slower than the GPU (mamba_ssm's backward launches many Triton kernels per layer) the GPU
    idles between kernels.
    `step(*inputs)` must read only device tensors, make no host sync and return tensors (or a dict of them), and
    its optimizer must be capturable. The first `warmup` calls run it eagerly on a side stream (compilation,
    autotuning, the optimizer's state), as CUDA graph capture requires; the next call captures it, and each call
    replays it with its inputs copied into the captured ones. The outputs are the graph's: read them before the
    next call.
    """

    def __init__(self, step: Callable, warmup: int = 2):
        self.step, self.warmup, self.calls = step, warmup, 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.side: torch.cuda.Stream | None = None  # one stream: each new one would keep its own cached blocks
        self.inputs: list[torch.Tensor] = []
        self.outputs = None

    def __call__(self, *inputs: torch.Tensor):
        self.calls += 1
        if self.graph is None and self.calls <= self.warmup:
            self.side = self.side or torch.cuda.Stream()
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                out = self.step(*inputs)
            torch.cuda.current_stream().wait_stream(self.side)
            return out
        if self.graph is None:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()  # the warm-up's cached activations would otherwise sit beside the graph's pool
            self.inputs = [x.clone() for x in inputs]
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):  # records the kernels without running them
                self.outputs = self.step(*self.inputs)
        else:
            for captured, new in zip(self.inputs, inputs):
                captured.copy_(new, non_blocking=True)
        self.graph.replay()
        return self.outputs
