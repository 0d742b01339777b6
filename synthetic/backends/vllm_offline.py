"""vLLM's offline engine in this process, for GPU nodes (optional: `pip install vllm`).

One engine per process holds the GPUs it was given. On the Ray engine, give each task one GPU
(an actor per GPU, `tensor_parallel_size` GPUs each for models that need several) so engines
never share a device; on Spark, one executor per GPU does the same.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from corpusforge.synthetic.backends.base import (
    CONTEXT_TOO_LONG,
    GENERATION_ERROR,
    Backend,
    ChatReply,
    ChatRequest,
    OnReply,
    SamplingSettings,
)

_ENGINES: dict[tuple, Any] = {}
_LOCK = threading.Lock()


class VllmOfflineConfig(BaseModel):
    """A Hugging Face model id or local folder, and how vLLM may use the GPUs."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["vllm_offline"] = "vllm_offline"
    model: str
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    max_model_len: int | None = Field(None, ge=1)  # None: the model's own context
    dtype: str = "auto"
    engine_kwargs: dict[str, Any] = {}  # passed to vllm.LLM as they are


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def load_engine(config: VllmOfflineConfig) -> Any:
    """One vllm.LLM per process and config."""
    if not vllm_available():
        raise RuntimeError("backend vllm_offline needs vLLM on a GPU node: pip install vllm")
    key = (
        config.model,
        config.tensor_parallel_size,
        config.gpu_memory_utilization,
        config.max_model_len,
        config.dtype,
        tuple(sorted(config.engine_kwargs.items())),
    )
    with _LOCK:
        if key not in _ENGINES:
            from vllm import LLM

            _ENGINES[key] = LLM(
                model=config.model,
                tensor_parallel_size=config.tensor_parallel_size,
                gpu_memory_utilization=config.gpu_memory_utilization,
                max_model_len=config.max_model_len,
                dtype=config.dtype,
                **config.engine_kwargs,
            )
    return _ENGINES[key]


class VllmOfflineBackend(Backend):
    """Batches go to vLLM's continuous-batching scheduler in one `chat` call per sampling setting."""

    def __init__(self, config: VllmOfflineConfig):
        self.config = config
        self.model = config.model
        self._llm = load_engine(config)
        self._tokenizer = self._llm.get_tokenizer()
        self.context_tokens = int(self._llm.llm_engine.model_config.max_model_len)

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        return len(self._tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=True))

    async def generate(self, requests: Sequence[ChatRequest], on_reply: OnReply | None = None) -> list[ChatReply]:
        replies: list[ChatReply | None] = [None] * len(requests)
        groups: dict[SamplingSettings, list[int]] = {}
        for i, req in enumerate(requests):
            n = self.count_prompt_tokens(req)
            if n + req.settings.max_tokens > (self.context_tokens or 0):
                refused = ChatReply(error=CONTEXT_TOO_LONG, prompt_tokens=n)
                replies[i] = refused
                if on_reply is not None:
                    on_reply(i, refused)
            else:
                groups.setdefault(req.settings, []).append(i)
        for settings, idx in groups.items():
            out = await asyncio.to_thread(self._chat, [requests[i].messages for i in idx], settings)
            for i, reply in zip(idx, out):
                replies[i] = reply
                if on_reply is not None:
                    on_reply(i, reply)
        return [r if r is not None else ChatReply(error=GENERATION_ERROR) for r in replies]

    def _chat(self, conversations: list[list[dict[str, str]]], s: SamplingSettings) -> list[ChatReply]:
        from vllm import SamplingParams

        params = SamplingParams(
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k if s.top_k else -1,
            min_p=s.min_p,
            max_tokens=s.max_tokens,
            seed=s.seed,
            stop=list(s.stop) or None,
        )
        t0 = time.perf_counter()
        try:
            outputs = self._llm.chat(conversations, sampling_params=params, use_tqdm=False)
        except Exception:  # a failed call is counted per request; the run goes on
            return [ChatReply(error=GENERATION_ERROR, attempts=1) for _ in conversations]
        elapsed = time.perf_counter() - t0
        return [
            ChatReply(
                text=o.outputs[0].text.strip(),
                finish_reason=o.outputs[0].finish_reason,
                prompt_tokens=len(o.prompt_token_ids or ()),
                completion_tokens=len(o.outputs[0].token_ids),
                latency_s=elapsed,
                attempts=1,
            )
            for o in outputs
        ]
