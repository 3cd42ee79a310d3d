"""One-page HTML report: summary table and the plots, next to the run's results."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from traffic_lam.files import atomic_write_text
from traffic_lam.report.summary import SUMMARY_METRICS, controllers_in, stat

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
    path: Path, rows: Sequence[dict[str, Any]], plots: Sequence[Path], title: str, notes: Sequence[str] = ()
) -> Path:
    """Write ``report.html``: a table of mean ± std per controller (best per column marked) and the plots."""
    controllers = controllers_in(rows)
    metrics = [(c, label, better) for c, label, better in SUMMARY_METRICS if any(r.get(c) is not None for r in rows)]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in metrics)
    body = []
    for controller in controllers:
        cells = []
        for column, _, better in metrics:
            s = stat(rows, controller, column)
            means = [stat(rows, c, column).mean for c in controllers]
            finite = [m for m in means if m == m]
            best = finite and s.mean == (min(finite) if better == "lower" else max(finite)) and len(set(finite)) > 1
            cells.append(f'<td class="{"best" if best else ""}">{html.escape(str(s))}</td>')
        n = sum(1 for r in rows if r["controller"] == controller)
        body.append(f"<tr><td>{html.escape(controller)}</td><td>{n}</td>{''.join(cells)}</tr>")
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
<table><tr><th>controller</th><th>episodes</th>{head}</tr>
{"".join(body)}
</table>
{images}
<p class="meta">Raw data: <a href="results.csv">results.csv</a> ·
scenario: <a href="scenario.yaml">scenario.yaml</a></p>
</body></html>
"""
    atomic_write_text(path, page)
    return path


def _figure(image: Path, folder: Path) -> str:
    src = html.escape(image.relative_to(folder).as_posix())
    name = html.escape(image.stem.replace("_", " "))
    return f'<h2>{name}</h2><img src="{src}" alt="{name}">'
