"""End to end: blend spec -> counting pass and feasibility -> tokenize -> schedule -> Megatron shards + manifest.

Every expensive step leaves committed files under the work directory (token caches per source file,
shard plans) or the output (shards, the tokenizer), each with its `core.markers` marker, so a killed
export resumes where it stopped and a rerun of a finished export writes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from corpusforge.core import markers, storage
from corpusforge.core.config import ConfigError
from corpusforge.core.lease import Lease
from corpusforge.mixtures import manifest as mf
from corpusforge.mixtures.megatron_writer import TokenFile, read_index, write_indexed_dataset
from corpusforge.mixtures.scheduler import PhasePlan, SourceDocs, schedule
from corpusforge.mixtures.sources import TokenizeTask, cache_prefix, resolve_files, survey_file, tokenize_file
from corpusforge.mixtures.spec import BlendSpec, check_feasibility
from corpusforge.mixtures.tokenizer import (
    eod_id,
    load_tokenizer,
    save_tokenizer,
    token_dtype,
    tokenizer_sha256,
    train_bpe,
)
from corpusforge.pipelines.engines.base import Engine

log = logging.getLogger(__name__)

# Documents per file, and per source over all its files, tokenized to estimate tokens per byte
# before tokenizing everything (enough for a few percent; the exact check follows tokenizing).
ESTIMATE_SAMPLE = 128
ESTIMATE_SOURCE_SAMPLE = 4096
# Documents gathered per write when assembling a shard (bounds memory per task).
GATHER_CHUNK = 4096


@dataclass
class MixResult:
    """Where an export wrote its manifest and report, and the manifest itself."""

    output: str
    manifest_path: str
    report_path: str
    manifest: mf.MixManifest


@dataclass
class ShardTask:
    """Write one shard from its plan (an .npz of source/file/doc ids) and the token caches."""

    prefix: str
    plan_path: str
    caches: list[str]
    sources: list[str]
    dtype: str
    phase: str
    plan_digest: str


def run_mix(spec: BlendSpec, engine: Engine | None = None) -> MixResult:
    """Run a blend: validate against the data, tokenize, schedule and write shards, manifest and report.

    `engine` runs the tokenize and shard tasks; by default the one `spec.engine` names, started only
    if there is work (a finished export reruns without starting Spark or Ray). The export holds a lease
    on its output (`core.lease`): a second export to the same output is refused.
    """
    files = _resolve(spec)  # paths are checked before anything is written
    if spec.tokenizer.path is not None and not storage.exists(spec.tokenizer.path):
        raise ConfigError(f"tokenizer.path: {spec.tokenizer.path} does not exist")
    with Lease(spec.output, what=f"mix {spec.name}"):
        return _run_mix_leased(spec, engine, files)


def _run_mix_leased(spec: BlendSpec, engine: Engine | None, files: dict[str, list[str]]) -> MixResult:
    work = spec.work()
    # This export holds the output: temporaries there are a killed export's, never committed data.
    storage.sweep_temps(spec.output)
    if not work.startswith(spec.output.rstrip("/") + "/"):
        storage.sweep_temps(work)
    engine = _LazyEngine(spec, engine)
    surveys: dict[str, list] = {}

    def survey() -> dict[str, list]:
        # The counting pass runs only when something is left to tokenize or train.
        if not surveys:
            surveys.update(_survey(spec, files, engine))
        return surveys

    try:
        tok_path = _prepare_tokenizer(spec, files, survey)
        tok = load_tokenizer(tok_path)
        tok_sha = tokenizer_sha256(tok_path)
        try:
            eod = eod_id(tok, spec.tokenizer.eod_token)
        except KeyError as e:
            raise ConfigError(str(e.args[0])) from None
        # Parallel workers share the cores: each tokenizer thread pool gets its part.
        threads = max(1, (os.cpu_count() or 1) // spec.engine.workers) if spec.engine.workers > 1 else None
        tasks = [
            TokenizeTask(
                name,
                path,
                spec.sources[name].where.model_dump(mode="json"),
                tok_path,
                spec.tokenizer.eod_token,
                spec.tokenizer.batch_size,
                cache_prefix(work, name, path, spec.sources[name].where, tok_sha, spec.tokenizer.eod_token),
                threads,
            )
            for name in spec.sources
            for path in files[name]
        ]
        pending = [t for t in tasks if not markers.is_committed(t.prefix)]
        if pending:
            _check_estimate(spec, survey(), tok, eod)
            engine.map(tokenize_file, pending, desc="tokenize")
        caches = [t.prefix for t in tasks]
        sources = _load_sources(spec, tasks)
        check_feasibility(
            spec, {n: s.tokens for n, s in sources.items()}, {n: len(s.lengths) for n, s in sources.items()}
        )
        plans = schedule(spec, sources)
        shard_tasks = _shard_tasks(spec, plans, caches, token_dtype(tok.get_vocab_size()))
        engine.map(write_shard, [t for t in shard_tasks if not _shard_done(t)], desc="shards")
    finally:
        engine.close()
    shard_markers = {t.prefix: markers.committed(t.prefix) for t in shard_tasks}
    _remove_stale_shards(spec, set(shard_markers))
    manifest = _manifest(spec, plans, sources, files, shard_markers, tok, eod, tok_sha)
    from corpusforge.mixtures.report import write_report

    manifest.report = "report.html"
    report_path = write_report(spec.output, manifest)
    path = mf.write_mix_manifest(spec.output, manifest)
    manifest.root = spec.output
    for p in manifest.phases:
        if p.max_share_error > 0.005:
            log.warning(
                "phase %s: realised shares differ from the weights by up to %.2f points "
                "(documents are large relative to the phase budget)",
                p.name,
                100 * p.max_share_error,
            )
    return MixResult(spec.output, path, report_path, manifest)


class _LazyEngine:
    """The spec's engine, started on the first non-empty map; a given engine is used and left open."""

    def __init__(self, spec: BlendSpec, engine: Engine | None):
        self.spec, self.engine, self.owned = spec, engine, engine is None

    def map(self, fn, items: list, desc: str) -> list:
        if not items:
            return []
        if self.engine is None:
            from corpusforge.pipelines.engines.base import make_engine

            e = self.spec.engine
            self.engine = make_engine(e.type, e.workers, e.address, workdir=self.spec.work())
        return self.engine.map(fn, items, desc=desc)

    def close(self) -> None:
        if self.owned and self.engine is not None:
            self.engine.close()


