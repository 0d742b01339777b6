"""The code lane, measured: throughput against the read-and-hash floor, license agreement with ScanCode,
secrets recall on the planted set, near-dup precision/recall against brute-force Jaccard.

Corpus: real source files of packages installed in this venv, laid out as repositories with their
license files (the `corpusforge sample` code sample plus larger packages), read from local disk.

1. Throughput, one core, CPU time of this process (other load on a shared machine does not inflate
   it), over the same files in one run: the floor is reading every file and hashing it (xxh3);
   then the reader (listing, license files, decoding), the filter chain (license filter, language,
   StarCoder2 basic filters, OpenCoder rules), secrets, decontamination and quality, each a stage
   over the whole batch (the chain, its reference and the parse: best of three passes, as the floor's best
   of five); and the whole lane through the runner (code.yaml's stages, dedup included,
   local engine with one worker; wall clock, process start-up included).
   The StarCoder2 and OpenCoder filters are also timed in their one-rule-at-a-time reference form
   (`stages/code/reference_filters.py`, same verdicts checked), and against the one part no rule order
   can skip: the "must parse" check (`python_parse.python_parses`, `ast.parse`'s verdict) of every Python
   file the cheaper rules keep, timed alone on those files.
   The peer: NeMo Curator's code heuristics (StarCoder's: lines of code, XML header, alphabetic share,
   comment-to-code ratio, HTML boilerplate, StarCoder's per-extension table), each file through them in
   that order until one rejects, as its ScoreFilter chain does, over the same files labelled by our
   language stage. Its modules import without its GPU stack: `make peers` installs only the packages
   they import. Its tokenizer-fertility filter needs a SentencePiece model file, which nothing ships, so it
   is left out. bigcode's filtering scripts are not packaged.
2. License agreement: the fast detector against ScanCode Toolkit (where installed) on every license
   file of the sample and on every license file in the venv's `.dist-info` folders: the same SPDX
   ids, and the same keep/drop decision under The Stack v2's rule.
3. Secrets: the sample's planted secrets (AWS key, GitHub token, private key block, JWT, Slack
   webhook, e-mail, public IP) found and redacted, and the planted look-alikes left alone.
4. Near duplicates: real Python files plus variants with line-level edits at planted Jaccard
   0.5-0.95; the code preset's removals against brute-force exact Jaccard (5-grams of \\w tokens, 0.7).

    .venv/bin/python benchmarks/code_pipeline.py [--mb 12] [--skip-scancode] [--licenses-only]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import xxhash

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from dedup_eval import exact_removed, jaccard, precision_recall, shingle_sets

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.samples.code import SITE_PACKAGES, _copy_package, write_code_sample
from corpusforge.stages.code import licenses

# Larger packages added to the sample for the throughput corpus (their sources and license files).
EXTRA_PACKAGES = [
    ("pydantic", ("pydantic",)),
    ("rich", ("rich",)),
    ("jinja2", ("jinja2",)),
    ("click", ("click",)),
    ("pyyaml", ("yaml",)),
    ("attrs", ("attr", "attrs")),
    ("packaging", ("packaging",)),
    ("fsspec", ("fsspec",)),
    ("typer", ("typer",)),
    ("tqdm", ("tqdm",)),
    ("pygments", ("pygments",)),
    ("requests", ("requests",)),
    ("urllib3", ("urllib3",)),
    ("networkx", ("networkx",)),
]


# Passes of the filter chain, its reference and the parse alone; each figure is the best pass.
PASSES = 3


def _cpu() -> float:
    # CLOCK_PROCESS_CPUTIME_ID: nanosecond resolution (os.times ticks at 10 ms, coarser than the floor pass).
    return time.process_time()


def build_corpus(root: Path, target_mb: float) -> tuple[list[str], dict]:
    """The sample's repositories (unpacked to folders) plus larger packages, up to `target_mb` of files."""
    planted = write_code_sample(str(root / "sample"))
    repos = root / "repos"
    repos.mkdir()
    for path in sorted((root / "sample" / "repos").iterdir()):
        if path.is_dir() and not path.name.endswith(".git"):
            shutil.copytree(path, repos / path.name, symlinks=True)
    total = sum(f.stat().st_size for f in repos.rglob("*") if f.is_file() and not f.is_symlink())
    for dist, imports in EXTRA_PACKAGES:
        if total >= target_mb * 1e6:
            break
        dest = repos / dist
        dest.mkdir()
        if _copy_package(dist, imports, dest):
            total += sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
        else:
            shutil.rmtree(dest)
    return sorted(str(p) for p in repos.iterdir()), planted


