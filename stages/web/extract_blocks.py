"""The fast extractor: resiliparse's main-content text, then a learned line classifier drops boilerplate.

Resiliparse (lexbor DOM, C++) gives the candidate lines with comments, post meta, captions and
share/related widgets skipped; a small gradient-boosted tree model over cheap per-line features
(length, punctuation, capitalisation, duplicates, boilerplate words, section markers such as
"Comments" or "Related", position and neighbours) keeps the article lines. The model is trained
on the readability gold pages only and evaluated on the scrapinghub pages (never on what it was
trained on); it ships as JSON trees evaluated with numpy, so inference needs no scikit-learn.

Train:  python -m corpusforge.stages.web.extract_blocks --train readability
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).resolve().parent / "data" / "extract_blocks_model.json"
# Widgets that are never article text; matched by lexbor's CSS engine, so skipping costs nothing.
SKIP_SELECTORS = [
    "figcaption",
    "figure",
    "[class*=caption]",
    "[class*=related]",
    "[id*=related]",
    "[class*=share]",
    "[class*=social]",
    "[class*=newsletter]",
    "[class*=byline]",
    "[class*=promo]",
    "[class*=recommend]",
]
_WORD = re.compile(r"\w+")
_BOILER = re.compile(
    r"photo|image|caption|close|share|subscribe|newsletter|advert|cookie|copyright|©|rights reserved|sign up|"
    r"follow us|related|read more|comment|click|log ?in|tweet|facebook|e-?mail|print|getty|credit|loading|"
    r"posted|updated|published|min read|menu|search|\bad\b|sponsor|privacy|terms",
    re.I,
)
_SECTION = re.compile(
    r"^\W*(\d+\s+)?(top rated |latest |recent |reader |user )?(comments?|responses?|repl(y|ies)|"
    r"leave a (reply|comment)|join the (conversation|discussion)|discussion|related( \w+)?|"
    r"more (in|from|on|stories|news)\b.*|you (may|might) (also )?(like|enjoy)|recommended( for you)?|"
    r"read (more|next)|popular|most (read|popular|viewed)|trending|sponsored|advertisement|share this( \w+)?|"
    r"about the author|tags?|categor(y|ies)|filed under|see also|further reading|more stories|up next|"
    r"what to read next)\W*$",
    re.I,
)
_COMMENTY = re.compile(
    r"\b(said|says|wrote|replied)\s*:?\s*$|^rating:|\b\d+ (votes?|likes?|points?|replies)\b|"
    r"\b(\d+ (minutes?|hours?|days?|weeks?) ago)\b|\breply\b|\bpermalink\b",
    re.I,
)
_SENTENCE_END = tuple('.!?"”’:;)')
THRESHOLD = 0.5


def candidate_lines(html: str) -> list[str]:
    """Resiliparse's main-content text as non-empty lines (one per block element)."""
    from resiliparse.extract.html2text import extract_plain_text

    text = extract_plain_text(
        html,
        main_content=True,
        preserve_formatting=True,
        list_bullets=True,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
        comments=False,
        post_meta=False,
        skip_elements=SKIP_SELECTORS,
    )
    return [s for line in text.split("\n") if (s := line.strip())]


def _window_mean(values: np.ndarray, radius: int) -> np.ndarray:
    n = len(values)
    c = np.concatenate([[0.0], np.cumsum(values)])
    lo = np.maximum(np.arange(n) - radius, 0)
    hi = np.minimum(np.arange(n) + radius + 1, n)
    return (c[hi] - c[lo]) / np.maximum(hi - lo, 1)


