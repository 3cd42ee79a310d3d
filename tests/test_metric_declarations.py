"""Metrics declared once: a declaration reaches the record, the CSV row, the summary, the plots and the report."""

import csv
import dataclasses
import re
import xml.etree.ElementTree as ET

import pytest

import traffic_lam
from traffic_lam.errors import ConfigError
from traffic_lam.experiments.store import ResultsStore
from traffic_lam.metrics import COUNT, METRICS, Catalog, EpisodeRecord, Metric
from traffic_lam.report.html import write_report
from traffic_lam.report.plots import performance_bars, safety_bars
from traffic_lam.report.summary import best, summary_table

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # short yellows of the bundled network

TWICE = Metric("vehicles_arrived_twice", "arrived ×2", "veh", "higher", lambda e: 2 * e.trips.arrived)


def _max_delay(episode):
    trips = ET.parse(episode.tripinfo_file).getroot().iter("tripinfo")
    return max(float(t.get("timeLoss")) + float(t.get("departDelay")) for t in trips)


WORST = Metric("max_delay", "worst delay", "s", "lower", _max_delay, description="Largest delay of a vehicle.")


def test_a_metric_declared_once_reaches_record_row_csv_summary_and_plot(tmp_path):
    (record,) = traffic_lam.evaluate(
        "single-intersection", "max-pressure", end_time=120, out_dir=tmp_path, metrics=[TWICE, WORST]
    )
    assert record.extra["vehicles_arrived_twice"] == 2 * record.vehicles_arrived > 0
    trips = [t.attrib for t in ET.parse(record.tripinfo_file).getroot().iter("tripinfo")]
    worst = max(float(t["timeLoss"]) + float(t["departDelay"]) for t in trips)
    assert record.extra["max_delay"] == pytest.approx(worst)

    row = record.to_row()
    assert list(row) == [*EpisodeRecord.columns(), "vehicles_arrived_twice", "max_delay"]
    assert row["vehicles_arrived_twice"] == 2 * row["vehicles_arrived"]
    with (tmp_path / "max-pressure-single-intersection.csv").open() as handle:
        (written,) = list(csv.DictReader(handle))
    assert int(written["vehicles_arrived_twice"]) == 2 * int(written["vehicles_arrived"])

    store = ResultsStore(tmp_path / "run")
    store.add([row])
    (stored,) = ResultsStore(tmp_path / "run").rows
    assert stored["vehicles_arrived_twice"] == row["vehicles_arrived_twice"]
    assert list(stored) == list(row)  # built-in columns in their order, then the declared ones

    catalog = METRICS.extended([TWICE, WORST])
    table = summary_table([row], metrics=catalog)
    assert "arrived ×2 (veh)" in table and "worst delay (s)" in table
    assert f"{2 * record.vehicles_arrived:.1f}" in table.splitlines()[1]
    assert "arrived ×2" not in summary_table([row])  # the built-in catalog is left as it is
    plot = performance_bars([row], tmp_path / "performance.png", metrics=catalog)
    assert plot.stat().st_size > 10_000