def read_and_hash_floor(repo_dirs: list[str]) -> tuple[float, int, int]:
    """CPU seconds to read and hash every regular file; (seconds, bytes, files)."""
    t0, nbytes, nfiles = _cpu(), 0, 0
    for repo in repo_dirs:
        for dirpath, _, names in os.walk(repo):
            for name in names:
                path = os.path.join(dirpath, name)
                if os.path.islink(path):
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                xxhash.xxh3_64_intdigest(data)
                nbytes += len(data)
                nfiles += 1
    return _cpu() - t0, nbytes, nfiles


def filter_floors(docs: list[Document], chain: list, mb: float, chain_s: float, floor_mb_s: float) -> dict:
    """The two filter stages' one-rule-at-a-time reference on the same files, and the part no filter can skip.

    "Python must parse" runs CPython's parser on every Python file the cheaper rules keep; that check alone,
    timed on exactly those files, bounds the chain's rate however fast every other rule gets.
    """
    from corpusforge.stages.code import opencoder
    from corpusforge.stages.code.reference_filters import basic_filters_reason, opencoder_reason

    license_filter, language, basic, rules = chain
    batch = list(language.run(license_filter.run([Document(d.id, d.text, d.source, dict(d.meta)) for d in docs])))
    reference_s = float("inf")
    for _ in range(PASSES):
        t0 = _cpu()
        kept = [d for d in batch if basic_filters_reason(basic.config, d) is None]
        reasons = [opencoder_reason(rules.config, d) for d in kept]
        reference_s = min(reference_s, _cpu() - t0)
    parsed: list[str] = []
    parse = opencoder.python_parses
    opencoder.python_parses = lambda text: parsed.append(text) or parse(text)
    try:
        if [rules.reject(d) for d in kept] != reasons:
            raise SystemExit("opencoder_rules disagrees with its reference")
    finally:
        opencoder.python_parses = parse
    parse_s = float("inf")
    for _ in range(PASSES):
        t0 = _cpu()
        for text in parsed:
            parse(text)
        parse_s = min(parse_s, _cpu() - t0)
    return {
        "basic_and_opencoder_reference_cpu_seconds": round(reference_s, 3),
        "python_files_parsed": len(parsed),
        "python_mb_parsed": round(sum(len(t.encode("utf-8", "surrogatepass")) for t in parsed) / 1e6, 2),
        "parse_only_cpu_seconds": round(parse_s, 3),
        "filter_chain_parse_bound_mb_s": round(mb / parse_s, 2),
        "filter_chain_parse_bound_vs_floor": round((mb / parse_s) / floor_mb_s, 4),
        "filter_chain_without_parse_mb_s": round(mb / max(chain_s - parse_s, 1e-9), 2),
    }


# comment_parser's MIME types for the languages it reads (NeMo Curator's GeneralCommentToCodeFilter takes one).
_COMMENT_MIME = {
    "C": "text/x-c",
    "C++": "text/x-c++",
    "C#": "text/x-c++",
    "Go": "text/x-go",
    "Java": "text/x-java",
    "JavaScript": "application/javascript",
    "Ruby": "text/x-ruby",
    "Shell": "text/x-shellscript",
    "HTML": "text/html",
    "XML": "text/xml",
}


def _nemo_filters(nc, meta_csv: str, lang: str, ext: str) -> list:
    """NeMo Curator's code filters for one (language, extension), in its code-filtering order."""
    filters = [nc.NumberOfLinesOfCodeFilter(), nc.XMLHeaderFilter(), nc.AlphaFilter()]
    if lang == "Python":
        filters.append(nc.PythonCommentToCodeFilter())
    elif lang in _COMMENT_MIME:
        filters.append(nc.GeneralCommentToCodeFilter(_COMMENT_MIME[lang]))
    if lang == "HTML":
        filters.append(nc.HTMLBoilerplateFilter())
    # the table's language names, as its own dataset-to-table conversion writes them
    table_lang = {"C#": "c-sharp", "F#": "f-sharp"}.get(lang, lang.lower().replace(" ", "-"))
    try:
        filters.append(nc.PerExtensionFilter(table_lang, ext, metadata_file=meta_csv))
    except ValueError:  # a language its table does not list: its filter excludes such files
        filters.append(None)
    return filters


