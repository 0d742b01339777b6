"""Mixture ablations, RegMix style (Liu et al. 2024, "RegMix: Data Mixture as Regression for Language Model
Pre-training"): train many small proxies on Dirichlet-sampled mixture weights, regress validation loss on the
weights, and recommend the mixture the regression predicts best (the mean of the top predicted candidates).

Every proxy is an ordinary resumable `train` run under `<out_dir>/proxies/`, so a killed study picks up where it
stopped. Results land in `<out_dir>/study.json` and `<out_dir>/report.html`.
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from corpusforge.core import storage
from corpusforge.trainer.study import StudySource, StudySpec
from corpusforge.trainer.train import TrainConfig, TrainResult, train


@dataclass
class StudyResult:
    """Proxies' mixtures and losses, the fitted regression's quality and the recommended mixture."""

    names: list[str]
    weights: list[list[float]]
    target: list[float]
    val_losses: list[dict[str, float]]
    cv_predicted: list[float]
    regression: str
    spearman: float
    mae: float
    recommended: dict[str, float]
    predicted_loss: float
    best_observed: int
    report_path: str = ""
    curves: list[list[tuple[int, float]]] = field(default_factory=list)


def resolve_sources(spec: StudySpec) -> list[tuple[str, list[str]]]:
    """(name, shard prefixes) per source; a `blend` is first exported into one shard set per source."""
    sources = spec.sources or export_sources(spec)
    out = []
    for s in sources:
        if s.manifest:
            from corpusforge.mixtures.manifest import load_mix_manifest

            out.append((s.name, load_mix_manifest(s.manifest).prefixes()))
        else:
            out.append((s.name, list(s.prefixes)))
    return out


def export_sources(spec: StudySpec) -> list[StudySource]:
    """Per-source shards from a blend spec, all with the blend's tokenizer (the blend is exported first if needed)."""
    from corpusforge.mixtures.export import run_mix
    from corpusforge.mixtures.manifest import load_mix_manifest, manifest_path
    from corpusforge.mixtures.spec import load_blend, validate_blend

    assert spec.blend is not None  # StudySpec holds `sources` or a `blend`; this runs only without sources
    blend = load_blend(spec.blend)
    if not storage.exists(manifest_path(blend.output)):
        run_mix(blend)
    full = load_mix_manifest(blend.output)
    base = blend.model_dump(mode="json")
    out = []
    for entry in full.sources:
        data = dict(
            base,
            name=f"{spec.name}-{entry.name}",
            output=storage.join(spec.out_dir, "sources", entry.name),
            work_dir=None,
            token_budget=min(spec.tokens_per_source, entry.tokens),
            sources={entry.name: base["sources"][entry.name]},
            phases=[{"name": "all", "fraction": 1.0, "weights": {entry.name: 1.0}}],
            tokenizer={**base["tokenizer"], "path": full.tokenizer_path(), "train_vocab_size": None},
        )
        run_mix(validate_blend(data, f"{spec.blend} (source {entry.name})"))
        out.append(StudySource(name=entry.name, manifest=data["output"]))
    return out


def sample_mixtures(spec: StudySpec, n_sources: int, priors: np.ndarray, count: int, rng) -> np.ndarray:
    """`count` mixtures from Dirichlet(alpha * n * prior): alpha 1 with equal priors is uniform on the simplex."""
    concentration = spec.dirichlet_alpha * n_sources * priors / priors.sum()
    return rng.dirichlet(concentration, size=count)


def proxy_mixtures(spec: StudySpec, priors: np.ndarray) -> np.ndarray:
    """The mixtures the proxies train on: equal weights first (if asked), then Dirichlet samples."""
    rng = np.random.default_rng(spec.seed)
    n = len(priors)
    fixed = [np.full(n, 1.0 / n)] if spec.include_uniform else []
    drawn = sample_mixtures(spec, n, priors, spec.proxies - len(fixed), rng)
    return np.vstack(fixed + [drawn]) if fixed else drawn


CV_FOLDS = 10


def features(weights: np.ndarray) -> np.ndarray:
    """Weights and their logs: loss is close to linear in log-share for a source's own domain (data mixing laws)."""
    return np.hstack([weights, np.log(weights + 1e-3)])


def fit_regression(kind: str, weights: np.ndarray, target: np.ndarray):
    """A fitted model mapping mixture weights to target loss, and its cross-validated (held-out) predictions."""
    from sklearn.base import clone
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "auto":
        kind = "gbm" if len(target) >= 24 else "ridge"
    if kind == "gbm":
        model = GradientBoostingRegressor(
            n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=0
        )
    else:
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-4, 3, 30)))
    x = features(weights)
    # Held-out predictions: leave-one-out up to CV_FOLDS proxies, then CV_FOLDS-fold (RegMix's 512 proxies would
    # otherwise cost 512 refits of the boosted trees).
    folds = KFold(n_splits=min(len(target), CV_FOLDS), shuffle=True, random_state=0)
    held_out = cross_val_predict(clone(model), x, target, cv=folds)
    return model.fit(x, target), held_out, kind


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (no ties expected among float losses)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1]) if len(a) > 1 and ra.std() and rb.std() else 0.0


