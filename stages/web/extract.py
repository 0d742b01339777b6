"""HTML to main-content text: trafilatura (default, as datatrove), resiliparse, or the fast block classifier.

Modes (scrapinghub gold pages, F1 / pages per second per core, see benchmarks/extraction.py):
`trafilatura` with datatrove's settings (0.966 F1, ~1x trafilatura's speed), `resiliparse`
(0.938, ~8x) and `blocks`: resiliparse candidates filtered by a learned line classifier trained
on other pages (0.951, ~5x; stages/extract_blocks.py). `code` keeps <pre>/<code> blocks verbatim for
code-heavy pages (stages/web/extract_code.py).

Before an extractor sees a page, two cheap guards run: a size limit and a tag-depth scan, so a
20 MB page or HTML nested 10,000 deep never reaches lxml or lexbor (trafilatura returns
nothing past libxml2's depth limit after wasting time on it; resiliparse takes seconds). A
per-document CPU-time limit (SIGPROF) stops a pathological page from stalling a worker. With
`extractor: code`, a page with more code blocks than `max_code_blocks` is dropped as
too_many_code_blocks before its DOM is edited, on any thread (the timer only runs on the main one).
"""

from __future__ import annotations

import importlib
import re
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, Literal

from pydantic import Field, field_validator

from corpusforge.core.code_blocks import TooManyCodeBlocks
from corpusforge.core.document import Document
from corpusforge.core.html_depth import html_depth_exceeds
from corpusforge.stages.base import Stage, StageConfig


def _utf8_size_exceeds(text: str, limit: int) -> bool:
    # A character is at most 4 UTF-8 bytes: most pages are decided without encoding them.
    if len(text) * 4 <= limit:
        return False
    return len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit


class ExtractionTimeout(BaseException):
    """A page used more CPU time than `timeout_s`.

    A BaseException, so the extractors' own `except Exception` blocks cannot swallow it.
    """


def _on_timeout(signum, frame):
    raise ExtractionTimeout


class Extract(Stage):
    """Replaces each document's HTML by its main-content text, dropping pages with none."""

    type = "extract"
    config: Config

    class Config(StageConfig):
        # math: formulas kept as LaTeX (stages/math/extract.py); lynx: `lynx -dump` of the page as
        # NeMo Curator's LynxExtractor renders it (Nemotron-CC-Math), the page's own text layout;
        # code: resiliparse with <pre>/<code> blocks kept verbatim (code-heavy pages; extract_code.py).
        extractor: Literal["trafilatura", "resiliparse", "blocks", "math", "lynx", "code"] = "trafilatura"
        # datatrove Trafilatura step defaults (FineWeb): favour precision, no comments, dedup on.
        favour_precision: bool = True
        include_comments: bool = False
        deduplicate: bool = True
        include_tables: bool = True  # trafilatura's own default, kept by datatrove
        # datatrove's BaseExtractor gives each page 1 s; we count CPU time (SIGPROF), not wall
        # time, so a busy machine does not turn slow pages into drops.
        timeout_s: float = 1.0
        # libxml2's parser stops at depth 256 (xmlParserMaxDepth): trafilatura returns nothing
        # past it, so deeper pages are dropped before parsing, cheaply.
        max_depth: int = 256
        # trafilatura refuses pages over 20 MB (settings.MAX_FILE_SIZE); Common Crawl pages are cut
        # at 1 MiB, so 5 MB leaves room while bounding the cost of one page.
        max_html_bytes: int = 5_000_000
        # `extractor: code`: pages with more <pre>/multi-line <code> blocks are dropped as too_many_code_blocks
        # before any DOM edit. The shared real code pages (Q&A, API docs) hold dozens; tens of thousands is
        # generated markup, and each block costs a DOM edit that would spend the page's time limit.
        max_code_blocks: int = Field(10_000, ge=1)
        # `extractor: math` settings, validated by stages/math/extract.py's MathExtractSettings
        math: dict[str, Any] = {}

        @field_validator("extractor")
        @classmethod
        def _lynx_installed(cls, v: str) -> str:
            if v == "lynx":
                _provided("corpusforge.stages.math.lynx:require_lynx")()
            return v

        @field_validator("math")
        @classmethod
        def _math_settings(cls, v: dict[str, Any]) -> dict[str, Any]:
            return _provided("corpusforge.stages.math.extract:MathExtractSettings").model_validate(v).model_dump()

    def setup(self) -> None:
        self._extract = _extractor(self.config)

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        cfg = self.config
        timed = cfg.timeout_s > 0 and threading.current_thread() is threading.main_thread()
        if cfg.timeout_s > 0 and not timed:
            self.ledger.count("timeout_unavailable_outside_main_thread")
        old = signal.signal(signal.SIGPROF, _on_timeout) if timed else None
        # Extractors that see more than text (formulas per kind, malformed markup) report it per page.
        report = getattr(self._extract, "page_report", None)
        try:
            for doc in docs:
                html = doc.text
                if _utf8_size_exceeds(html, cfg.max_html_bytes):
                    self.drop(doc, "too_large")
                    continue
                if html_depth_exceeds(html, cfg.max_depth):
                    self.drop(doc, "too_deep")
                    continue
                try:
                    if timed:
                        signal.setitimer(signal.ITIMER_PROF, cfg.timeout_s)
                    text = self._extract(html)
                except ExtractionTimeout:
                    self.drop(doc, "timeout")
                    continue
                except TooManyCodeBlocks:
                    self.drop(doc, "too_many_code_blocks")
                    continue
                except RecursionError:
                    self.drop(doc, "too_deep")
                    continue
                except Exception as e:
                    self.ledger.histogram("extraction_errors", type(e).__name__)
                    self.drop(doc, "extraction_failed")
                    continue
                finally:
                    if timed:
                        signal.setitimer(signal.ITIMER_PROF, 0)
                if report is not None:
                    counts, notes = report()
                    for name, n in counts.items():
                        self.ledger.count(name, n)
                    doc.annotations.update(notes)
                text = (text or "").strip()
                if not text:
                    self.drop(doc, "empty_text")
                    continue
                doc.text = text
                yield doc
        finally:
            if timed:
                signal.setitimer(signal.ITIMER_PROF, 0)
                signal.signal(signal.SIGPROF, old)