def nemo_curator_chain(docs: list[Document]) -> dict | None:
    """CPU seconds of NeMo Curator's code heuristics over the files, and how many they keep (None: not installed)."""
    import contextlib
    import io
    import warnings

    try:
        from nemo_curator.stages.text.filters.heuristic.code import code as nc
    except ImportError:
        return None
    meta_csv = str(Path(nc.__file__).parents[5] / "utils" / "code_meta.csv")
    chains: dict[tuple[str, str], list] = {}
    jobs = []
    for d in docs:
        lang = d.meta.get("language") or ""
        ext = Path(d.meta.get("path") or "").suffix.lstrip(".")
        if (lang, ext) not in chains:
            chains[lang, ext] = _nemo_filters(nc, meta_csv, lang, ext)
        jobs.append((d.text, chains[lang, ext]))
    kept = 0
    # Its filters print and warn per file they cannot read; the same sink for every file.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = _cpu()
        for text, filters in jobs:
            kept += all(f is not None and f.keep_document(f.score_document(text)) for f in filters)
        seconds = _cpu() - t0
    return {"cpu_seconds": seconds, "files_kept": kept, "files": len(jobs)}


def throughput(repo_dirs: list[str], humaneval: str) -> dict:
    from corpusforge.stages.code.basic_filters import CodeBasicFilters
    from corpusforge.stages.code.language import CodeLanguage
    from corpusforge.stages.code.license_filter import LicenseFilter
    from corpusforge.stages.code.opencoder import OpenCoderRules
    from corpusforge.stages.code.quality import CodeQuality
    from corpusforge.stages.code.repo_reader import RepoReader
    from corpusforge.stages.code.secrets import CodeSecrets
    from corpusforge.stages.decontam.decontaminate import Decontaminate

    floor_s, nbytes, nfiles = read_and_hash_floor(repo_dirs)
    for _ in range(4):  # page cache warm for both sides; the best of five passes
        floor_s = min(floor_s, read_and_hash_floor(repo_dirs)[0])
    mb = nbytes / 1e6
    out: dict = {"files": nfiles, "mb": round(mb, 2), "floor_mb_s": round(mb / max(floor_s, 1e-9), 1)}

    reader = RepoReader(paths=repo_dirs)
    reader.setup()
    t0 = _cpu()
    docs = [d for p in repo_dirs for d in reader.read_counted(p)]
    out["reader_mb_s"] = round(mb / (_cpu() - t0), 1)

    # Each stage's best of PASSES passes over fresh copies, as the floor is its best pass: on a shared machine a
    # single pass measures the neighbours' load as much as the code (first-use costs are in the first pass).
    stage_cpu: dict[str, float] = {}
    for _ in range(PASSES):
        chain = [LicenseFilter(), CodeLanguage(), CodeBasicFilters(), OpenCoderRules()]
        for s in chain:
            s._ensure_ready()
        batch = [Document(d.id, d.text, d.source, dict(d.meta)) for d in docs]
        for s in chain:
            t0 = _cpu()
            batch = list(s.run(batch))
            stage_cpu[s.name] = min(stage_cpu.get(s.name, float("inf")), _cpu() - t0)
    chain_s = sum(stage_cpu.values())
    out["filter_chain_mb_s"] = round(mb / chain_s, 2)
    out["filter_chain_vs_floor"] = round((mb / chain_s) / out["floor_mb_s"], 4)
    out["filter_chain_docs_out"] = len(batch)
    out["per_stage_cpu_seconds"] = {name: round(v, 3) for name, v in stage_cpu.items()}
    out.update(filter_floors(docs, chain, mb, chain_s, out["floor_mb_s"]))
    peer = nemo_curator_chain(list(chain[1].run([Document(d.id, d.text, d.source, dict(d.meta)) for d in docs])))
    if peer:
        peer["mb_s"] = round(mb / peer.pop("cpu_seconds"), 2)
        peer["filter_chain_vs_nemo_curator"] = round(out["filter_chain_mb_s"] / peer["mb_s"], 2)
        out["nemo_curator_code_heuristics"] = peer

    # Later stages see what the chain kept; their rate is per MB they read.
    kept_mb = sum(len(d.text.encode()) for d in batch) / 1e6
    # The secrets stage without its pre-checks (same redactions, test_secrets_prechecks.py), on a copy.
    unchecked = CodeSecrets(prechecks=False)
    unchecked._ensure_ready()
    t0 = _cpu()
    for _ in unchecked.run([Document(d.id, d.text, d.source, dict(d.meta)) for d in batch]):
        pass
    out["code_secrets_without_prechecks_mb_s"] = round(kept_mb / (_cpu() - t0), 2)
    for stage in (
        CodeSecrets(),
        Decontaminate(
            benchmarks=[{"name": "humaneval", "path": humaneval}],
            mode="char",
            index_path=str(Path(humaneval).with_suffix(".idx.npz")),
        ),
        CodeQuality(),
    ):
        stage._ensure_ready()
        if hasattr(stage, "before_run"):
            stage.before_run(str(Path(humaneval).parent / "_bench_run"))
        t0 = _cpu()
        batch = list(stage.run(batch))
        out[f"{stage.name}_mb_s"] = round(kept_mb / (_cpu() - t0), 2)
    return out


