"""Typed results: a CSV reads back with the types it was written with; labels are strings, always."""

import json
import math
import os

import pytest

from traffic_lam.cli import main
from traffic_lam.errors import ConfigError
from traffic_lam.experiments.store import ResultsStore, job_key, read_rows, result_types
from traffic_lam.files import read_csv, schema_path, write_csv

LABELS = ("007", "1e3", "nan", "True", "12")


def row(controller, seed=0, episode=0, **values):
    return {
        "controller": controller,
        "network": "n",
        "seed": seed,
        "episode": episode,
        "avg_delay": 1.5,
        "vehicles_arrived": 42,
        "ssm_ttc": None,
        "tripinfo_file": None,
        **values,
    }


def test_labels_round_trip_through_the_store_as_strings(tmp_path):
    written = [
        row(label, seed=3, episode=1, arrived_twice=84, max_delay=2.25, mixed=i) for i, label in enumerate(LABELS)
    ]
    written[1]["mixed"] = 0.5  # a user metric that is an int on one episode and a float on another
    ResultsStore(tmp_path).add(written)
    again = ResultsStore(tmp_path)
    assert again.rows == written
    assert [r["controller"] for r in again.rows] == list(LABELS)
    assert again.done() == {job_key(label, 3, 1) for label in LABELS} == {f"{label}|3|1" for label in LABELS}
    for stored, original in zip(again.rows, written, strict=True):
        assert {k: type(v) for k, v in stored.items()} == {k: type(v) for k, v in original.items()}
    assert json.loads(schema_path(tmp_path / "results.csv").read_text())["columns"] == {
        "controller": "str",
        "network": "str",
        "seed": "int",
        "episode": "int",
        "avg_delay": "float",
        "vehicles_arrived": "int",
        "ssm_ttc": "int",
        "tripinfo_file": "str",
        "arrived_twice": "int",
        "max_delay": "float",
        "mixed": "number",
    }


def test_a_label_that_is_not_a_string_is_refused_and_nothing_written(tmp_path):
    store = ResultsStore(tmp_path)
    with pytest.raises(ConfigError, match=r"results.csv: column 'controller': expected str, got 7"):
        store.add([row(7)])
    with pytest.raises(ConfigError, match=r"column 'seed': expected int, got 0.5"):
        store.add([row("a", seed=0.5)])
    assert list(tmp_path.iterdir()) == []


def test_results_from_before_schemas_read_with_the_declared_types(tmp_path):
    (tmp_path / "results.csv").write_text(
        "controller,network,seed,episode,avg_delay,ssm_ttc,controller_type,sumo_seed,job_wall_time_s,note\n"
        "007,n,0,0,1.5,,max-pressure,0,3,1e3\n"
        "1e3,n,1,0,2,,fixed-time,1,0.25,\n"
    )
    store = ResultsStore(tmp_path)
    assert store.done() == {"007|0|0", "1e3|1|0"}
    first, second = store.rows
    assert first == {
        "controller": "007",
        "network": "n",
        "seed": 0,
        "episode": 0,
        "avg_delay": 1.5,
        "ssm_ttc": None,
        "controller_type": "max-pressure",
        "sumo_seed": 0,
        "job_wall_time_s": 3.0,
        "note": "1e3",  # no declared type: a string, never a guessed number
    }
    assert second["controller"] == "1e3" and second["avg_delay"] == 2.0 and second["note"] is None
    assert isinstance(second["avg_delay"], float) and isinstance(second["seed"], int)
    store.add([{**first, "controller": "new", "note": "x"}])  # resuming writes the schema beside the CSV
    assert schema_path(tmp_path / "results.csv").is_file()
    assert ResultsStore(tmp_path).rows == store.rows


def test_every_declared_column_of_the_results_has_a_type():
    types = result_types()
    assert types["controller"] is types["controller_type"] is types["network"] is str
    assert types["seed"] is types["episode"] is types["sumo_seed"] is types["vehicles_arrived"] is int
    assert types["avg_delay"] is types["job_wall_time_s"] is float


