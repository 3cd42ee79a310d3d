"""Per-controller summaries of episode rows: mean and spread over seeds, best per metric.

Which metrics a summary shows, their headings and which way is best come from the metric
declarations (:data:`traffic_lam.metrics.METRICS`, or the catalog passed as ``metrics``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from traffic_lam.metrics.catalog import METRICS
from traffic_lam.metrics.declaration import Metric

SUMMARY_METRICS: tuple[tuple[str, str, str], ...] = tuple(
    (m.name, m.heading, m.better) for m in METRICS if m.in_summary
)
"""(column, heading, better) of the built-in metrics shown in summaries, derived from :data:`METRICS`."""


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation and count of one metric."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        if self.n == 0 or math.isnan(self.mean):
            return "–"
        return f"{self.mean:.1f} ± {self.std:.1f}" if self.n > 1 else f"{self.mean:.1f}"


def controllers_in(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Controller labels in first-seen order."""
    seen: list[str] = []
    for row in rows:
        if row["controller"] not in seen:
            seen.append(str(row["controller"]))
    return seen


FINAL_NOTE = (
    "(selected): the learner's policy of the best validation delay during its training; (final): its policy at the "
    "end of training (docs/definitions.md)"
)
"""The note under a table that has a learner's selected and final policies."""


PLOT_LABEL = 40
"""The longest controller label a plot shows on an axis or in a legend (see :func:`short_label`)."""


def short_label(label: str, longest: int) -> str:
    """``label`` in at most ``longest`` characters, cut in the middle ("…").

    In a comparison (``<folder>/<label>``) the cut falls in the folder's part, so that the
    controller's own label, which tells the rows apart, stays whole where it fits.
    """
    if len(label) <= longest:
        return label
    folder, sep, own = label.rpartition("/")
    room = longest - len(own) - len(sep) - 1  # the folder's characters kept beside the "…"
    if not sep or room < 4:
        folder, sep, own, room = label, "", "", longest - 1
    return _middle_cut(folder, room) + sep + own


def short_labels(labels: Iterable[str], longest: int) -> dict[str, str]:
    """:func:`short_label` of each label, the folder of a comparison cut alike in all of its labels.

    The folder's part keeps the characters that its longest label leaves, so a folder reads the
    same in every row of a table and every entry of a legend.
    """
    labels = list(labels)
    rooms: dict[str, int] = {}
    for label in labels:
        folder, sep, own = label.rpartition("/")
        if sep and len(label) > longest:
            rooms[folder] = min(rooms.get(folder, longest), longest - len(own) - len(sep) - 1)
    cut = {}
    for label in labels:
        folder, sep, own = label.rpartition("/")
        room = rooms.get(folder, 0) if sep else 0
        cut[label] = _middle_cut(folder, room) + sep + own if room >= 4 else short_label(label, longest)
    return cut


def _middle_cut(text: str, keep: int) -> str:
    """``text`` with its middle replaced by "…", ``keep`` of its characters kept (half from each end)."""
    start = (keep + 1) // 2
    return text[:start] + "…" + text[len(text) - (keep - start) :]


def display_names(rows: Sequence[dict[str, Any]], longest: int | None = None) -> dict[str, str]:
    """How each label is shown: a learner evaluated with both policies as ``ppo (selected)`` and ``ppo (final)``.

    A label's rows say its policy (``policy``: ``selected``, ``final``, or none for a classic
    controller); the final policy's label is ``<label>.final``. A learner evaluated with one
    policy only, and every other controller, keeps its label. With ``longest``, each name is
    cut to that many characters (:func:`short_labels`), as a plot shows it.
    """
    policy = {}
    for row in rows:
        policy.setdefault(str(row["controller"]), row.get("policy"))
    names = {}
    for label, kind in policy.items():
        base = label.removesuffix(".final")
        if kind == "final" and base != label and policy.get(base) == "selected":
            names[label] = f"{base} (final)"
        elif kind == "selected" and policy.get(f"{label}.final") == "final":
            names[label] = f"{label} (selected)"
        else:
            names[label] = label
    if longest is None:
        return names
    cut = short_labels(names.values(), longest)
    return {label: cut[name] for label, name in names.items()}


def values(rows: Sequence[dict[str, Any]], controller: str, metric: str) -> list[float]:
    """The numeric values of ``metric`` for ``controller`` (missing cells skipped)."""
    return [
        float(r[metric])
        for r in rows
        if r["controller"] == controller and isinstance(r.get(metric), (int, float)) and not isinstance(r[metric], bool)
    ]


def stat(rows: Sequence[dict[str, Any]], controller: str, metric: str) -> Stat:
    """Mean ± std of ``metric`` for ``controller`` over its episodes."""
    xs = values(rows, controller, metric)
    if not xs:
        return Stat(float("nan"), float("nan"), 0)
    mean = sum(xs) / len(xs)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return Stat(mean, std, len(xs))


def present(rows: Sequence[dict[str, Any]], metrics: Iterable[Metric]) -> list[Metric]:
    """The ``metrics`` that some row has a value for, in order."""
    return [m for m in metrics if any(r.get(m.name) is not None for r in rows)]


def summary_metrics(rows: Sequence[dict[str, Any]], metrics: Iterable[Metric] = METRICS) -> list[Metric]:
    """The metrics a summary of ``rows`` shows: those declared ``in_summary`` that some row has."""
    return present(rows, [m for m in metrics if m.in_summary])


def best(rows: Sequence[dict[str, Any]], metric: Metric, controllers: Sequence[str] | None = None) -> set[str]:
    """Controllers whose mean ``metric`` is the best by its ``better``; empty when the means do not differ."""
    means = {c: stat(rows, c, metric.name).mean for c in (controllers or controllers_in(rows))}
    top = metric.best(means.values())
    if top is None or len({m for m in means.values() if m == m}) < 2:
        return set()
    return {c for c, m in means.items() if m == top}


def episodes_of(rows: Sequence[dict[str, Any]], controller: str) -> int:
    """Number of rows (episodes) of ``controller``."""
    return sum(1 for r in rows if r["controller"] == controller)


def summary_table(rows: Sequence[dict[str, Any]], markdown: bool = False, metrics: Iterable[Metric] = METRICS) -> str:
    """A table with one line per controller: mean ± std of the summary metrics.

    Args:
        rows: episode rows (:meth:`~traffic_lam.metrics.EpisodeRecord.to_row`, ``results.csv``).
        markdown: a Markdown table instead of aligned text.
        metrics: the declarations to show (those ``in_summary`` that the rows have); pass
            ``METRICS.extended([...])`` to add metrics of your own to the built-in ones.

    """
    shown = summary_metrics(rows, metrics)
    header = ["controller", "episodes", *[m.heading for m in shown]]
    names = display_names(rows)
    lines = []
    for controller in controllers_in(rows):
        cells = [str(stat(rows, controller, m.name)) for m in shown]
        lines.append([names[controller], str(episodes_of(rows, controller)), *cells])
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)] if lines else []
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), *(fmt.format(*line) for line in lines)])


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 episode"``, ``"2 episodes"``: ``n`` and ``word``, plural (``many``, default ``word + "s"``) unless 1."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