def whole_lane(repo_dirs: list[str], humaneval: str, work: Path) -> dict:
    """code.yaml's stages through the runner, local engine, one worker: wall clock over the corpus."""
    import yaml

    from corpusforge.pipelines.engines.local import LocalEngine
    from corpusforge.pipelines.runner import run_pipeline
    from corpusforge.pipelines.schema import validate_pipeline

    data = yaml.safe_load((ROOT / "pipelines" / "configs" / "code.yaml").read_text())
    data["input"]["paths"], data["output"] = repo_dirs, str(work / "run")
    data["engine"] = {"type": "local", "workers": 1}
    for st in data["stages"]:
        if st["type"] == "decontaminate":
            st["benchmarks"][0]["path"] = humaneval
    t0 = time.perf_counter()
    result = run_pipeline(validate_pipeline(data), engine=LocalEngine(workers=1))
    wall = time.perf_counter() - t0
    mb = result.stages[0].bytes_in / 1e6
    return {
        "wall_seconds": round(wall, 1),
        "mb_s_wall": round(mb / wall, 2),
        "docs_in": result.stages[0].docs_in,
        "docs_out": result.stages[-1].docs_out,
    }


def license_agreement(sample_repos: str, skip_scancode: bool) -> dict:
    """Fast detector against ScanCode on the sample's and the venv's license files.

    `same_decision`: The Stack v2's keep/drop/no-license decision, ours from our ids and categories,
    ScanCode's as ScanCode reads its own output (`scancode_decision`: detections, not clues; its own
    license categories; OR as a choice; "See LICENSE" pointers ignored). `same_decision_flat_ids`: the
    older comparison, ScanCode's ids flattened and judged by our category table (ids it does not know
    count as non-permissive), kept so the two readings can be compared."""
    sample = [
        f
        for f in glob.glob(f"{sample_repos}/**/*", recursive=True)
        if os.path.isfile(f) and licenses.is_license_file(f) and ".git/" not in f
    ]
    venv = [
        f
        for f in glob.glob(str(SITE_PACKAGES / "*.dist-info" / "**" / "*"), recursive=True)
        if os.path.isfile(f) and licenses.is_license_file(f)
    ]
    out: dict = {"sample_files": len(sample), "venv_files": len(venv)}
    t0 = _cpu()
    ours = {f: licenses.classify(Path(f).read_text(encoding="utf-8", errors="replace")) for f in sample + venv}
    out["fast_files_per_s"] = round(len(ours) / (_cpu() - t0), 1)
    from corpusforge.stages.code.scancode import available, scancode_decision

    if skip_scancode or not available():
        out["scancode"] = "not installed"
        return out
    t0 = _cpu()
    theirs = {f: scancode_decision(Path(f).read_text(encoding="utf-8", errors="replace")) for f in sample + venv}
    out["scancode_files_per_s"] = round(len(theirs) / (_cpu() - t0), 1)
    for name, files in (("sample", sample), ("venv", venv)):
        n = max(len(files), 1)
        same = sum(ours[f] == theirs[f][1] for f in files)
        decision = sum(licenses.decide(ours[f])[0] == theirs[f][0] for f in files)
        flat = sum(licenses.decide(ours[f])[0] == licenses.decide(theirs[f][1])[0] for f in files)
        out[f"{name}_same_ids"] = f"{same}/{len(files)} ({same / n:.3f})"
        out[f"{name}_same_decision"] = f"{decision}/{len(files)} ({decision / n:.3f})"
        out[f"{name}_same_decision_flat_ids"] = f"{flat}/{len(files)} ({flat / n:.3f})"
        out[f"{name}_disagreements"] = [
            {
                "file": f.split("repos/")[-1].split("site-packages/")[-1],
                "fast": ours[f],
                "scancode": theirs[f][1],
                "scancode_decision": theirs[f][0],
            }
            for f in files
            if licenses.decide(ours[f])[0] != theirs[f][0]
        ]
    return out