def test_a_curve_keeps_its_numbers_and_a_file_without_schema_never_guesses(tmp_path):
    curve = [{"episode": k, "return": -1.5 * k, "epsilon": 1.0, "arrived": None, "wall_s": math.inf} for k in (1, 2)]
    path = tmp_path / "learner.csv"
    write_csv(path, curve)
    assert read_csv(path) == curve
    assert [type(r["episode"]) for r in read_csv(path)] == [int, int]
    assert schema_path(path).name == "learner.schema.json"

    schema_path(path).unlink()  # a curve written before schemas
    assert read_csv(path)[0] == {"episode": "1", "return": "-1.5", "epsilon": "1.0", "arrived": None, "wall_s": "inf"}
    assert read_csv(path, default="number")[0] == {"episode": 1, "return": -1.5, "epsilon": 1.0, "arrived": None,
                                                   "wall_s": math.inf}  # fmt: skip
    assert read_csv(path, types={"episode": int})[1]["episode"] == 2


def test_a_schema_for_other_columns_is_not_used(tmp_path):
    path = tmp_path / "table.csv"
    write_csv(path, [{"a": 1, "b": 2}])
    path.write_text("a,c\n007,1\n")  # replaced without its schema
    assert read_csv(path) == [{"a": "007", "c": "1"}]
    path.write_text("a\n7\n")  # the previous version of a file whose rewrite added a column
    assert read_csv(path) == [{"a": 7}]


def test_bad_cells_and_bad_schemas_are_one_line_errors(tmp_path):
    path = tmp_path / "table.csv"
    write_csv(path, [{"seed": 1, "flag": True}, {"seed": 2, "flag": False}])
    assert read_csv(path) == [{"seed": 1, "flag": True}, {"seed": 2, "flag": False}]
    path.write_text("seed,flag\n1,True\nx,False\n")
    with pytest.raises(ConfigError, match=r"table.csv: line 3, column 'seed': expected int, got 'x'"):
        read_csv(path)
    schema_path(path).write_text("{not json")
    with pytest.raises(ConfigError, match=r"table.schema.json: not a CSV schema written by traffic_lam"):
        read_csv(path)
    schema_path(path).write_text(json.dumps({"columns": {"seed": "decimal", "flag": "bool"}}))
    with pytest.raises(ConfigError, match=r"expected one of str, int, float, number, bool .* got 'decimal'"):
        read_csv(path)


SCENARIO = """
name: labels
network: single-intersection
timing: {end: 120}
controllers:
  - {name: "007", type: max-pressure}
  - {name: "1e3", type: fixed-time}
evaluation: {seeds: [0], episodes: 1}
"""


@pytest.mark.filterwarnings("ignore::UserWarning")  # short yellows of the bundled network
def test_a_rerun_skips_every_finished_job_and_keeps_the_labels(tmp_path, capsys):
    scenario = tmp_path / "labels.yaml"
    scenario.write_text(SCENARIO)
    run = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(run), "--quiet"]) == 0
    assert "2 episodes evaluated, 0 already done" in capsys.readouterr().out
    results = (run / "results.csv").read_text()

    assert main(["run", str(scenario), "--out", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "0 episodes evaluated, 2 already done" in out
    assert (run / "results.csv").read_text() == results
    assert [r["controller"] for r in read_rows(run / "results.csv")] == ["007", "1e3"]
    assert "007" in out and "1e3" in out
    report = (run / "report.html").read_text()
    assert "007" in report and "1e3" in report

    merged = tmp_path / "merged"  # compare reads the run's rows typed too
    assert main(["compare", str(run), "--out", str(merged)]) == 0
    assert [r["controller"] for r in read_rows(merged / "results.csv")] == ["007", "1e3"]
    assert "007" in capsys.readouterr().out


def test_a_crash_between_the_schema_and_the_csv_leaves_the_previous_results_typed(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    store.add([row("007", extra_metric=1)])
    before = ResultsStore(tmp_path).rows
    replace, calls = os.replace, []

    def crash_on_the_csv(src, dst):
        calls.append(dst)
        if str(dst).endswith(".csv"):
            raise OSError("killed")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_the_csv)
    with pytest.raises(OSError, match="killed"):
        store.add([row("1e3", new_metric=0.5)])
    monkeypatch.setattr(os, "replace", replace)
    assert [p.name for p in calls] == ["results.schema.json", "results.csv"]  # the schema first
    assert "new_metric" in json.loads(schema_path(tmp_path / "results.csv").read_text())["columns"]
    assert ResultsStore(tmp_path).rows == before == store.rows