def _provided(target: str) -> Any:
    """An object another part of `stages/` provides, by dotted path: the math lane's extractor and lynx.

    Sibling parts never import each other (the layer contract in pyproject.toml); like pipeline stage
    types (pipelines/registry.py), extractor modes that live in another part are named, then loaded.
    """
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _extractor(cfg: Extract.Config) -> Callable[[str], str | None]:
    if cfg.extractor == "trafilatura":
        return trafilatura_extractor(cfg.favour_precision, cfg.include_comments, cfg.deduplicate, cfg.include_tables)
    if cfg.extractor == "resiliparse":
        return resiliparse_text
    if cfg.extractor == "math":
        settings = _provided("corpusforge.stages.math.extract:MathExtractSettings").model_validate(cfg.math)
        return _provided("corpusforge.stages.math.extract:MathExtractor").from_settings(settings)
    if cfg.extractor == "lynx":
        return _provided("corpusforge.stages.math.lynx:LynxRenderer")()
    if cfg.extractor == "code":
        from corpusforge.stages.web.extract_code import code_blocks_verbatim

        return partial(code_blocks_verbatim, max_blocks=cfg.max_code_blocks)
    from corpusforge.stages.web.extract_blocks import block_extractor

    return block_extractor()


def trafilatura_extractor(
    favour_precision: bool = True, include_comments: bool = False, deduplicate: bool = True, include_tables: bool = True
) -> Callable[[str], str | None]:
    """trafilatura.extract with datatrove's settings bound."""
    from trafilatura import extract

    _stoplist_once()

    def run(html: str) -> str | None:
        return extract(
            html,
            favor_precision=favour_precision,
            include_comments=include_comments,
            deduplicate=deduplicate,
            include_tables=include_tables,
        )

    return run


def _stoplist_once() -> None:
    """Lower-case justext's all-language stoplist once per process instead of once per page.

    trafilatura's justext fallback passes the union of every language's stoplist (~155k words) and
    justext's `classify_paragraphs` lower-cases it into a new frozenset on every call: on small pages
    that is most of the extraction time. Handing it the lower-cased set it would build gives the same
    classification without the rebuild.
    """
    import justext.core
    import trafilatura.external

    if getattr(justext.core.define_stoplist, "_corpusforge", False):
        return
    lowered = frozenset(w.lower() for w in trafilatura.external.jt_stoplist_init())
    trafilatura.external.JT_STOPLIST = lowered  # type: ignore[assignment]  # trafilatura types it as a tuple
    rebuild = justext.core.define_stoplist

    def define_stoplist(stoplist):
        return stoplist if stoplist is lowered else rebuild(stoplist)

    define_stoplist._corpusforge = True  # type: ignore[attr-defined]
    justext.core.define_stoplist = define_stoplist


def resiliparse_text(html: str) -> str:
    """Resiliparse's main-content heuristic (lexbor DOM, rule-based boilerplate removal).

    Comment sections, post meta (bylines, dates) and image alt texts are left out: none of them is
    article text, and leaving them out lifts F1 on both gold sets (0.919 -> 0.938 scrapinghub).
    """
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(
        html,
        main_content=True,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
        list_bullets=True,
        preserve_formatting=True,
        comments=False,
        post_meta=False,
    )


# -- scoring against a reference (the scrapinghub benchmark's metric) ------------------------------

_WORD = re.compile(r"\w+")


def shingle_match(true: str, pred: str, n: int = 4) -> tuple[float, float, float]:
    """(tp, fp, fn) over bags of word n-grams, normalised to sum 1 (article-extraction-benchmark)."""
    from collections import Counter

    def shingles(text: str) -> Counter:
        toks = _WORD.findall(text or "")
        return Counter(tuple(toks[i : i + n]) for i in range(max(1, len(toks) - n + 1)) if toks[i : i + n])

    t, p = shingles(true), shingles(pred)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s else (0.0, 0.0, 0.0)


def extraction_scores(pairs: Iterable[tuple[str, str]], n: int = 4) -> dict[str, float]:
    """Precision, recall, F1 of (reference, extracted) pairs: per-page means, as the benchmark does."""
    precisions, recalls = [], []
    for true, pred in pairs:
        tp, fp, fn = shingle_match(true, pred, n)
        if tp + fp > 0:
            precisions.append(1.0 if fp == fn == 0 else tp / (tp + fp))
        if tp + fn > 0:
            recalls.append(1.0 if fp == fn == 0 else tp / (tp + fn))
    p = sum(precisions) / max(len(precisions), 1)
    r = sum(recalls) / max(len(recalls), 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