def secrets_recall(sample_root: Path, planted: dict) -> dict:
    from corpusforge.stages.code.secrets import CodeSecrets

    acme = sample_root / "repos" / "acme-webapp"
    docs = [
        Document(str(p), p.read_text(encoding="utf-8", errors="replace"), "code", {"path": str(p.relative_to(acme))})
        for p in sorted(acme.rglob("*.py"))
        if p.is_file()
    ]
    stage = CodeSecrets()
    text = "\n".join(d.text for d in stage.run(docs))
    found = {k: (v.splitlines()[1] if k == "private_key" else v) not in text for k, v in planted["secrets"].items()}
    kept = {k: v in text for k, v in planted["non_secrets"].items()}
    return {
        "recall": f"{sum(found.values())}/{len(found)}",
        "missed": [k for k, v in found.items() if not v],
        "look_alikes_kept": f"{sum(kept.values())}/{len(kept)}",
        "look_alikes_changed": [k for k, v in kept.items() if not v],
        "redacted_by_type": stage.ledger.extra.get("secrets_redacted", {}),
    }


def _code_variant(text: str, target: float, vocab: list[str], rng: random.Random) -> tuple[str, float]:
    """A copy of a source file edited line by line (renamed names, changed or deleted lines) to about `target`."""
    lines = text.splitlines()
    base = shingle_sets([text], "code", 5)[0]
    edits = [
        (rng.randrange(max(len(lines), 1)), rng.random(), vocab[rng.randrange(len(vocab))], rng.random())
        for _ in range(len(lines))
    ]

    def apply(k: int) -> str:
        out = list(lines)
        for pos, kind, word, where in edits[:k]:
            pos = min(pos, len(out) - 1)
            if pos < 0:
                break
            if kind < 0.6:
                toks = out[pos].split()
                if toks:
                    toks[int(where * len(toks))] = word
                    out[pos] = " " * (len(out[pos]) - len(out[pos].lstrip())) + " ".join(toks)
            elif kind < 0.8:
                del out[pos]
            else:
                out.insert(pos, out[pos].replace("(", f"({word}, ", 1))
        return "\n".join(out)

    lo, hi = 0, len(edits)
    while lo < hi:
        mid = (lo + hi) // 2
        if jaccard(base, shingle_sets([apply(mid)], "code", 5)[0]) > target:
            lo = mid + 1
        else:
            hi = mid
    variant = apply(lo)
    return variant, jaccard(base, shingle_sets([variant], "code", 5)[0])