def test_bad_extra_metrics_fail_before_any_simulation(tmp_path):
    out = tmp_path / "never"
    for clash in ("avg_delay", "controller"):
        metric = dataclasses.replace(TWICE, name=clash)
        with pytest.raises(ConfigError, match=f"metrics: '{clash}' is already a column"):
            traffic_lam.evaluate("single-intersection", "max-pressure", out_dir=out, metrics=[metric])
    with pytest.raises(ConfigError, match="'vehicles_arrived_twice' is declared twice"):
        traffic_lam.evaluate("single-intersection", "max-pressure", out_dir=out, metrics=[TWICE, TWICE])
    assert not out.exists()
    text = dataclasses.replace(TWICE, name="text", compute=lambda e: "many")
    with pytest.raises(ConfigError, match="metric 'text': compute: expected a number or None, got 'many'"):
        traffic_lam.evaluate("single-intersection", "max-pressure", end_time=30, metrics=[text])


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(better="up"), "better: expected 'lower' or 'higher', got 'up'"),
        (dict(unit=""), "unit: expected a non-empty string"),
        (dict(name="Avg Delay"), "metric name: expected lowercase letters"),
        (dict(compute=3), "compute: expected a function"),
    ],
)
def test_a_bad_declaration_is_one_line(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        dataclasses.replace(TWICE, **changes)


def test_every_builtin_metric_declares_unit_direction_and_is_a_record_column():
    assert len(METRICS) == len(set(METRICS.names))
    for metric in METRICS:
        assert metric.label and metric.unit and metric.description, metric.name
        assert metric.better in ("lower", "higher"), metric.name
    settings = {"controller", "network", "seed", "episode", "begin", "end", "control", "delta_time", "yellow_time",
                "wall_time_s", "tripinfo_file", "sumo_version"}  # fmt: skip
    assert set(EpisodeRecord.columns()) - settings == set(METRICS.names)
    assert METRICS["throughput_per_h"].better == "higher" and METRICS["avg_delay"].heading == "delay (s)"
    assert METRICS["collisions"].unit == COUNT and METRICS["collisions"].heading == "collisions"
    assert [m.name for m in METRICS if m.safety and m.in_plots] == [
        "collisions", "emergency_stops", "emergency_braking", "teleports", "ssm_ttc", "ssm_drac", "ssm_pet"
    ]  # fmt: skip


def test_the_builtin_catalog_is_read_only():
    with pytest.raises(dataclasses.FrozenInstanceError):
        METRICS.metrics = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        METRICS._by_name["x"] = TWICE  # type: ignore[index]
    bigger = METRICS.extended([TWICE])
    assert "vehicles_arrived_twice" in bigger and "vehicles_arrived_twice" not in METRICS
    assert isinstance(bigger, Catalog) and bigger.names[: len(METRICS)] == METRICS.names
    with pytest.raises(KeyError, match="no metric 'nope'"):
        METRICS["nope"]


def _rows():
    return [
        {"controller": "calm", "network": "n", "avg_delay": 10.0, "throughput_per_h": 100.0, "collisions": 0},
        {"controller": "calm", "network": "n", "avg_delay": 12.0, "throughput_per_h": 110.0, "collisions": 0},
        {"controller": "busy", "network": "n", "avg_delay": 30.0, "throughput_per_h": 300.0, "collisions": 0},
    ]


def _best_cells(page: str) -> list[tuple[str, int]]:
    """(controller, column index) of every highlighted cell of the report's table."""
    cells = []
    for line in re.findall(r"<tr><td>.*?</tr>", page):
        controller = re.match(r"<tr><td>(.*?)</td>", line).group(1)
        for k, cls in enumerate(re.findall(r'<td class="(\w*)">', line)):
            if cls == "best":
                cells.append((controller, k))
    return cells


def test_summary_and_report_best_follow_better(tmp_path):
    rows = _rows()
    assert best(rows, METRICS["avg_delay"]) == {"calm"}  # lower is better
    assert best(rows, METRICS["throughput_per_h"]) == {"busy"}  # higher is better
    assert best(rows, METRICS["collisions"]) == set()  # no difference, no winner
    higher_delay = dataclasses.replace(METRICS["avg_delay"], better="higher")
    assert best(rows, higher_delay) == {"busy"}

    page = write_report(tmp_path / "report.html", rows, [], "t").read_text()
    assert "<th" in page and page.index("delay (s)") < page.index("throughput (veh/h)")
    assert _best_cells(page) == [("calm", 0), ("busy", 1)]  # columns: delay, throughput, collisions
    catalog = Catalog((higher_delay, METRICS["throughput_per_h"]))
    flipped = write_report(tmp_path / "flipped.html", rows, [], "t", metrics=catalog).read_text()
    assert _best_cells(flipped) == [("busy", 0), ("busy", 1)]


def test_safety_plot_draws_the_declared_safety_metrics(tmp_path):
    near_misses = Metric("near_misses", "near misses", COUNT, "lower", lambda e: 0, safety=True)
    rows = [dict(r, near_misses=k) for k, r in enumerate(_rows())]
    path = safety_bars(rows, tmp_path / "safety.png", metrics=METRICS.extended([near_misses]))
    assert path.stat().st_size > 10_000