def _resolve(spec: BlendSpec) -> dict[str, list[str]]:
    files, problems = {}, []
    for name, src in spec.sources.items():
        files[name] = resolve_files(src)
        if not files[name]:
            problems.append(f"sources.{name}.paths: no Parquet files match {src.paths}")
    if problems:
        raise ConfigError("blend cannot be satisfied:\n  " + "\n  ".join(problems))
    return files


def _survey(spec: BlendSpec, files: dict[str, list[str]], engine: _LazyEngine) -> dict[str, list]:
    """The counting pass, one engine task per source file: selected documents, bytes, a text sample."""
    per_source = {
        name: max(8, min(ESTIMATE_SAMPLE, ESTIMATE_SOURCE_SAMPLE // len(paths))) for name, paths in files.items()
    }
    n_files = sum(len(v) for v in files.values())
    train = -(-spec.tokenizer.train_sample_docs // n_files) if spec.tokenizer.train_vocab_size else 0
    items = [
        (path, spec.sources[name].where.model_dump(mode="json"), max(per_source[name], train), spec.seed)
        for name, paths in files.items()
        for path in paths
    ]
    results = iter(engine.map(survey_task, items, desc="count"))
    return {name: [next(results) for _ in paths] for name, paths in files.items()}


def survey_task(item: tuple[str, dict, int, int]):
    """Engine task: `survey_file` over one (path, selector, sample size, seed)."""
    path, where, sample, seed = item
    from corpusforge.mixtures.spec import Selector

    return survey_file(path, Selector.model_validate(where), sample, seed)


def _prepare_tokenizer(spec: BlendSpec, files: dict[str, list[str]], survey) -> str:
    """The tokenizer.json next to the manifest: copied from `tokenizer.path`, or trained on the survey sample."""
    target = storage.join(spec.output, "tokenizer.json")
    unit = storage.join(spec.output, "tokenizer")
    ts = spec.tokenizer
    if ts.path is not None:
        if not storage.exists(ts.path):
            raise ConfigError(f"tokenizer.path: {ts.path} does not exist")
        source = {"path": ts.path, "sha256": tokenizer_sha256(ts.path)}
    else:
        source = {
            "train_vocab_size": ts.train_vocab_size,
            "train_sample_docs": ts.train_sample_docs,
            "eod_token": ts.eod_token,
            "seed": spec.seed,
            "files": files,
        }
    if markers.committed(unit) == source and storage.exists(target):
        return target
    if ts.path is not None:
        storage.write_text(target, storage.read_text(ts.path))
    else:
        surveys = survey()
        per_file = -(-ts.train_sample_docs // sum(len(v) for v in files.values()))  # as many from every file
        sample = [t for name in surveys for s in surveys[name] for t in s.sample[:per_file]][: ts.train_sample_docs]
        if not sample:
            raise ConfigError("tokenizer.train_vocab_size: the sources hold no documents to train on")
        specials = [ts.eod_token] if ts.eod_token else []
        save_tokenizer(train_bpe(sample, ts.train_vocab_size, specials), target)
    markers.commit(unit, source)
    return target


def _check_estimate(spec: BlendSpec, surveys: dict[str, list], tok, eod: int | None) -> None:
    """Feasibility before tokenizing: tokens estimated from bytes and a tokenized sample per source.

    The ratio estimate (sample tokens / sample bytes) swings with a few long documents, so the
    decision uses its upper bound (estimate + 3 standard errors) and only a clear shortfall fails here.
    """
    available, upper, documents = {}, {}, {}
    for name, files in surveys.items():
        docs = sum(s.documents for s in files)
        text_bytes = sum(s.text_bytes for s in files)
        per_file = max(8, min(ESTIMATE_SAMPLE, ESTIMATE_SOURCE_SAMPLE // len(files)))
        sample = [t for s in files for t in s.sample[:per_file]]  # samples are in random order
        b = np.array([len(t.encode("utf-8", "surrogatepass")) for t in sample], dtype=np.float64)
        t = np.array([len(e.ids) for e in tok.encode_batch_fast(sample, add_special_tokens=False)], dtype=np.float64)
        ratio = t.sum() / b.sum() if len(b) and b.sum() else 0.0
        se = (np.sqrt(((t - ratio * b) ** 2).sum() / (len(b) * (len(b) - 1))) / b.mean()) if len(b) > 1 else ratio
        se *= np.sqrt(max(0.0, 1 - len(b) / docs)) if docs else 0.0  # finite population: a full sample is exact
        extra = docs if eod is not None else 0
        available[name] = int(text_bytes * ratio) + extra
        upper[name] = int(text_bytes * (ratio + 3 * se)) + extra
        documents[name] = docs
    check_feasibility(spec, available, documents, upper=upper)


def _load_sources(spec: BlendSpec, tasks: list[TokenizeTask]) -> dict[str, SourceDocs]:
    """Per source, every cached document's (file id, doc id, length), in file order."""
    parts: dict[str, list] = {name: [] for name in spec.sources}
    for fid, t in enumerate(tasks):
        _, lengths, _ = read_index(storage.read_bytes(t.prefix + ".idx"))
        # 12 bytes per document on the driver: Megatron's index keeps lengths as int32, and no file holds 2^31
        # documents (plans still write doc ids as int64).
        parts[t.source].append(
            (
                np.full(len(lengths), fid, dtype=np.int32),
                np.arange(len(lengths), dtype=np.int32),
                lengths.astype(np.int32),
            )
        )
    out = {}
    for name, p in parts.items():
        out[name] = SourceDocs(name, *(np.concatenate([x[i] for x in p]) for i in range(3)))
    return out


def _shard_tasks(spec: BlendSpec, plans: list[PhasePlan], caches: list[str], dtype: type) -> list[ShardTask]:
    out = []
    for plan in plans:
        for i, (a, b) in enumerate(plan.shard_bounds):
            rel = f"{plan.name}/shard_{i:05d}"
            arrays = plan.shard(a, b)
            del arrays["lengths"]  # the writer reads lengths from the token caches
            # A shard is reused only when exactly this plan over exactly these caches wrote it.
            h = hashlib.sha256(spec.digest().encode())
            for k in sorted(arrays):
                h.update(arrays[k].tobytes())
            for fid in np.unique(arrays["file_ids"]).tolist():
                h.update(caches[fid].encode())
            digest = h.hexdigest()[:16]
            plan_path = storage.join(spec.work(), "plans", rel + f"-{digest}.npz")
            if not storage.exists(plan_path):
                with storage.atomic_write(plan_path, "wb") as f:
                    np.savez(f, **arrays)
            out.append(
                ShardTask(
                    storage.join(spec.output, rel),
                    plan_path,
                    caches,
                    list(spec.sources),
                    np.dtype(dtype).name,
                    plan.name,
                    digest,
                )
            )
    return out


def _remove_stale_shards(spec: BlendSpec, current: set[str]) -> None:
    """Delete shards an earlier, different export left in this output's phase folders."""
    for phase in spec.phases:
        fs, folder = storage.filesystem(storage.join(spec.output, phase.name))
        if not fs.exists(folder):
            continue
        for path in fs.ls(folder, detail=False):
            name = path.rsplit("/", 1)[-1]
            prefix = storage.join(spec.output, phase.name, name.split(".", 1)[0])
            if name.startswith("shard_") and prefix not in current:
                fs.rm(path)


def _shard_done(task: ShardTask) -> bool:
    marker = markers.committed(task.prefix)
    return marker is not None and marker.get("plan_digest") == task.plan_digest


def write_shard(task: ShardTask) -> dict:
    """Assemble one shard from the token caches and commit it (.bin, .idx, then the marker)."""
    with storage.open_file(task.plan_path, "rb") as f:
        plan = np.load(f)
        sids, fids, dids = plan["source_ids"], plan["file_ids"], plan["doc_ids"]
    files: dict[int, TokenFile] = {}

    def chunks():
        for start in range(0, len(dids), GATHER_CHUNK):
            f, d = fids[start : start + GATHER_CHUNK], dids[start : start + GATHER_CHUNK]
            docs: list = [None] * len(d)
            # One batched read per cache file (ranged and coalesced on object stores), then back in plan order.
            for fid in np.unique(f).tolist():
                if fid not in files:
                    files[fid] = TokenFile(task.caches[fid])
                where = np.flatnonzero(f == fid)
                for i, tokens in zip(where.tolist(), files[fid].read(d[where].tolist())):
                    docs[i] = tokens
            lengths = np.fromiter((len(x) for x in docs), dtype=np.int64, count=len(docs))
            yield lengths, np.concatenate(docs) if docs else np.zeros(0, dtype=task.dtype)

    tokens_by_source: Counter = Counter()
    docs_by_source: Counter = Counter()
    try:
        lengths = _plan_lengths(files, task, fids, dids)
        for s, n in zip(sids.tolist(), lengths.tolist()):
            tokens_by_source[task.sources[s]] += n
            docs_by_source[task.sources[s]] += 1
        written = write_indexed_dataset(
            task.prefix,
            chunks(),
            np.dtype(task.dtype).type,
            marker={
                "phase": task.phase,
                "plan_digest": task.plan_digest,
                "tokens_by_source": dict(sorted(tokens_by_source.items())),
                "documents_by_source": dict(sorted(docs_by_source.items())),
            },
        )
    finally:
        for tf in files.values():
            tf.close()
    return written.__dict__


def _plan_lengths(files: dict[int, TokenFile], task: ShardTask, fids: np.ndarray, dids: np.ndarray) -> np.ndarray:
    out = np.zeros(len(dids), dtype=np.int64)
    for fid in np.unique(fids).tolist():
        if fid not in files:
            files[fid] = TokenFile(task.caches[fid])
        sel = fids == fid
        out[sel] = files[fid].lengths[dids[sel]]
    return out


def _manifest(
    spec: BlendSpec,
    plans: list[PhasePlan],
    sources: dict[str, SourceDocs],
    files: dict[str, list[str]],
    shard_markers: dict[str, dict | None],
    tok,
    eod: int | None,
    tok_sha: str,
) -> mf.MixManifest:
    names = list(spec.sources)
    requested = spec.requested_tokens()
    phases = []
    used_tokens: Counter = Counter()
    used_docs: Counter = Counter()
    for plan, phase in zip(plans, spec.phases):
        shards = []
        for i in range(len(plan.shard_bounds)):
            rel = f"{plan.name}/shard_{i:05d}"
            m = shard_markers[storage.join(spec.output, rel)]
            if m is None:
                raise RuntimeError(f"shard {rel} was not committed")
            shards.append(
                mf.ShardEntry(
                    prefix=rel,
                    phase=plan.name,
                    tokens=m["tokens"],
                    documents=m["documents"],
                    tokens_by_source=m["tokens_by_source"],
                    documents_by_source=m["documents_by_source"],
                    bin_bytes=m["bin_bytes"],
                    bin_sha256=m["bin_sha256"],
                    idx_bytes=m["idx_bytes"],
                    idx_sha256=m["idx_sha256"],
                )
            )
        tokens = {n: sum(s.tokens_by_source.get(n, 0) for s in shards) for n in names}
        docs = {n: sum(s.documents_by_source.get(n, 0) for s in shards) for n in names}
        total = sum(tokens.values())
        weights = spec.weights(phase)
        shares = {n: (tokens[n] / total if total else 0.0) for n in names}
        used_tokens.update(tokens)
        used_docs.update(docs)
        phases.append(
            mf.PhaseEntry(
                name=plan.name,
                planned_tokens=plan.planned_tokens,
                tokens=total,
                documents=sum(docs.values()),
                weights=weights,
                shares=shares,
                tokens_by_source=tokens,
                documents_by_source=docs,
                max_share_error=max(abs(shares[n] - weights[n]) for n in names),
                shards=shards,
            )
        )
    source_entries = [
        mf.SourceEntry(
            name=n,
            files=files[n],
            documents=len(sources[n].lengths),
            tokens=sources[n].tokens,
            requested_tokens=round(sum(requested[n].values())),
            used_tokens=used_tokens[n],
            used_documents=used_docs[n],
            epochs=used_tokens[n] / sources[n].tokens if sources[n].tokens else 0.0,
            max_epochs=spec.sources[n].max_epochs,
        )
        for n in names
    ]
    vocab = tok.get_vocab_size()
    return mf.MixManifest(
        name=spec.name,
        seed=spec.seed,
        spec_digest=spec.digest(),
        token_budget=spec.token_budget,
        tokens=sum(p.tokens for p in phases),
        documents=sum(p.documents for p in phases),
        shard_tokens=spec.shard_tokens,
        tokenizer=mf.TokenizerInfo(
            path="tokenizer.json", sha256=tok_sha, vocab_size=vocab, eod_id=eod, dtype=np.dtype(token_dtype(vocab)).name
        ),
        sources=source_entries,
        phases=phases,
    )
