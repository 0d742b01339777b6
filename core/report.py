"""Human reports: one self-contained HTML page per run, with plots where they say more than tables.

Other parts (mixtures, trainer, decontamination) build their pages from the same pieces:
`figure_html`, `table_html` and `page_html`.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from corpusforge.core import storage

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.bad{color:#b00;font-weight:bold} .ok{color:#070} h2{margin-top:1.6em}
"""


def figure_html(fig) -> str:
    """A matplotlib figure as an inline PNG <img> (the page stays one file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def table_html(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """An HTML table; cells are escaped."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def page_html(title: str, sections: list[tuple[str, str]]) -> str:
    """A whole page from (heading, html) sections."""
    body = "".join(f"<h2>{html.escape(h)}</h2>{content}" for h, content in sections)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _funnel(stages: list[dict]) -> str:
    names = [s["name"] for s in stages]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.2))
    ax.barh(names[::-1], [s["docs_out"] for s in stages][::-1], color="#4878a8", label="kept")
    ax.barh(
        names[::-1],
        [s["docs_dropped"] for s in stages][::-1],
        left=[s["docs_out"] for s in stages][::-1],
        color="#d98b5f",
        label="dropped",
    )
    ax.set_xlabel("documents")
    ax.legend(loc="lower right")
    ax.set_title("Documents kept and dropped per stage")
    return figure_html(fig)


def _drop_reasons(stages: list[dict]) -> str:
    rows = [
        (s["name"], reason, n, s["dropped_bytes"].get(reason, 0)) for s in stages for reason, n in s["dropped"].items()
    ]
    if not rows:
        return "<p>No document was dropped.</p>"
    return table_html(["stage", "reason", "documents", "bytes"], rows)


def _histograms(stages: list[dict]) -> list[tuple[str, str]]:
    sections = []
    for s in stages:
        for key, value in s.get("extra", {}).items():
            if isinstance(value, dict) and value and all(isinstance(v, (int, float)) for v in value.values()):
                fig, ax = plt.subplots(figsize=(8, 2.6))
                labels = sorted(value, key=lambda k: (len(k), k))
                ax.bar(labels, [value[k] for k in labels], color="#4878a8")
                ax.set_title(f"{s['name']}: {key}")
                ax.tick_params(axis="x", labelrotation=60, labelsize=8)
                sections.append((f"{s['name']} — {key}", figure_html(fig)))
            elif _is_nested_histogram(value):
                sections.append((f"{s['name']} — {key}", _grouped_bars(f"{s['name']}: {key}", value)))
            elif isinstance(value, dict) and value:
                rows = [(k, v if isinstance(v, (int, float, str)) else str(v)[:200]) for k, v in value.items()]
                sections.append((f"{s['name']} — {key}", table_html(["key", "value"], rows)))
    return sections


def _is_nested_histogram(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(
            isinstance(v, dict) and v and all(isinstance(x, (int, float)) for x in v.values()) for v in value.values()
        )
    )


def _grouped_bars(title: str, groups: dict[str, dict[str, float]]) -> str:
    """One bar series per group (e.g. the quality bucket histogram per source)."""
    labels = sorted({k for g in groups.values() for k in g}, key=lambda k: (len(k), k))
    fig, ax = plt.subplots(figsize=(9, 2.8))
    width = 0.8 / len(groups)
    for i, (name, hist) in enumerate(sorted(groups.items())):
        ax.bar([x + i * width for x in range(len(labels))], [hist.get(k, 0) for k in labels], width, label=name)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(labels))], labels, fontsize=8)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return figure_html(fig)


def run_report_html(stats: dict) -> str:
    """The run report: summary, ledger, funnel, drop reasons and each stage's own numbers."""
    stages = stats["stages"]
    balanced = (
        "<span class='ok'>every stage balances</span>"
        if stats.get("balanced")
        else "<span class='bad'>a stage does not balance: docs in != out + dropped</span>"
    )
    summary = (
        table_html(
            ["pipeline", "engine", "tasks", "wall seconds", "docs read", "docs written"],
            [
                [
                    stats.get("pipeline", ""),
                    stats.get("engine", ""),
                    stats.get("tasks", 0),
                    stats.get("wall_seconds", 0.0),
                    stages[0]["docs_in"] if stages else 0,
                    stages[-1]["docs_out"] if stages else 0,
                ]
            ],
        )
        + f"<p>{balanced}</p>"
    )
    ledger = table_html(
        ["stage", "docs in", "docs out", "dropped", "MB in", "MB out", "seconds", "docs/s"],
        [
            [
                s["name"],
                s["docs_in"],
                s["docs_out"],
                s["docs_dropped"],
                s["bytes_in"] / 1e6,
                s["bytes_out"] / 1e6,
                s["seconds"],
                (s["docs_in"] / s["seconds"]) if s["seconds"] else 0.0,
            ]
            for s in stages
        ],
    )
    scalars = [
        (s["name"], k, v) for s in stages for k, v in s.get("extra", {}).items() if isinstance(v, (int, float, str))
    ]
    sections = [
        ("Summary", summary),
        ("Ledger", ledger),
        ("Funnel", _funnel(stages) if stages else ""),
        ("Drop reasons", _drop_reasons(stages)),
    ]
    if scalars:
        sections.append(("Stage figures", table_html(["stage", "figure", "value"], scalars)))
    sections += _histograms(stages)
    return page_html(f"corpusforge run report — {stats.get('pipeline', '')}", sections)


def write_run_report(output: str, stats: dict) -> str:
    """Write `<output>/report.html`; returns its path."""
    path = storage.join(output, "report.html")
    storage.write_text(path, run_report_html(stats))
    return path
