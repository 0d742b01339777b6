"""Stage names used in pipeline YAML, mapped to their classes (imported on first use)."""
from __future__ import annotations

import importlib

from corpusforge.stages.base import Stage

# One line per stage type. A YAML `type:` may also be a dotted path `package.module:Class`
# for stages that live outside corpusforge.
STAGES: dict[str, str] = {
    "parquet": "corpusforge.stages.parquet_reader:ParquetReader",
    "jsonl": "corpusforge.stages.jsonl_reader:JsonlReader",
    "exact_dedup": "corpusforge.stages.dedup_exact:ExactDedup",
    "fuzzy_dedup": "corpusforge.stages.dedup_fuzzy:FuzzyDedup",
    "decontaminate": "corpusforge.stages.decontaminate:Decontaminate",
    "warc": "corpusforge.stages.warc_reader:WarcReader",
    "extract": "corpusforge.stages.extract:Extract",
    "langid": "corpusforge.stages.langid:LanguageId",
    "url_filter": "corpusforge.stages.url_filter:UrlFilter",
    "gopher_quality": "corpusforge.stages.filters_gopher:GopherQuality",
    "gopher_repetition": "corpusforge.stages.filters_gopher:GopherRepetition",
    "c4": "corpusforge.stages.filters_c4:C4Quality",
    "fineweb": "corpusforge.stages.filters_fineweb:FineWebQuality",
    "pii_normalize": "corpusforge.stages.normalize_pii:PiiNormalize",
    "quality": "corpusforge.stages.quality:QualityScores",
    "domain_scores": "corpusforge.stages.quality:DomainScores",
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
    return cls
