"""Nemotron-CC's synthetic rephrasing: five prompts routed by the quality tier of each document.

Low-quality documents get the Wikipedia-style rephrase; high-quality ones the other four
(diverse QA pairs, distill, extract knowledge, knowledge list). Token limits, chunking,
sampling and post-filters default to NeMo Curator's Nemotron-CC pipelines (RECIPES.md §3.4-3.5,
`tutorials/synthetic/nemotron_cc/nemotron_cc_pipelines.py` TASK_CONFIGS and
`stages/synthetic/nemotron_cc/nemotron_cc.py`); the prompt wording is ours (prompts/nemotron_*).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from corpusforge.core.document import Document
from corpusforge.synthetic.stage import LLMStage, LLMStageConfig
from corpusforge.synthetic.task import TaskConfig, deep_merge

# Curator's generation settings for every task: temperature 0.5, top_p 0.9, top_k 0 (RECIPES.md §3.4).
# Its stop string `</s>` is the end token of its Mistral/Llama models; chat servers stop at their own.
_SAMPLING = {"temperature": 0.5, "top_p": 0.9, "top_k": 0}


def _task(name: str, min_doc: int, min_seg: int, max_in: int, max_out: int, post: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "prompt": f"nemotron_{name}",
        "prompt_version": "1",
        "chunking": {"min_document_tokens": min_doc, "min_segment_tokens": min_seg, "max_input_tokens": max_in},
        "sampling": {**_SAMPLING, "max_tokens": max_out},
        "postprocess": post,
    }


# min_document_tokens / min_segment_tokens / max_input_tokens / max_output_tokens: RECIPES.md §3.4 table.
# Post-filters (max tokens per rephrased segment, min tokens per document, other steps): §3.5 table.
DEFAULT_TASKS: dict[str, dict[str, Any]] = {
    "wikipedia": _task(
        "wikipedia",
        5,
        5,
        512,
        512,
        {
            "strip_markdown": True,
            "required_prefix": "Here is a paraphrased version:",
            "strip_quotes": True,
            "max_reply_tokens": 510,
            "min_document_tokens": 50,
        },
    ),
    "diverse_qa": _task(
        "diverse_qa",
        30,
        30,
        1000,
        600,
        {"strip_markdown": True, "max_reply_tokens": 598, "min_document_tokens": 100, "merge": "diverse_qa"},
    ),
    "distill": _task(
        "distill",
        30,
        10,
        2000,
        1600,
        {
            "required_prefix": "Paraphrased Text:",
            "strip_quotes": True,
            "max_reply_tokens": 1598,
            "min_document_tokens": 50,
        },
    ),
    "extract_knowledge": _task(
        "extract_knowledge",
        30,
        30,
        1400,
        1400,
        {
            "drop_line_patterns": [r"^Passage:?$", r"^Passage [1-3]:?$"],
            "max_reply_tokens": 1398,
            "min_document_tokens": 50,
        },
    ),
    "knowledge_list": _task(
        "knowledge_list",
        30,
        30,
        1000,
        600,
        {"knowledge_list": True, "max_reply_tokens": 598, "min_document_tokens": 50},
    ),
}

HIGH_QUALITY_TASKS = ["diverse_qa", "distill", "extract_knowledge", "knowledge_list"]
# Curator's tutorials split the 0-19 buckets at 11: <= 11 low quality (Wikipedia rephrase), > 11 high
# quality (the other four). With the quality stage's tier cuts [3, 7, 12, 18] buckets 0-11 are the
# tiers low, medium-low and medium, and 12-19 are medium-high and high.
DEFAULT_ROUTES: dict[str, list[str]] = {
    "low": ["wikipedia"],
    "medium-low": ["wikipedia"],
    "medium": ["wikipedia"],
    "medium-high": HIGH_QUALITY_TASKS,
    "high": HIGH_QUALITY_TASKS,
}
NO_QUALITY_TIER = "no_quality_tier"
NO_TASK_FOR_TIER = "no_task_for_tier"


class NemotronRephrase(LLMStage):
    """Rephrases documents with the Nemotron-CC prompt their `quality_tier` calls for."""

    type = "nemotron_rephrase"

    class Config(LLMStageConfig):
        type: Literal["nemotron_rephrase"] = "nemotron_rephrase"
        # Per task: settings laid over the defaults above (e.g. `wikipedia: {sampling: {max_tokens: 96}}`).
        tasks: dict[str, TaskConfig] = Field(
            default_factory=lambda: {k: TaskConfig(**v) for k, v in DEFAULT_TASKS.items()}
        )
        routes: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_ROUTES))  # quality_tier -> tasks

        @field_validator("tasks", mode="before")
        @classmethod
        def _merge_defaults(cls, v: Any) -> Any:
            if not isinstance(v, dict):
                return v
            out: dict[str, Any] = {k: TaskConfig(**d) for k, d in DEFAULT_TASKS.items()}
            for name, override in v.items():
                if isinstance(override, TaskConfig):
                    out[name] = override
                elif isinstance(override, dict):
                    out[name] = deep_merge(DEFAULT_TASKS.get(name, {"name": name}), override)
                else:
                    out[name] = override
            return out

        @model_validator(mode="after")
        def _routes_known(self) -> NemotronRephrase.Config:
            for tier, names in self.routes.items():
                unknown = sorted(set(names) - set(self.tasks))
                if unknown:
                    raise ValueError(f"routes.{tier}: unknown tasks {unknown}; defined: {sorted(self.tasks)}")
            return self

    config: Config

    def tasks_for(self, doc: Document) -> list[TaskConfig] | str:
        tier = doc.annotations.get("quality_tier")
        if tier is None:
            return NO_QUALITY_TIER
        names = self.config.routes.get(tier)
        if not names:
            return NO_TASK_FOR_TIER
        return [self.config.tasks[n] for n in names]