def line_features(lines: list[str]) -> np.ndarray:
    """One row of cheap features per line, with context from neighbours and page sections."""
    n = len(lines)
    if n == 0:
        return np.zeros((0, N_FEATURES))
    words = [_WORD.findall(s) for s in lines]
    nw = np.array([len(w) for w in words], float)
    nc = np.array([len(s) for s in lines], float)
    repeats = Counter(lines)
    rows = []
    for i, (s, w) in enumerate(zip(lines, words)):
        head = s[:160]  # character ratios settle within a sentence; long paragraphs need not be walked
        short = nw[i] < 15
        rows.append(
            (
                math.log1p(nc[i]),
                math.log1p(nw[i]),
                s.endswith(_SENTENCE_END),
                sum(t[0].isupper() for t in w[:30]) / max(min(len(w), 30), 1),
                sum(map(str.isdigit, head)) / max(len(head), 1),
                s.count(",") / max(nw[i], 1),
                s.startswith("•"),
                i / max(n - 1, 1),
                repeats[s] > 1,
                short and _BOILER.search(s) is not None,
                sum(map(str.isupper, head)) / max(sum(map(str.isalpha, head)), 1),
                nw[i] <= 3,
                len(s) < 60 and _SECTION.match(s) is not None,
                nw[i] < 25 and _COMMENTY.search(s) is not None,
            )
        )
    base = np.array(rows, float)
    long = np.flatnonzero(nw >= 15)
    pos = np.arange(n)
    if len(long):
        k = np.searchsorted(long, pos)  # first long line at or after each line
        after = np.where(k < len(long), long[np.minimum(k, len(long) - 1)] - pos, 50)
        j = np.searchsorted(long, pos, side="right") - 1  # last long line at or before
        before = np.where(j >= 0, pos - long[np.maximum(j, 0)], 50)
    else:
        before = after = np.full(n, 50)
    total = max(nw.sum(), 1.0)
    cum = np.cumsum(nw)
    section = np.concatenate([[0], np.cumsum(base[:, 12])[:-1]]).astype(int)
    section_words = np.bincount(section, weights=nw)
    main = section_words.argmax()
    page = np.stack(
        [
            np.minimum(before, 20) / 20,
            np.minimum(after, 20) / 20,
            (cum - nw) / total,
            (total - cum) / total,
            np.full(n, math.log1p(total)),
            np.full(n, len(long) / n),
            nw / max(nw.max(), 1),
            np.minimum(section, 3),
            section == main,
            section_words[section] / total,
            section > main,
            _window_mean(base[:, 13], 3),
            _window_mean(base[:, 1], 3),
        ],
        1,
    )
    ctx = base[:, [1, 2, 3, 9, 10]]
    zero = np.zeros((1, ctx.shape[1]))
    prev = np.vstack([zero, ctx[:-1]])
    nxt = np.vstack([ctx[1:], zero])
    return np.hstack([base, page, prev, nxt])


N_FEATURES = 14 + 13 + 10


def line_labels(lines: list[str], reference: str) -> np.ndarray:
    """1 for lines whose word 3-grams mostly occur in the reference text (short lines: substring)."""
    ref_words = _WORD.findall(reference)
    grams = set(zip(ref_words, ref_words[1:], ref_words[2:]))
    flat = " ".join(reference.split())
    out = []
    for s in lines:
        w = _WORD.findall(s)
        g = list(zip(w, w[1:], w[2:]))
        out.append(sum(x in grams for x in g) / len(g) >= 0.5 if g else (bool(w) and " ".join(s.split()) in flat))
    return np.array(out, int)


# -- the model: boosted trees as arrays ---------------------------------------------------------


@dataclass
class BlockModel:
    """Gradient-boosted trees (from scikit-learn's HistGradientBoostingClassifier) as flat arrays."""

    baseline: float
    feature: np.ndarray  # [trees, nodes]
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray  # bool
    value: np.ndarray
    missing_left: np.ndarray
    depth: int

    def __post_init__(self) -> None:
        # Flat node arrays in which a leaf points to itself and never goes left or right, so the
        # walk is a fixed number of gathers with no per-node branching.
        trees, width = self.feature.shape
        own = np.arange(trees * width).reshape(trees, width)
        base = (np.arange(trees) * width)[:, None]
        self._roots = base[:, 0]
        self._feat = np.where(self.leaf, 0, self.feature).ravel()
        self._thr = np.where(self.leaf, np.inf, self.threshold).ravel()
        self._left = np.where(self.leaf, own, base + self.left).ravel()
        self._right = np.where(self.leaf, own, base + self.right).ravel()
        self._value = self.value.ravel()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probability that each row is main content (features are never NaN, see line_features)."""
        n, n_feat = X.shape
        if n == 0:
            return np.zeros(0)
        flat_x = X.ravel()
        row_base = np.arange(n) * n_feat
        node = np.repeat(self._roots[:, None], n, axis=1)
        for _ in range(self.depth):
            x = flat_x[row_base + self._feat[node]]
            node = np.where(x <= self._thr[node], self._left[node], self._right[node])
        raw = self.baseline + self._value[node].sum(0)
        return 1.0 / (1.0 + np.exp(-raw))

    def to_json(self) -> dict:
        return {
            "baseline": self.baseline,
            "depth": self.depth,
            **{
                k: getattr(self, k).tolist()
                for k in ("feature", "threshold", "left", "right", "leaf", "value", "missing_left")
            },
        }

    @classmethod
    def from_json(cls, d: dict) -> BlockModel:
        arr = {k: np.array(d[k]) for k in ("feature", "threshold", "left", "right", "leaf", "value", "missing_left")}
        arr["leaf"] = arr["leaf"].astype(bool)
        arr["missing_left"] = arr["missing_left"].astype(bool)
        return cls(float(d["baseline"]), depth=int(d["depth"]), **arr)


def _from_sklearn(model) -> BlockModel:
    trees = [p[0].nodes for p in model._predictors]
    width = max(len(t) for t in trees)

    def field(name, dtype):
        out = np.zeros((len(trees), width), dtype)
        for i, t in enumerate(trees):
            out[i, : len(t)] = t[name]
        return out

    return BlockModel(
        float(np.ravel(model._baseline_prediction)[0]),
        field("feature_idx", int),
        field("num_threshold", float),
        field("left", int),
        field("right", int),
        field("is_leaf", bool),
        field("value", float),
        field("missing_go_to_left", bool),
        int(max(t["depth"].max() for t in trees)) + 1,
    )


def train(pages) -> BlockModel:
    """Fit the line classifier on gold pages (decoded HTML + reference)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from corpusforge.core.charset import decode_html

    X, y = [], []
    for p in pages:
        lines = candidate_lines(decode_html(p.html, "text/html")[0] or "")
        if lines:
            X.append(line_features(lines))
            y.append(line_labels(lines, p.reference))
    model = HistGradientBoostingClassifier(max_depth=4, max_iter=150, learning_rate=0.05, random_state=0)
    model.fit(np.vstack(X), np.concatenate(y))
    return _from_sklearn(model)


