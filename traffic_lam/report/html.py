"""One-page HTML report: summary table and the plots, next to the run's results."""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from traffic_lam.files import atomic_write_text
from traffic_lam.metrics.catalog import METRICS
from traffic_lam.metrics.declaration import Metric
from traffic_lam.report.jams import RULE, Jam, jams
from traffic_lam.report.summary import (
    FINAL_NOTE,
    Stat,
    best,
    controllers_in,
    display_names,
    episodes_of,
    plural,
    present,
    stat,
    summary_metrics,
)

VEHICLE_COLUMNS = ("vehicles_arrived", "vehicles_not_inserted")
"""Vehicle counts the report's table shows after the throughput (when the catalog declares them)."""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1.5em; max-width: 1200px; color: #222; }
div.wide { overflow-x: auto; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
td { white-space: nowrap; }
.sd { display: block; font-size: 0.78em; color: #777; }
th { vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; background: #e8f5e9; }
img { max-width: 100%; margin: 1em 0; border: 1px solid #eee; }
.meta { color: #666; }
.jam { color: #fff; background: #c62828; border-radius: 3px; padding: 0 5px; margin-left: 6px; font-weight: bold; }
p.jams { border-left: 4px solid #c62828; padding: 4px 10px; background: #fdecea; }
.hack { color: #fff; background: #e65100; border-radius: 3px; padding: 0 5px; margin-left: 6px; font-weight: bold; }
p.hacks { border-left: 4px solid #e65100; padding: 4px 10px; background: #fff3e0; }
figure { display: inline-block; margin: 0 1em 1em 0; }
figure img { max-width: 560px; }
figcaption { color: #444; }
"""


def write_report(
    path: Path,
    rows: Sequence[dict[str, Any]],
    plots: Sequence[Path],
    title: str,
    notes: Sequence[str] = (),
    metrics: Iterable[Metric] = METRICS,
    clips: Mapping[str, Path] | None = None,
    warnings: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Write ``report.html``: a table of mean ± std per controller (best per column marked), the plots, replays.

    A controller whose episodes jammed (:mod:`traffic_lam.report.jams`) is flagged in the table
    and named, with the reason, above it; so is a learner whose training raised a warning
    (reward hacking: :func:`traffic_lam.controllers.selection.reward_hacking`).

    Args:
        path: the HTML file to write.
        rows: episode rows.
        plots: PNG files to show (relative links from ``path``'s folder).
        title: page title.
        notes: extra lines under the introduction.
        metrics: the declarations of the table's columns (those ``in_summary`` that the rows
            have, then the arrived and never-inserted vehicles); the best cell of a column is its minimum
            or maximum by the metric's ``better``.
        clips: an animation (GIF) per controller label, shown under "Replays" (linked relative to
            ``path``'s folder); None or empty: no such section.
        warnings: the warning lines of each learner's training, by label.

    """
    images = "\n".join(_figure(p, path.parent) for p in plots)
    network = ", ".join(sorted({str(r.get("network")) for r in rows})) or "–"
    flagged = jams(rows)
    hacks = {label: lines for label, lines in (warnings or {}).items() if lines}
    names = display_names(rows)
    notes = [*notes, FINAL_NOTE] if any(n != c for c, n in names.items()) else list(notes)
    note_html = "".join(f"<p class='meta'>{html.escape(n)}</p>" for n in notes) + _jam_note(flagged, names)
    note_html += _warning_note(hacks)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">network: {html.escape(network)} · {plural(len(rows), "episode")} ·
values are the mean over episodes, the std under it; the best value of each column is highlighted.
Delay follows the RESCO definition (timeLoss + departDelay, unfinished and never-inserted vehicles
included).</p>
{note_html}
<div class="wide">{_table(rows, metrics, flagged, hacks)}</div>
{images}
{_replays(clips or {}, path.parent)}
<p class="meta">Raw data: <a href="results.csv">results.csv</a> ·
scenario: <a href="scenario.yaml">scenario.yaml</a></p>
</body></html>
"""
    atomic_write_text(path, page)
    return path


def _columns(rows: Sequence[dict[str, Any]], metrics: Iterable[Metric]) -> list[Metric]:
    """The table's metrics: the summary ones, with the vehicle counts after the throughput (else at the end)."""
    catalog = list(metrics)
    shown = summary_metrics(rows, catalog)
    counts = present(rows, [m for m in catalog if m.name in VEHICLE_COLUMNS and m not in shown])
    at = next((k + 1 for k, m in enumerate(shown) if m.name == "throughput_per_h"), len(shown))
    return [*shown[:at], *counts, *shown[at:]]


def _table(
    rows: Sequence[dict[str, Any]],
    metrics: Iterable[Metric],
    flagged: Mapping[str, Jam],
    hacks: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The summary as an HTML table; each column's best cell (by its metric's ``better``) has class ``best``."""
    controllers = controllers_in(rows)
    names = display_names(rows)
    shown = _columns(rows, metrics)
    head = "".join(
        f'<th title="{html.escape(f"{m.description} ({m.better} is better)".strip())}">{html.escape(m.heading)}</th>'
        for m in shown
    )
    winners = [best(rows, m, controllers) for m in shown]
    lines = [f"<table><tr><th>controller</th><th>episodes</th>{head}</tr>"]
    for controller in controllers:
        cells = "".join(
            f'<td class="{"best" if controller in won else ""}">{_value(stat(rows, controller, m.name))}</td>'
            for m, won in zip(shown, winners, strict=True)
        )
        n = episodes_of(rows, controller)
        jam = flagged.get(controller)
        badge = f' <span class="jam" title="{html.escape(str(jam))}">&#9888; jam</span>' if jam else ""
        hack = (hacks or {}).get(controller.removesuffix(".final"))
        if hack:
            badge += f' <span class="hack" title="{html.escape(hack[0])}">&#9888; reward?</span>'
        lines.append(f"<tr><td>{html.escape(names[controller])}{badge}</td><td>{n}</td>{cells}</tr>")
    return "\n".join([*lines, "</table>"])


def _value(s: Stat) -> str:
    """A cell: the mean, and the std under it in small grey type (the table stays narrow)."""
    if s.n < 2 or s.mean != s.mean:
        return html.escape(str(s))
    return f'{s.mean:.1f}<span class="sd">± {s.std:.1f}</span>'


def _jam_note(flagged: Mapping[str, Jam], names: Mapping[str, str] | None = None) -> str:
    """A warning paragraph naming each jammed controller (as the table shows it) and why; empty when none jammed."""
    if not flagged:
        return ""
    shown = names or {}
    named = "; ".join(f"<b>{html.escape(shown.get(c, c))}</b>: {html.escape(str(j))}" for c, j in flagged.items())
    return f"<p class='jams'>&#9888; Jammed or locked network — {named}. ({html.escape(RULE)}.)</p>"


def _warning_note(hacks: Mapping[str, Sequence[str]]) -> str:
    """A warning paragraph with each training's warning lines; empty when there are none."""
    if not hacks:
        return ""
    named = "<br>".join(html.escape(line) for lines in hacks.values() for line in lines)
    rule = (
        "the training return improved while the score (in validation or in the training episodes) worsened: "
        "docs/definitions.md"
    )
    return f"<p class='hacks'>&#9888; Reward hacking? ({html.escape(rule)})<br>{named}</p>"


def _replays(clips: Mapping[str, Path], folder: Path) -> str:
    """The "Replays" section: each controller's animation with its label; empty without clips."""
    if not clips:
        return ""
    shown = []
    for label, clip in clips.items():
        src = html.escape(Path(os.path.relpath(Path(clip).resolve(), folder.resolve())).as_posix())
        name = html.escape(label)
        shown.append(f'<figure><img src="{src}" alt="replay of {name}"><figcaption>{name}</figcaption></figure>')
    return "<h2>Replays</h2>\n" + "\n".join(shown)


def _figure(image: Path, folder: Path) -> str:
    src = html.escape(image.relative_to(folder).as_posix())
    name = html.escape(image.stem.replace("_", " "))
    return f'<h2>{name}</h2><img src="{src}" alt="{name}">'
