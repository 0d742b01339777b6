"""Decontamination: planted GSM8K/HumanEval items are found in every disguise, clean real text is not hit."""

import gzip
import json
import random
import re
from pathlib import Path

import lxml.html
import numpy as np
import pytest

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.core.stats import merge_ledgers
from corpusforge.stages.decontam.decontaminate import Decontaminate, contamination_report, scan
from corpusforge.stages.decontam.ngram_index import BenchmarkIndex, build_index, ngrams, ngrams_batch

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
GSM8K = SHARED / "benchmarks" / "gsm8k"
HUMANEVAL = SHARED / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz"
SCRAPINGHUB = SHARED / "extraction" / "scrapinghub"
READABILITY = SHARED / "extraction" / "readability"

BENCHMARKS = [{"name": "gsm8k", "path": str(GSM8K)}, {"name": "humaneval", "path": str(HUMANEVAL)}]


def _gsm8k_test() -> list[dict]:
    return [json.loads(line) for line in (GSM8K / "test.jsonl").read_text().splitlines()]


def _humaneval() -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(HUMANEVAL.read_bytes()).decode().splitlines()]


def _articles() -> list[str]:
    truth = json.loads((SCRAPINGHUB / "ground-truth.json").read_text())
    return [v["articleBody"] for _, v in sorted(truth.items())]


def _page_text(html: str) -> str:
    tree = lxml.html.fromstring(html)
    for bad in tree.xpath("//script|//style"):
        bad.drop_tree()
    return tree.text_content()


def _clean_real_documents() -> list[Document]:
    """Real article text and whole-page text (boilerplate included) from the extraction sets."""
    docs = [Document(f"article-{i}", t) for i, t in enumerate(_articles())]
    for path in sorted((SCRAPINGHUB / "html").glob("*.html.gz")):
        docs.append(
            Document(f"page-{path.name}", _page_text(gzip.decompress(path.read_bytes()).decode("utf-8", "replace")))
        )
    for page in sorted(p for p in READABILITY.iterdir() if (p / "expected.html").exists()):
        docs.append(
            Document(f"readability-{page.name}", _page_text((page / "expected.html").read_text(errors="replace")))
        )
    return docs


@pytest.fixture(scope="module")
def stage() -> Decontaminate:
    s = Decontaminate(benchmarks=BENCHMARKS, policy="flag")
    s.setup()
    return s


# --- the disguises a leaked item wears -------------------------------------------------------


def recased(t: str, rng) -> str:
    return t.upper() if rng.random() < 0.5 else t.title()


def respaced(t: str, rng) -> str:
    t = re.sub(r"([,.?!:;$%()=+*/-])", r" \1 ", t)
    return "".join(rng.choice([" ", "  ", "\n", "\t", " \n\n "]) if c.isspace() else c for c in t)


def markdown(t: str, rng) -> str:
    sentences = re.split(r"(?<=[.?!])\s+", t.strip())
    body = "\n".join(f"- **{s}**" if i == 0 else f"- {s}" for i, s in enumerate(sentences))
    body = re.sub(r"(\d+)", r"`\1`", body)
    return f"## Problem\n\n> _Exercise:_\n\n{body}\n\n---\n"


def latex(t: str, rng) -> str:
    t = t.replace("$", r"\$").replace("%", r"\%")
    t = re.sub(r"(\d+)/(\d+)", r"\\frac{\1}{\2}", t)
    t = re.sub(r"(?<![{\d,.])(\d+(?:,\d{3})*(?:\.\d+)?)(?![}\d])", r"$\1$", t)
    return t.replace(" x ", r" \times ").replace(" * ", r" \cdot ")