@functools.lru_cache(maxsize=4)
def load_model(path: str = str(MODEL_PATH)) -> BlockModel:
    """The shipped model, loaded once per process."""
    return BlockModel.from_json(json.loads(Path(path).read_text()))


def extract_blocks(html: str, model: BlockModel | None = None, threshold: float = THRESHOLD) -> str:
    """Main-content text of a page: resiliparse candidates filtered by the line model."""
    lines = candidate_lines(html)
    if not lines:
        return ""
    keep = (model or load_model()).predict(line_features(lines)) >= threshold
    return "\n".join(s for s, k in zip(lines, keep) if k)


def block_extractor(path: str = str(MODEL_PATH)) -> Callable[[str], str]:
    """The Extract stage's `blocks` mode: a callable with the model bound."""
    model = load_model(path)
    return functools.partial(extract_blocks, model=model)


# -- gold pages ----------------------------------------------------------------------------------


@dataclass(slots=True)
class GoldPage:
    """A real page and the human-made reference text of its main content."""

    id: str
    url: str
    html: bytes
    reference: str


def gold_pages(extraction_dir: str | Path, which: str) -> list[GoldPage]:
    """Pages of one gold set: "scrapinghub" or "readability" (readability's reference is HTML, made text)."""
    root = Path(extraction_dir) / which
    if which == "scrapinghub":
        truth = json.loads((root / "ground-truth.json").read_text())
        pages = []
        for key, item in sorted(truth.items()):
            path = root / "html" / f"{key}.html.gz"
            if path.exists():
                pages.append(
                    GoldPage(
                        key,
                        item.get("url") or f"http://scrapinghub.test/{key}",
                        gzip.decompress(path.read_bytes()),
                        item.get("articleBody", ""),
                    )
                )
        return pages
    if which == "readability":
        from resiliparse.extract.html2text import extract_plain_text

        pages = []
        for d in sorted(p for p in root.iterdir() if (p / "source.html").exists() and (p / "expected.html").exists()):
            reference = extract_plain_text((d / "expected.html").read_text("utf-8", "replace"), main_content=False)
            pages.append(
                GoldPage(d.name, f"http://readability.test/{d.name}", (d / "source.html").read_bytes(), reference)
            )
        return pages
    raise ValueError(f"unknown gold set {which!r}: scrapinghub or readability")


def main(argv: list[str] | None = None) -> None:
    """Train the line model on one gold set and write it as JSON."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--train", default="readability", choices=["readability", "scrapinghub"])
    ap.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "extraction")
    )
    ap.add_argument("--out", default=str(MODEL_PATH))
    args = ap.parse_args(argv)
    model = train(gold_pages(args.data, args.train))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"trained_on": args.train, **model.to_json()}))
    print(f"wrote {args.out} ({model.feature.shape[0]} trees, trained on {args.train})")


if __name__ == "__main__":
    main()
