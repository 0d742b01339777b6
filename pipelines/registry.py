"""Where each stage of a pipeline YAML lives: its `type` name, mapped to its class (imported on first use).

The name itself is declared once, as the stage class's `type`; this table is only the index that finds the class
without importing every stage (and its libraries) up front. `stage_class` checks that the two agree.
"""

from __future__ import annotations

import importlib

from corpusforge.stages.base import Stage

# One line per stage type. A YAML `type:` may also be a dotted path `package.module:Class`
# for stages that live outside corpusforge.
STAGES: dict[str, str] = {
    "parquet": "corpusforge.stages.io.parquet:ParquetReader",
    "jsonl": "corpusforge.stages.io.jsonl:JsonlReader",
    "exact_dedup": "corpusforge.stages.dedup.exact:ExactDedup",
    "fuzzy_dedup": "corpusforge.stages.dedup.fuzzy:FuzzyDedup",
    "decontaminate": "corpusforge.stages.decontam.decontaminate:Decontaminate",
    "warc": "corpusforge.stages.io.warc:WarcReader",
    "extract": "corpusforge.stages.web.extract:Extract",
    "langid": "corpusforge.stages.text.langid:LanguageId",
    "url_filter": "corpusforge.stages.web.url_filter:UrlFilter",
    "gopher_quality": "corpusforge.stages.text.gopher:GopherQuality",
    "gopher_repetition": "corpusforge.stages.text.gopher:GopherRepetition",
    "c4": "corpusforge.stages.text.c4:C4Quality",
    "fineweb": "corpusforge.stages.text.fineweb:FineWebQuality",
    "pii_normalize": "corpusforge.stages.text.pii:PiiNormalize",
    "quality": "corpusforge.stages.quality.scores:QualityScores",
    "domain_scores": "corpusforge.stages.quality.scores:DomainScores",
    "math_prefilter": "corpusforge.stages.math.prefilter:MathPrefilter",
    "math_quality": "corpusforge.stages.math.quality:MathQuality",
    "repo": "corpusforge.stages.code.repo_reader:RepoReader",
    "stack_rows": "corpusforge.stages.code.stack_reader:StackRowsReader",
    "license_filter": "corpusforge.stages.code.license_filter:LicenseFilter",
    "code_language": "corpusforge.stages.code.language:CodeLanguage",
    "code_basic_filters": "corpusforge.stages.code.basic_filters:CodeBasicFilters",
    "opencoder_rules": "corpusforge.stages.code.opencoder:OpenCoderRules",
    "code_secrets": "corpusforge.stages.code.secrets:CodeSecrets",
    "code_quality": "corpusforge.stages.code.quality:CodeQuality",
    "repo_pack": "corpusforge.stages.code.packing:RepoPack",
    "llm_generate": "corpusforge.synthetic.stage:LLMGenerate",
    "nemotron_rephrase": "corpusforge.synthetic.tasks.rephrase:NemotronRephrase",
    "llm_cleanup": "corpusforge.synthetic.tasks.cleanup:LLMCleanup",
    "code_page_prefilter": "corpusforge.stages.code.page_prefilter:CodePagePrefilter",
    # SFT and RL prompts (synthetic/tasks/, pipelines/configs/sft.yaml and rl.yaml)
    "seeds": "corpusforge.stages.io.seeds:SeedReader",
    "topic_prompts": "corpusforge.synthetic.tasks.topics:TopicTreePrompts",
    "closed_qa_prompts": "corpusforge.synthetic.tasks.closed_qa:ClosedQAPrompts",
    "self_instruct": "corpusforge.synthetic.tasks.self_instruct:SelfInstruct",
    "evol_instruct": "corpusforge.synthetic.tasks.evol_instruct:EvolInstruct",
    "magpie": "corpusforge.synthetic.tasks.magpie:MagpiePrompts",
    "dialogue": "corpusforge.synthetic.tasks.dialogue:DialoguePrompts",
    "sft_responses": "corpusforge.synthetic.tasks.responses:TeacherResponses",
    "answerability": "corpusforge.synthetic.tasks.judge:Answerability",
    "llm_judge": "corpusforge.synthetic.tasks.judge:LLMJudge",
    "rl_math_prompts": "corpusforge.synthetic.tasks.rl_prompts:RLMathPrompts",
    "rl_code_prompts": "corpusforge.synthetic.tasks.rl_prompts:RLCodePrompts",
    "rl_ifeval_prompts": "corpusforge.synthetic.tasks.rl_prompts:RLIFEvalPrompts",
    "difficulty_filter": "corpusforge.synthetic.tasks.difficulty:DifficultyFilter",
    "sft_export": "corpusforge.synthetic.tasks.export:SFTExport",
    "rl_export": "corpusforge.synthetic.tasks.export:RLExport",
}


def stage_class(name: str) -> type[Stage]:
    """The Stage class for a YAML `type`."""
    target = STAGES.get(name, name if ":" in name else None)
    if target is None:
        raise KeyError(f"unknown stage type {name!r}; known: {', '.join(sorted(STAGES))}")
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise KeyError(f"{target} is not a corpusforge Stage")
    if name in STAGES and cls.type != name:
        raise KeyError(f"registry entry {name!r} points at {target}, whose type is {cls.type!r}")
    return cls