def embedded(t: str, rng, page: str) -> str:
    cut = rng.randrange(len(page) // 4, 3 * len(page) // 4)
    return page[:cut] + "\n\n" + latex(t, rng) + "\n\n" + page[cut:] + "\n\n" + page


def _planted_gsm8k() -> list[tuple[Document, str]]:
    rng = random.Random(0)
    pages = _articles()
    out = []
    for i, rec in enumerate(_gsm8k_test()):
        key = f"gsm8k/test:{i}"
        q = rec["question"]
        variants = {
            "verbatim": q,
            "recased": recased(q, rng),
            "respaced": respaced(q, rng),
            "markdown": markdown(q, rng),
            "latex": latex(q, rng),
            "embedded": embedded(q, rng, pages[i % len(pages)]),
        }
        out += [(Document(f"{name}-{i}", text), key) for name, text in variants.items()]
    return out


def _humaneval_source(rec: dict) -> str:
    return rec["prompt"] + rec["canonical_solution"]


def _reindent(code: str, rng) -> str:
    unit = rng.choice(["  ", "\t", "   "])
    return "\n".join(
        re.sub(r"^((?:    )+)", lambda m: unit * (len(m[1]) // 4), line) for line in code.splitlines() if line.strip()
    )


def _planted_humaneval() -> list[tuple[Document, str]]:
    rng = random.Random(1)
    pages = _articles()
    out = []
    for i, rec in enumerate(_humaneval()):
        code = _humaneval_source(rec)
        key = f"humaneval/{rec['task_id']}"
        fenced = f"Here is my solution to the exercise:\n\n```python\n{_reindent(code, rng)}\n```\n\nHope it helps!"
        variants = {
            "verbatim": code,
            "recased": code.upper(),
            "respaced": _reindent(code, rng),
            "markdown": fenced,
            "embedded": pages[i % len(pages)] + "\n\n" + fenced + "\n\n" + pages[-1 - i % 50],
        }
        out += [(Document(f"he-{name}-{i}", text), key) for name, text in variants.items()]
    return out


def _recall(stage: Decontaminate, planted: list[tuple[Document, str]]) -> dict[str, list[str]]:
    findings = scan(stage.index, [d.text for d, _ in planted])
    missed: dict[str, list[str]] = {}
    for (doc, key), f in zip(planted, findings):
        if f is None or key not in f.items:
            missed.setdefault(doc.id.rsplit("-", 1)[0], []).append(doc.id)
    return missed


def test_recall_is_total_on_planted_gsm8k_variants(stage):
    planted = _planted_gsm8k()
    assert len(planted) == 6 * 1319
    assert _recall(stage, planted) == {}


def test_recall_is_total_on_planted_humaneval_variants(stage):
    planted = _planted_humaneval()
    assert len(planted) == 5 * 164
    assert _recall(stage, planted) == {}


def test_char_mode_finds_reindented_code():
    s = Decontaminate(benchmarks=[{"name": "humaneval", "path": str(HUMANEVAL)}], mode="char")
    s.setup()
    assert s.n == 50 and s.index.mode == "char"
    planted = [(d, k) for d, k in _planted_humaneval() if "-recased-" not in d.id]
    assert _recall(s, planted) == {}


def test_false_positive_rate_on_clean_real_text(stage):
    docs = _clean_real_documents()
    assert len(docs) >= 250 and sum(len(d.text) for d in docs) > 1_000_000
    findings = scan(stage.index, [d.text for d in docs])
    false_positives = [d.id for d, f in zip(docs, findings) if f is not None]
    rate = len(false_positives) / len(docs)
    print(f"decontamination false positives on clean real text: {len(false_positives)} of {len(docs)} ({rate:.4%})")
    assert rate < 0.001, false_positives


# --- policies and the ledger -------------------------------------------------------------------


def _mixed_docs() -> list[Document]:
    pages = _articles()
    q = _gsm8k_test()
    he = _humaneval()
    docs = [Document(f"clean-{i}", p) for i, p in enumerate(pages[:20])]
    docs.insert(3, Document("short-leak", q[0]["question"]))
    docs.insert(7, Document("long-leak", pages[30] + "\n\n" + markdown(q[1]["question"], None) + "\n\n" + pages[31]))
    docs.insert(12, Document("code-leak", pages[32] + "\n\n" + _humaneval_source(he[3]) + "\n\n" + pages[33]))
    return docs


def _run(policy: str, docs=None, **kw) -> Decontaminate:
    s = Decontaminate(benchmarks=BENCHMARKS, policy=policy, **kw)
    out = list(s.run(docs if docs is not None else _mixed_docs()))
    s.out = out
    assert s.ledger.balanced
    return s


def test_drop_policy():
    s = _run("drop")
    assert [d.id for d in s.out] == [f"clean-{i}" for i in range(20)]
    assert s.ledger.dropped == {"contaminated": 3}
    report = contamination_report(s.ledger.extra)
    assert report["gsm8k"]["items_found"] == 2 and report["gsm8k"]["docs_affected"] == 2
    assert report["humaneval"]["top_items"] == [{"item": "HumanEval/3", "docs": 1}]
    assert report["gsm8k"]["examples"][0]["doc_id"] == "short-leak"
    assert "ducks lay 16 eggs" in report["gsm8k"]["examples"][0]["matched_text"]


def test_flag_policy_annotates_and_keeps_everything():
    s = _run("flag")
    assert len(s.out) == 23 and not s.ledger.dropped
    by_id = {d.id: d for d in s.out}
    assert by_id["long-leak"].annotations["contamination"] == ["gsm8k/test:1"]
    assert by_id["long-leak"].annotations["flags"] == ["contaminated"]
    assert 0 < by_id["long-leak"].annotations["contamination_fraction"] < 0.2
    assert by_id["short-leak"].annotations["contamination_fraction"] > 0.8
    assert "contamination" not in by_id["clean-0"].annotations


def test_cut_policy_removes_span_with_margin():
    docs = _mixed_docs()
    q1 = _gsm8k_test()[1]["question"]
    s = _run("cut", docs)
    by_id = {d.id: d for d in s.out}
    assert s.ledger.dropped == {"contaminated_cut_too_short": 1}  # the bare question has nothing left
    cut = by_id["long-leak"]
    original = next(d for d in _mixed_docs() if d.id == "long-leak").text
    assert "bolts" not in cut.text and len(cut.text) < len(original) - len(q1)
    assert scan(s.index, [cut.text]) == [None]  # nothing of the item is left
    # 200 characters of margin on each side of the item went with it
    before, after = original.split(markdown(q1, None))
    assert before.rstrip()[:-220].strip()[-50:] in cut.text and before.rstrip()[-150:] not in cut.text
    assert after.lstrip()[:150] not in cut.text and after.lstrip()[220:][:50] in cut.text
    assert cut.annotations["contamination"] == ["gsm8k/test:1"]
    assert by_id["clean-5"].text == docs[6].text
    assert s.ledger.extra["chars_cut"] > 0


def test_cut_policy_drops_documents_cut_into_too_many_pieces():
    q = _gsm8k_test()
    filler = " ".join(_articles())[:1000]
    text = "\n\n".join(f"{filler}\n{q[i]['question']}" for i in range(12)) + "\n\n" + filler
    s = _run("cut", [Document("many", text)])
    assert s.ledger.dropped == {"contaminated_cut_too_many_pieces": 1}


def test_min_matches_needs_several_ngrams():
    q = _gsm8k_test()[2]["question"]
    one_gram = " ".join(re.findall(r"[^\W_]+", q)[:13])  # exactly one 13-gram of the item
    assert len(ngrams(one_gram, 13).hashes) == 1
    assert _run("drop", [Document("x", one_gram)]).ledger.dropped == {"contaminated": 1}
    assert _run("drop", [Document("x", one_gram)], min_matches=2).ledger.dropped == {}
    assert _run("drop", [Document("x", q)], min_matches=2).ledger.dropped == {"contaminated": 1}


def test_results_do_not_depend_on_batching_or_task_split():
    docs = _mixed_docs()
    whole = _run("cut", docs)
    tiny = _run("cut", _mixed_docs(), batch_chars=1)
    parts = [_run("cut", chunk) for chunk in (_mixed_docs()[:5], _mixed_docs()[5:13], _mixed_docs()[13:])]
    for other in (tiny.out, [d for p in parts for d in p.out]):
        assert [(d.id, d.text, d.annotations) for d in other] == [(d.id, d.text, d.annotations) for d in whole.out]
    merged = merge_ledgers([[p.ledger] for p in parts])[0]
    assert merged.dropped == whole.ledger.dropped and merged.docs_out == whole.ledger.docs_out
    strip = lambda extra: {b: {k: v for k, v in e.items() if k != "examples"} for b, e in extra["benchmarks"].items()}
    assert strip(merged.extra) == strip(whole.ledger.extra)


def test_index_is_built_once_stored_and_loaded(tmp_path):
    s = Decontaminate(benchmarks=BENCHMARKS)
    s.before_run(str(tmp_path / "run"))
    path = s.config.index_path
    assert path.startswith(str(tmp_path / "run" / "_work" / "decontaminate")) and path.endswith(".npz")
    mtime = Path(path).stat().st_mtime_ns
    again = Decontaminate(benchmarks=BENCHMARKS)
    again.before_run(str(tmp_path / "run"))
    assert again.config.index_path == path and Path(path).stat().st_mtime_ns == mtime  # not rebuilt
    worker = Decontaminate(again.config)
    worker.setup()
    index = BenchmarkIndex.load(path)
    assert worker.index.keys == index.keys and np.array_equal(worker.index.hashes, index.hashes)
    assert np.all(np.diff(index.hashes.astype(np.float64)) >= 0)
    assert index.meta["items"] == 1319 + 7473 + 164
    # a changed setting gives a different index file
    other = Decontaminate(benchmarks=BENCHMARKS, ngram=8)
    other.before_run(str(tmp_path / "run"))
    assert other.config.index_path != path


def test_index_build_drops_template_ngrams():
    template = "answer the following question with a single number and show all of your work please"
    items = [(f"b/{i}", f"{template} item number {i} asks about {i} apples and {i + 1} pears today") for i in range(12)]
    index = build_index(items, 13, max_items_per_ngram=10)
    assert index.meta["template_ngrams_dropped"] > 0
    assert not index.lookup(ngrams(template, 13).hashes).any()
    assert scan(index, [items[4][1]])[0].items == ["b/4"]


def test_normalisation_erases_formatting_but_keeps_words():
    base = ngrams("She pays 1/2 of $48 for 3 apples at the farmers market every single day", 13).hashes
    assert len(base) == 16 - 13 + 1  # "1/2" is two tokens
    for variant in [
        "SHE PAYS 1/2 OF $48 FOR 3 APPLES AT THE FARMERS' MARKET EVERY SINGLE DAY",
        "She  pays\n\\frac{1}{2} of \\$48 for **3** apples at the _farmers_ market, every single day.",
        "She pays $\\dfrac{1}{2}$ of &#36;48 for `3` apples at the farmers&nbsp;market every single day",
    ]:
        assert np.array_equal(ngrams(variant, 13).hashes, base), variant
    assert not np.array_equal(
        ngrams("She pays 1/3 of $48 for 3 apples at the farmers market every single day", 13).hashes, base
    )
    # spans point into the original text
    g = ngrams("xx **Hello** world " * 20, 3)
    assert "xx **Hello** world xx"[g.span_start[0] : g.span_end[0]] == "xx **Hello** world"[: g.span_end[0]]
    batch = ngrams_batch(["a b c d", "e f g h"], 3)
    assert batch.doc.tolist() == [0, 0, 1, 1]  # no n-gram spans two documents


def test_pipeline_run_with_parquet_input_reports_what_it_found(tmp_path):
    from corpusforge.pipelines.runner import iter_output, run_pipeline
    from corpusforge.pipelines.schema import validate_pipeline

    docs = _mixed_docs()
    for shard, chunk in enumerate((docs[:8], docs[8:16], docs[16:])):
        storage.write_documents(str(tmp_path / "in" / f"{shard}.parquet"), chunk)
    config = validate_pipeline(
        {
            "name": "decontam",
            "output": str(tmp_path / "out"),
            "engine": {"type": "local", "workers": 1},
            "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
            "stages": [{"type": "decontaminate", "benchmarks": BENCHMARKS, "policy": "drop"}],
        }
    )
    result = run_pipeline(config)
    kept = [d.id for d in iter_output(result.output)]
    assert kept == [f"clean-{i}" for i in range(20)]
    stats = json.loads(Path(result.stats_path).read_text())
    stage = next(s for s in stats["stages"] if s["name"] == "decontaminate")
    assert stage["balanced"] and stage["dropped"] == {"contaminated": 3}
    report = contamination_report(stage["extra"])
    assert report["gsm8k"]["items_found"] == 2 and report["humaneval"]["items_found"] == 1
    assert {e["doc_id"] for e in report["gsm8k"]["examples"]} == {"short-leak", "long-leak"}
    assert list((tmp_path / "out" / "_work" / "decontaminate").glob("decontaminate-*.npz"))  # built once, on the driver
    # the CLI prints the same report from the run's stats.json
    from typer.testing import CliRunner

    from corpusforge.cli.decontam import app

    printed = CliRunner().invoke(app, ["report", result.output, "--json"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output)["decontaminate"]["humaneval"]["top_items"] == [{"item": "HumanEval/3", "docs": 1}]


def test_cli_builds_the_index_a_run_will_use(tmp_path):
    import yaml
    from typer.testing import CliRunner

    from corpusforge.cli.decontam import app

    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        yaml.safe_dump(
            {
                "output": str(tmp_path / "out"),
                "input": {"type": "parquet", "paths": ["x.parquet"]},
                "stages": [{"type": "decontaminate", "benchmarks": [{"name": "humaneval", "path": str(HUMANEVAL)}]}],
            }
        )
    )
    printed = CliRunner().invoke(app, ["build-index", str(pipeline)])
    assert printed.exit_code == 0, printed.output
    assert "164 items" in printed.output
    assert len(list((tmp_path / "out" / "_work" / "decontaminate").glob("*.npz"))) == 1


def _engine_run(tmp_path: Path, engine, inputs: str):
    from corpusforge.pipelines.runner import run_pipeline
    from corpusforge.pipelines.schema import validate_pipeline

    config = validate_pipeline(
        {
            "name": "decontam-equal",
            "output": str(tmp_path / engine.name),
            "engine": {"type": engine.name, "workers": 2},
            "input": {"type": "parquet", "paths": [inputs]},
            "stages": [{"type": "decontaminate", "benchmarks": BENCHMARKS, "policy": "cut"}],
        }
    )
    result = run_pipeline(config, engine=engine)
    per_task = {
        Path(p).name: [(d.id, d.text, d.annotations) for d in storage.read_documents(p)]
        for p in storage.expand([storage.join(result.data_dir, "*.parquet")])
    }
    ledger = [
        (
            s.name,
            s.docs_in,
            s.docs_out,
            s.bytes_in,
            s.bytes_out,
            dict(s.dropped),
            {k: v for k, v in s.extra.items() if not k.endswith("seconds")},
        )
        for s in result.stages
    ]
    return per_task, ledger


@pytest.mark.slow
def test_local_spark_and_ray_decontaminate_identically(tmp_path, spark_engine, ray_engine):
    from corpusforge.pipelines.engines.local import LocalEngine

    docs = _mixed_docs() + [d for d, _ in _planted_gsm8k()[:60:7]] + [d for d, _ in _planted_humaneval()[:40:3]]
    for shard in range(4):
        storage.write_documents(str(tmp_path / "in" / f"{shard}.parquet"), docs[shard::4])
    inputs = str(tmp_path / "in" / "*.parquet")
    local_docs, local_ledger = _engine_run(tmp_path, LocalEngine(workers=2), inputs)
    stage = next(s for s in local_ledger if s[0] == "decontaminate")
    assert stage[6]["docs_contaminated"] == 3 + 9 + 14
    for engine in (spark_engine, ray_engine):
        engine_docs, ledger = _engine_run(tmp_path, engine, inputs)
        assert engine_docs == local_docs, engine.name
        assert ledger == local_ledger, engine.name


@pytest.mark.slow
def test_index_on_object_storage(s3_server):
    s = Decontaminate(benchmarks=[{"name": "humaneval", "path": str(HUMANEVAL)}])
    s.before_run(f"{s3_server}/run")
    assert s.config.index_path.startswith(f"{s3_server}/run/_work/decontaminate/")
    worker = Decontaminate(s.config)
    worker.setup()
    assert len(worker.index.keys) == 164
    leak = _humaneval_source(_humaneval()[10])
    assert scan(worker.index, [leak])[0].items == ["humaneval/HumanEval/10"]
