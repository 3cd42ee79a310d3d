import os

import pytest

from traffic_lam.errors import ConfigError
from traffic_lam.experiments.executors import run_jobs
from traffic_lam.experiments.store import ResultsStore, read_rows


def row(controller, seed, delay):
    return {"controller": controller, "network": "n", "seed": seed, "episode": 0, "avg_delay": delay, "ssm_ttc": None}


def test_store_round_trip_resume_and_replace(tmp_path):
    store = ResultsStore(tmp_path / "run")
    store.add([row("a", 0, 1.5), row("b", 0, 2.0)])
    again = ResultsStore(tmp_path / "run")
    assert again.done() == {"a|0|0", "b|0|0"}
    assert again.rows[0] == row("a", 0, 1.5)
    again.add([row("a", 0, 3.0)])
    assert sorted(r["avg_delay"] for r in read_rows(tmp_path / "run" / "results.csv")) == [2.0, 3.0]


def test_failed_write_leaves_previous_results_untouched(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    store.add([row("a", 0, 1.0)])
    before = (tmp_path / "results.csv").read_text()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        store.add([row("b", 1, 2.0)])
    assert (tmp_path / "results.csv").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder_is_one_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match="cannot write there"):
        ResultsStore(locked / "run")


def test_file_in_the_way_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"run folder .*file/run: cannot write there"):
        ResultsStore(tmp_path / "file" / "run")


def square(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x * x


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_runs_jobs_and_reports_failures(workers):
    outcomes = {o.job: o for o in run_jobs(square, [1, 2, 3, 4], workers=workers)}
    assert {j: o.result for j, o in outcomes.items() if o.error is None} == {1: 1, 2: 4, 4: 16}
    assert outcomes[3].error == "ValueError: three is not allowed"


def test_executor_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="--executor: expected one of local, ray"):
        list(run_jobs(square, [1], executor="slurm"))
    with pytest.raises(ConfigError, match="--workers"):
        list(run_jobs(square, [1], workers=0))


def test_ray_executor_on_a_local_instance():
    pytest.importorskip("ray")
    outcomes = {o.job: o for o in run_jobs(square, [1, 2, 3], workers=2, executor="ray")}
    assert outcomes[2].result == 4
    assert "three is not allowed" in outcomes[3].error
