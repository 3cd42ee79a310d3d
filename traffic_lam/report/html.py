"""One-page HTML report: summary table and the plots, next to the run's results."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from traffic_lam.files import atomic_write_text
from traffic_lam.metrics.catalog import METRICS
from traffic_lam.metrics.declaration import Metric
from traffic_lam.report.summary import best, controllers_in, episodes_of, stat, summary_metrics

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; background: #e8f5e9; }
img { max-width: 100%; margin: 1em 0; border: 1px solid #eee; }
.meta { color: #666; }
"""


def write_report(
    path: Path,
    rows: Sequence[dict[str, Any]],
    plots: Sequence[Path],
    title: str,
    notes: Sequence[str] = (),
    metrics: Iterable[Metric] = METRICS,
) -> Path:
    """Write ``report.html``: a table of mean ± std per controller (best per column marked) and the plots.

    Args:
        path: the HTML file to write.
        rows: episode rows.
        plots: PNG files to show (relative links from ``path``'s folder).
        title: page title.
        notes: extra lines under the introduction.
        metrics: the declarations of the table's columns (those ``in_summary`` that the rows
            have); the best cell of a column is its minimum or maximum by the metric's ``better``.

    """
    images = "\n".join(_figure(p, path.parent) for p in plots)
    network = ", ".join(sorted({str(r.get("network")) for r in rows})) or "–"
    note_html = "".join(f"<p class='meta'>{html.escape(n)}</p>" for n in notes)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">network: {html.escape(network)} · {len(rows)} episodes · values are mean ± std over episodes;
the best value of each column is highlighted. Delay follows the RESCO definition (timeLoss + departDelay,
unfinished and never-inserted vehicles included).</p>
{note_html}
{_table(rows, metrics)}
{images}
<p class="meta">Raw data: <a href="results.csv">results.csv</a> ·
scenario: <a href="scenario.yaml">scenario.yaml</a></p>
</body></html>
"""
    atomic_write_text(path, page)
    return path


def _table(rows: Sequence[dict[str, Any]], metrics: Iterable[Metric]) -> str:
    """The summary as an HTML table; each column's best cell (by its metric's ``better``) has class ``best``."""
    controllers = controllers_in(rows)
    shown = summary_metrics(rows, metrics)
    head = "".join(
        f'<th title="{html.escape(f"{m.description} ({m.better} is better)".strip())}">{html.escape(m.heading)}</th>'
        for m in shown
    )
    winners = [best(rows, m, controllers) for m in shown]
    lines = [f"<table><tr><th>controller</th><th>episodes</th>{head}</tr>"]
    for controller in controllers:
        cells = "".join(
            f'<td class="{"best" if controller in won else ""}">{html.escape(str(stat(rows, controller, m.name)))}</td>'
            for m, won in zip(shown, winners, strict=True)
        )
        n = episodes_of(rows, controller)
        lines.append(f"<tr><td>{html.escape(controller)}</td><td>{n}</td>{cells}</tr>")
    return "\n".join([*lines, "</table>"])


def _figure(image: Path, folder: Path) -> str:
    src = html.escape(image.relative_to(folder).as_posix())
    name = html.escape(image.stem.replace("_", " "))
    return f'<h2>{name}</h2><img src="{src}" alt="{name}">'