def near_dup_quality(work: Path, n_files: int = 400, n_planted: int = 120, seed: int = 0) -> dict:
    from corpusforge.pipelines.engines.local import LocalEngine
    from corpusforge.pipelines.runner import iter_output, run_pipeline
    from corpusforge.pipelines.schema import validate_pipeline

    rng = random.Random(seed)
    files = sorted(
        p for p in SITE_PACKAGES.rglob("*.py") if "__pycache__" not in p.parts and 2_000 < p.stat().st_size < 40_000
    )
    rng.shuffle(files)
    texts, seen = [], set()
    for p in files:
        t = p.read_text(encoding="utf-8", errors="replace")
        h = xxhash.xxh3_64_intdigest(t.encode())
        if h not in seen:
            seen.add(h)
            texts.append(t)
        if len(texts) >= n_files:
            break
    vocab = sorted({w for t in texts[:50] for w in t.split() if w.isidentifier()})
    planted_j = []
    for i in range(n_planted):
        target = 0.5 + 0.45 * i / max(n_planted - 1, 1)
        variant, j = _code_variant(texts[rng.randrange(n_files)], target, vocab, rng)
        texts.append(variant)
        planted_j.append(round(j, 3))
    docs = [Document(f"d{i:05d}", t, "code", {"repo": f"r{i}", "repo_files": 1}) for i, t in enumerate(texts)]
    storage.write_documents(str(work / "in" / "0.parquet"), docs)
    config = validate_pipeline(
        {
            "name": "code-near-dup",
            "output": str(work / "out"),
            "engine": {"type": "local", "workers": 1},
            "input": {"type": "parquet", "paths": [str(work / "in" / "0.parquet")]},
            "stages": [{"type": "fuzzy_dedup", "preset": "code", "keep": "repo", "partitions": 4}],
        }
    )
    t0 = time.perf_counter()
    run_pipeline(config, engine=LocalEngine(workers=1))
    wall = time.perf_counter() - t0
    kept = {d.id for d in iter_output(str(work / "out"))}
    removed = {i for i, d in enumerate(docs) if d.id not in kept}
    truth = exact_removed(texts, "code", 5, 0.7)
    p, r = precision_recall(removed, truth)
    hist: dict = {}
    for j in planted_j:
        key = f"{min(int(j * 20) / 20, 0.95):.2f}"
        hist[key] = hist.get(key, 0) + 1
    return {
        "documents": len(texts),
        "planted_variants": n_planted,
        "planted_jaccard_histogram": dict(sorted(hist.items())),
        "brute_force_removed": len(truth),
        "lsh_removed": len(removed),
        "precision": round(p, 4),
        "recall": round(r, 4),
        "wall_seconds": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=12.0, help="throughput corpus size in MB of files")
    ap.add_argument("--skip-scancode", action="store_true")
    ap.add_argument("--skip-lane", action="store_true", help="skip the whole-lane runner pass")
    ap.add_argument(
        "--licenses-only", action="store_true", help="measure license agreement only; keep the other reference figures"
    )
    args = ap.parse_args()
    os.environ.setdefault("CORPUSFORGE_PROGRESS", "0")
    out = ROOT / "benchmarks" / "reference" / "code_pipeline.json"
    if args.licenses_only:
        with tempfile.TemporaryDirectory() as tmp:
            write_code_sample(str(Path(tmp) / "sample"))
            agreement = license_agreement(str(Path(tmp) / "sample" / "repos"), args.skip_scancode)
        print(json.dumps(agreement, indent=2), flush=True)
        result = json.loads(out.read_text()) if out.exists() else {"benchmark": "code_pipeline"}
        result["license_agreement"] = agreement
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo_dirs, planted = build_corpus(work, args.mb)
        humaneval = str(work / "sample" / "eval" / "humaneval.jsonl")
        result = {
            "benchmark": "code_pipeline",
            "cpu": os.cpu_count(),
            "one_core": True,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        }
        result["throughput"] = throughput(repo_dirs, humaneval)
        print(json.dumps(result["throughput"], indent=2), flush=True)
        if not args.skip_lane:
            result["whole_lane"] = whole_lane(repo_dirs, humaneval, work)
            print(json.dumps(result["whole_lane"], indent=2), flush=True)
        result["secrets"] = secrets_recall(work / "sample", planted)
        print(json.dumps(result["secrets"], indent=2), flush=True)
        result["near_duplicates"] = near_dup_quality(work / "neardup")
        print(json.dumps(result["near_duplicates"], indent=2), flush=True)
        result["license_agreement"] = license_agreement(str(work / "sample" / "repos"), args.skip_scancode)
        print(json.dumps(result["license_agreement"], indent=2), flush=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
