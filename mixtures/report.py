"""The mix report: planned against realised mixture per phase (table and chart), epochs per source."""

from __future__ import annotations

import html
import io

from corpusforge.core import storage
from corpusforge.mixtures.manifest import MixManifest


def mixture_chart_svg(manifest: MixManifest) -> str:
    """Grouped bars per phase: requested weight beside realised share, for every source (inline SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "corpusforge"  # stable element ids: reproducible report
    import matplotlib.pyplot as plt

    names = [s.name for s in manifest.sources]
    phases = manifest.phases
    fig, axes = plt.subplots(
        1, len(phases), figsize=(max(4.0, 1.2 * len(names)) * len(phases), 3.6), squeeze=False, sharey=True
    )
    width = 0.4
    for ax, phase in zip(axes[0], phases):
        x = range(len(names))
        ax.bar(
            [i - width / 2 for i in x], [100 * phase.weights[n] for n in names], width, label="planned", color="#9ab"
        )
        ax.bar(
            [i + width / 2 for i in x], [100 * phase.shares[n] for n in names], width, label="realised", color="#246"
        )
        ax.set_xticks(list(x), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{phase.name}: {phase.tokens:,} tokens", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("% of phase tokens")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})  # no date: the report is reproducible
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def render_report(manifest: MixManifest) -> str:
    """The report as one self-contained HTML page."""
    e = html.escape
    rows = []
    for p in manifest.phases:
        for s in manifest.sources:
            err = p.shares[s.name] - p.weights[s.name]
            flag = ' class="bad"' if abs(err) > 0.005 else ""
            rows.append(
                f"<tr><td>{e(p.name)}</td><td>{e(s.name)}</td><td>{100 * p.weights[s.name]:.2f}</td>"
                f"<td>{100 * p.shares[s.name]:.2f}</td><td{flag}>{100 * err:+.3f}</td>"
                f"<td>{p.tokens_by_source[s.name]:,}</td><td>{p.documents_by_source[s.name]:,}</td></tr>"
            )
    phase_rows = "".join(
        f"<tr><td>{e(p.name)}</td><td>{p.planned_tokens:,}</td><td>{p.tokens:,}</td><td>{p.documents:,}</td>"
        f"<td>{len(p.shards)}</td><td>{100 * p.max_share_error:.3f}</td></tr>"
        for p in manifest.phases
    )
    source_rows = "".join(
        f"<tr><td>{e(s.name)}</td><td>{s.documents:,}</td><td>{s.tokens:,}</td><td>{s.requested_tokens:,}</td>"
        f"<td>{s.used_tokens:,}</td><td{' class=bad' if s.epochs > s.max_epochs + 1e-9 else ''}>{s.epochs:.3f}</td>"
        f"<td>{s.max_epochs:g}</td><td>{len(s.files)}</td></tr>"
        for s in manifest.sources
    )
    t = manifest.tokenizer
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>mix report — {e(manifest.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
td:first-child, th:first-child, td:nth-child(2) {{ text-align: left; }}
.bad {{ background: #fdd; }}
</style></head><body>
<h1>Mixture report: {e(manifest.name)}</h1>
<p>{manifest.tokens:,} tokens in {manifest.documents:,} documents (budget {manifest.token_budget:,}),
seed {manifest.seed},
spec {e(manifest.spec_digest)}; tokenizer vocabulary {t.vocab_size:,} ({e(t.dtype)}), EOD id {t.eod_id}.</p>
<h2>Phases</h2>
<table><tr><th>phase</th><th>planned tokens</th><th>tokens</th><th>documents</th><th>shards</th>
<th>max share error (points)</th></tr>{phase_rows}</table>
<h2>Planned against realised mixture</h2>
{mixture_chart_svg(manifest)}
<table><tr><th>phase</th><th>source</th><th>planned %</th><th>realised %</th><th>error (points)</th>
<th>tokens</th><th>documents</th></tr>{"".join(rows)}</table>
<h2>Sources and epochs</h2>
<table><tr><th>source</th><th>documents</th><th>unique tokens</th><th>requested tokens</th><th>used tokens</th>
<th>epochs used</th><th>max epochs</th><th>files</th></tr>{source_rows}</table>
</body></html>
"""


def write_report(output: str, manifest: MixManifest) -> str:
    """Write report.html under the export's output; returns its path."""
    path = storage.join(output, "report.html")
    storage.write_text(path, render_report(manifest))
    return path