def train_all(configs: list[TrainConfig], devices: list[str], done=lambda n: None) -> list[TrainResult]:
    """Train every proxy, in order, or concurrently with one worker process per device; results in config order.

    Each proxy is an ordinary resumable run, so which worker trains it changes nothing but the wall time (on CPU
    the losses are bit-identical to a sequential study; the test checks it).
    """
    if len(devices) <= 1:
        sequential: list[TrainResult] = []
        for cfg in configs:
            sequential.append(train(cfg.model_copy(update={"device": devices[0]}) if devices else cfg))
            done(1)
        return sequential
    context = multiprocessing.get_context("spawn")  # CUDA cannot be used in forked children
    free = context.Queue()
    for device in devices:
        free.put(device)
    results: list[TrainResult | None] = [None] * len(configs)
    with ProcessPoolExecutor(len(devices), mp_context=context, initializer=_claim_device, initargs=(free,)) as pool:
        futures = {pool.submit(_train_on_claimed, cfg): i for i, cfg in enumerate(configs)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            done(1)
    return cast(list[TrainResult], results)  # as_completed yielded every future: no slot is still None


_claimed: dict[str, str] = {}


def _claim_device(free) -> None:
    # Each worker takes one device for its lifetime, so two proxies never share a GPU.
    _claimed["device"] = free.get()


def _train_on_claimed(cfg: TrainConfig) -> TrainResult:
    return train(cfg.model_copy(update={"device": _claimed["device"]}))


@dataclass
class StudyPlan:
    """What a study trains: its sources (names), Dirichlet priors, the sampled mixtures and one config per proxy."""

    names: list[str]
    priors: list[float]
    mixtures: list[list[float]]
    configs: list[TrainConfig]

    def to_json(self) -> dict:
        return {
            "names": self.names,
            "priors": self.priors,
            "mixtures": self.mixtures,
            "configs": [c.model_dump(mode="json") for c in self.configs],
        }

    @classmethod
    def from_json(cls, data: dict) -> StudyPlan:
        return cls(
            data["names"], data["priors"], data["mixtures"], [TrainConfig.model_validate(c) for c in data["configs"]]
        )


def plan_study(spec: StudySpec) -> StudyPlan:
    """Resolve (or export) the sources and sample the proxies' mixtures; proxy i trains under proxies/proxy_<i>."""
    sources = resolve_sources(spec)
    names = [n for n, _ in sources]
    priors = np.array([next((s.prior for s in spec.sources if s.name == n), 1.0) for n in names])
    mixtures = proxy_mixtures(spec, priors)
    configs = [
        TrainConfig.model_validate(
            {
                "progress": False,
                **spec.train,
                "sources": [{"name": n, "prefixes": p, "weight": float(wi)} for (n, p), wi in zip(sources, w)],
                "out_dir": storage.join(spec.out_dir, "proxies", f"proxy_{i:03d}"),
            }
        )
        for i, w in enumerate(mixtures)
    ]
    return StudyPlan(names, priors.tolist(), mixtures.tolist(), configs)


def finish_study(spec: StudySpec, plan: StudyPlan, results: list[TrainResult]) -> StudyResult:
    """Fit the regression on the proxies' losses, recommend a mixture, write study.json and report.html."""
    names, mixtures, priors = plan.names, np.array(plan.mixtures), np.array(plan.priors)
    target_w = np.array([spec.target.get(n, 0.0) for n in names]) if spec.target else np.ones(len(names))
    target_w = target_w / target_w.sum()
    val = [r.val_losses for r in results]
    target = np.array([sum(t * v[n] for t, n in zip(target_w, names)) for v in val])
    model, held_out, kind = fit_regression(spec.regression, mixtures, target)
    rng = np.random.default_rng(spec.seed + 1)
    candidates = np.vstack([mixtures, sample_mixtures(spec, len(names), priors, spec.candidates, rng)])
    predicted = model.predict(features(candidates))
    best = candidates[np.argsort(predicted)[: spec.top_average]].mean(0)
    best = best / best.sum()
    result = StudyResult(
        names=names,
        weights=mixtures.tolist(),
        target=target.tolist(),
        val_losses=val,
        cv_predicted=held_out.tolist(),
        regression=kind,
        spearman=spearman(held_out, target),
        mae=float(np.abs(held_out - target).mean()),
        recommended={n: float(x) for n, x in zip(names, best)},
        predicted_loss=float(model.predict(features(best[None]))[0]),
        best_observed=int(np.argmin(target)),
        curves=[[(h["step"], h["loss"]) for h in r.history if "loss" in h] for r in results],
    )
    result.report_path = storage.join(spec.out_dir, "report.html")
    storage.write_text(storage.join(spec.out_dir, "study.json"), json.dumps(result.__dict__, indent=1))
    storage.write_text(result.report_path, render_report(spec, result, target_w))
    return result


def run_study(spec: StudySpec) -> StudyResult:
    """Train every proxy (resuming finished ones), fit, recommend, and write study.json and report.html."""
    from tqdm.auto import tqdm

    plan = plan_study(spec)
    progress = tqdm(total=len(plan.configs), desc=f"proxies ({spec.name})", unit="proxy")
    results = train_all(plan.configs, spec.devices, progress.update)
    progress.close()
    return finish_study(spec, plan, results)


def recommended_blend(spec: StudySpec, result: StudyResult) -> dict | None:
    """The study's blend with one phase at the recommended weights (a spec `corpusforge mix` runs); None when the
    study names shards rather than a blend."""
    if not spec.blend:
        return None
    from corpusforge.mixtures.spec import load_blend

    blend = load_blend(spec.blend).model_dump(mode="json", exclude_none=True)
    blend.update(
        name=f"{blend['name']}-recommended",
        output=storage.join(spec.out_dir, "recommended_mix"),
        phases=[{"name": "recommended", "fraction": 1.0, "weights": result.recommended}],
    )
    return blend


def render_report(spec: StudySpec, r: StudyResult, target_w: np.ndarray) -> str:
    """One self-contained HTML page: recommendation, loss curves, predicted-against-observed fit, per-source losses."""
    import matplotlib.pyplot as plt

    from corpusforge.core.report import figure_html, page_html, table_html

    target = np.array(r.target)
    cmap = plt.get_cmap("viridis")
    norm = plt.Normalize(target.min(), target.max() if target.max() > target.min() else target.min() + 1e-9)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, curve in enumerate(r.curves):
        if curve:
            steps, losses = zip(*curve)
            axes[0].plot(steps, losses, color=cmap(norm(target[i])), lw=1)
    axes[0].set(xlabel="step", ylabel="training loss", title="Proxy loss curves (colour: target val loss)")
    axes[1].scatter(r.cv_predicted, target, c=target, cmap=cmap, norm=norm)
    lo, hi = min(target.min(), min(r.cv_predicted)), max(target.max(), max(r.cv_predicted))
    axes[1].plot([lo, hi], [lo, hi], "k--", lw=1)
    axes[1].set(
        xlabel="predicted (held out)",
        ylabel="observed target loss",
        title=f"{r.regression} fit: Spearman {r.spearman:.2f}, MAE {r.mae:.3f}",
    )
    curves = figure_html(fig)
    n = len(r.names)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3), squeeze=False)
    w = np.array(r.weights)
    for j, name in enumerate(r.names):
        axes[0][j].scatter(w[:, j], [v[name] for v in r.val_losses], s=14)
        axes[0][j].set(xlabel=f"weight of {name}", ylabel="val loss" if j == 0 else "", title=f"val/{name}")
    per_source = figure_html(fig)
    header = (
        ["proxy"] + [f"w[{n}]" for n in r.names] + [f"val/{n}" for n in r.names] + ["target", "predicted (held out)"]
    )
    rows = [
        [f"#{i}" + (" (best)" if i == r.best_observed else "")]
        + [f"{x:.3f}" for x in r.weights[i]]
        + [f"{r.val_losses[i][n]:.4f}" for n in r.names]
        + [f"{r.target[i]:.4f}", f"{r.cv_predicted[i]:.4f}"]
        for i in range(len(r.target))
    ]
    target_text = " + ".join(f"{t:.2f} x val/{n}" for n, t in zip(r.names, target_w) if t > 0)
    summary = (
        f"<p>{len(r.target)} proxies ({spec.train.get('preset', 'proxy-10m')}, "
        f"{spec.train.get('max_steps', 500)} steps each) on Dirichlet(alpha={spec.dirichlet_alpha}) mixtures; "
        f"target = {target_text}. Regression: {r.regression} on weights and log-weights (RegMix).</p>"
    )
    recommended = table_html(["source", "weight"], [[n, f"{x:.3f}"] for n, x in r.recommended.items()])
    recommended += (
        f"<p>Predicted target loss {r.predicted_loss:.4f}; best observed proxy #{r.best_observed} "
        f"({r.target[r.best_observed]:.4f}).</p>"
    )
    return page_html(
        f"Mixture study: {spec.name}",
        [
            ("Study", summary),
            ("Recommended mixture", recommended),
            ("Loss curves and predicted against observed", curves),
            ("Per-source validation loss against that source's weight", per_source),
            ("Proxies", table_html(header, rows)),
        ],
    )
