"""The pictures answer the question at a glance: stable colours, curves against the experts, honest safety plots."""

import os
import stat as stat_module

import pytest
from matplotlib.collections import LineCollection
from matplotlib.text import Text

from traffic_lam.cli import main
from traffic_lam.experiments.store import read_rows, write_rows
from traffic_lam.files import atomic_write_text, write_csv
from traffic_lam.report import curves as curves_module
from traffic_lam.report import figures as figures_module
from traffic_lam.report import outputs, plots, safety
from traffic_lam.report.colours import BUILT_IN, OTHERS, colour, look, looks
from traffic_lam.report.curves import learning_curves, moving_median, references
from traffic_lam.report.html import write_report
from traffic_lam.report.jams import episode_jam, jams
from traffic_lam.report.safety import delay_vs_safety, safety_bars

CLASSIC = {"fixed-time": 40.0, "actuated": 30.0}


def row(controller, seed, delay, kind=None, **counts):
    """An evaluation row with the columns the plots and the report read."""
    base = {
        "controller": controller, "controller_type": kind or controller, "network": "single-intersection",
        "seed": seed, "episode": 0, "avg_delay": delay, "avg_travel_time": delay + 25.0, "avg_waiting_time": 10.0,
        "throughput_per_h": 2500.0, "avg_queue": 15.0, "collisions": 0.0, "emergency_stops": 0,
        "emergency_braking": 0, "teleports": 0, "vehicles_inserted": 1300, "vehicles_arrived": 1250,
        "vehicles_running": 50, "vehicles_not_inserted": 0,
    }  # fmt: skip
    return {**base, **counts}


def quiet_rows():
    """Three episodes of two classic controllers and a learner, without a single safety event."""
    rows = [row(c, s, d + s) for c, d in CLASSIC.items() for s in range(3)]
    return rows + [row("learner", s, 35.0 + s, kind="batched-q") for s in range(3)]


def captured_figures(monkeypatch, module):
    """Figures the plot functions of ``module`` save, in order (they are still written)."""
    figures, save = [], module.save

    def keep(fig, path):
        figures.append(fig)
        return save(fig, path)

    monkeypatch.setattr(module, "save", keep)
    return figures


def texts(fig):
    return " ".join(t.get_text() for t in fig.findobj(Text))


def test_an_all_zero_safety_run_says_no_safety_events(tmp_path, monkeypatch):
    figures = captured_figures(monkeypatch, safety)
    path = safety_bars(quiet_rows(), tmp_path / "safety.png")
    assert path.stat().st_size > 5_000
    assert "No safety events in 9 episodes" in texts(figures[0])
    assert "collisions, emergency stops, emergency braking, teleports: all zero" in texts(figures[0])
    assert not figures[0].axes[0].axison  # a message, not an empty chart with a 0-0.05 axis

    delay_vs_safety(quiet_rows(), tmp_path / "delay_vs_safety.png")
    (ax,) = figures[1].axes
    assert "no safety events in 9 episodes" in texts(figures[1])
    assert all(t >= 0 for t in ax.get_yticks()) and list(ax.get_yticks()) == [0.0, 1.0]


def test_one_event_in_three_episodes_is_a_dot_on_an_integer_axis_without_whiskers(tmp_path, monkeypatch):
    figures = captured_figures(monkeypatch, safety)
    rows = quiet_rows()
    rows[1]["collisions"] = 1.0  # fixed-time, seed 1
    safety_bars(rows, tmp_path / "safety.png")
    (ax,) = figures[0].axes  # only the metric with an event gets a panel
    assert ax.get_title() == "collisions"
    assert "zero in all 9 episodes: emergency stops, emergency braking, teleports" in texts(figures[0])
    ticks = ax.get_yticks()
    assert all(float(t).is_integer() and t >= 0 for t in ticks) and max(ticks) == 1
    assert not ax.findobj(LineCollection)  # no error bars
    heights = [p.get_height() for p in ax.patches]
    assert heights[0] == pytest.approx(1 / 3) and heights[1:] == [0.0, 0.0]

    rows[4]["emergency_braking"] = 3
    delay_vs_safety(rows, tmp_path / "delay_vs_safety.png")
    ticks = figures[1].axes[0].get_yticks()
    assert min(ticks) == 0 and all(float(t).is_integer() for t in ticks)
    assert figures[1].axes[0].get_ylim()[0] > -0.5  # room for dots at 0, no negative count drawn


def test_the_delay_versus_safety_legend_lies_outside_the_dots(tmp_path, monkeypatch):
    figures = captured_figures(monkeypatch, safety)
    rows = quiet_rows()
    for k, row in enumerate(rows):
        row["emergency_braking"] = k  # dots fill the panel: no corner inside is free
    delay_vs_safety(rows, tmp_path / "delay_vs_safety.png")
    (ax,) = figures[0].axes
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["fixed-time", "actuated", "learner"]
    assert legend.get_bbox_to_anchor().x0 > ax.bbox.x1  # beside the axes, not over them


def test_bar_panels_stand_side_by_side_for_few_controllers_and_are_stacked_for_many(tmp_path, monkeypatch):
    figures = captured_figures(monkeypatch, plots)
    few = quiet_rows()
    many = [{**r, "controller": f"{r['controller']}-{k}"} for k in range(3) for r in few]  # 9 controllers
    plots.performance_bars(few, tmp_path / "few.png")
    plots.performance_bars(many, tmp_path / "many.png")
    beside, stacked = ([ax.get_position() for ax in fig.axes] for fig in figures)
    assert len(beside) == len(stacked) > 1
    assert len({round(p.y0, 3) for p in beside}) == 1  # one row of panels
    assert len({round(p.x0, 3) for p in stacked}) == 1 and len({round(p.y0, 3) for p in stacked}) == len(stacked)
    events = captured_figures(monkeypatch, safety)
    many[0]["collisions"], many[1]["emergency_braking"] = 1.0, 2  # two panels of nine bars
    safety_bars(many, tmp_path / "safety.png")
    assert len({round(ax.get_position().x0, 3) for ax in events[0].axes}) == 1 and len(events[0].axes) == 2


def test_colours_depend_on_the_label_alone():
    assert colour("fixed-time") == BUILT_IN["fixed-time"] and colour("dqn") == BUILT_IN["dqn"]
    assert colour("my-learner") == colour("my-learner") in OTHERS
    assert looks(["a", "b", "fixed-time"]) == {k: v for k, v in reversed(looks(["fixed-time", "b", "a"]).items())}
    first, second = look("runA/fixed-time", ["runA", "runB"]), look("runB/fixed-time", ["runA", "runB"])
    assert first.colour == second.colour == colour("fixed-time")
    assert first.marker != second.marker and first.line != second.line  # the folder tells them apart
    assert look("runA/mine", ["runA"]).colour == colour("mine")
    selected, final = look("runB/ppo", ["runA", "runB"]), look("runB/ppo.final", ["runA", "runB"])
    assert final.marker == selected.marker and final.colour == selected.colour  # the folder's marker ...
    assert final.hollow and not selected.hollow and final.dots()["facecolors"] == "none"  # ... hollow: final


def test_labels_sharing_a_colour_get_a_second_cue_whatever_their_order():
    assert colour("dqn-warm-s0") == colour("ppo-warm-s0")  # 12 colours: two of the imitation runs' labels
    drawn = looks(["ppo-warm-s0", "dqn-warm-s0", "ppo", "ppo.final"])
    assert drawn == looks(["dqn-warm-s0", "ppo.final", "ppo", "ppo-warm-s0"])
    first, second = drawn["dqn-warm-s0"], drawn["ppo-warm-s0"]
    assert first.colour == second.colour == colour("dqn-warm-s0")
    assert (first.line, first.marker) != (second.line, second.marker)
    assert drawn["ppo.final"].colour == drawn["ppo"].colour  # a final policy keeps its learner's look


def write_run(folder, delays, learner_delays, column="delay_s", selected=None):
    """A run folder as 'traffic-lam run' leaves it: results.csv and a learner's curve."""
    folder.mkdir()
    rows = [row(c, s, d) for c, d in delays.items() for s in range(3)]
    write_rows(folder / "results.csv", rows + [row("learner", s, 33.0, kind="batched-q") for s in range(3)])
    curve = [{"episode": k + 1, "return": -float(d), column: float(d), "arrived": 1200} for k, d in
             enumerate(learner_delays)]  # fmt: skip
    if selected:
        curve[selected - 1]["selected"] = True
    (folder / "curves").mkdir()
    write_csv(folder / "curves" / "learner.csv", curve)
    (folder / "fingerprint.json").write_text("{}")


def test_learning_curves_draw_delay_against_the_classic_controllers(tmp_path, monkeypatch):
    figures = captured_figures(monkeypatch, curves_module)
    run = tmp_path / "run"
    delays = [80.0, 60.0, 50.0, 42.0, 900.0, 36.0, 33.0, 31.0, 30.0, 29.0, 28.0, 28.0]  # episode 5 jammed
    write_run(run, CLASSIC, delays, selected=9)
    rows = read_rows(run / "results.csv")
    assert references(rows, "avg_delay", ["learner"]) == {"fixed-time": 40.0, "actuated": 30.0}
    assert learning_curves(outputs.run_curves(run), tmp_path / "curves.png", rows).stat().st_size > 10_000
    (ax,) = figures[0].axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "learner (median of the last 2)", "learner: selected checkpoint",
        "fixed-time: 40.0 (evaluated)", "actuated: 30.0 (evaluated)",
    ]  # fmt: skip
    assert "delay (s) of the training episode" in ax.get_ylabel()
    assert ax.get_ylim()[1] < 900 and "episode 5: 900" in texts(figures[0])  # the spike is labelled, not squashing
    assert moving_median([1.0, 100.0, 3.0, 5.0], 3) == [1.0, 50.5, 3.0, 5.0]


def test_reference_lines_at_one_value_take_turns_and_neither_hides_the_other(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    styles, draw = {}, Axes.axhline

    def spy(ax, y, **kwargs):
        styles[kwargs["label"].split(":")[0]] = kwargs["linestyle"]
        return draw(ax, y, **kwargs)

    monkeypatch.setattr(Axes, "axhline", spy)
    run = tmp_path / "run"
    write_run(run, {"greedy": 44.9, "max-pressure": 44.9, "actuated": 31.1}, [40.0, 35.0, 30.0])
    learning_curves(outputs.run_curves(run), tmp_path / "curves.png", read_rows(run / "results.csv"))
    (offset_g, dashes_g), (offset_m, dashes_m) = styles["greedy"], styles["max-pressure"]
    assert dashes_g == dashes_m and dashes_g[0] == dashes_g[1]  # dash, gap as long: room for the other
    assert abs(offset_g - offset_m) == dashes_g[0]  # one dash apart: each fills the other's gaps
    assert styles["actuated"][1][1] < styles["actuated"][1][0]  # alone: the usual dashes


def test_many_learners_share_one_star_entry_and_a_legend_below_the_axes(tmp_path, monkeypatch):
    figures = captured_figures(monkeypatch, curves_module)
    run = tmp_path / "run"
    write_run(run, CLASSIC, [40.0, 35.0, 30.0], selected=2)
    for k in range(8):  # nine learners, each with a selected checkpoint
        curve = [{"episode": e + 1, "return": -1.0, "delay_s": 30.0 + k + e, "selected": e == 1} for e in range(3)]
        write_csv(run / "curves" / f"learner{k}.csv", curve)
    learning_curves(outputs.run_curves(run), tmp_path / "curves.png", read_rows(run / "results.csv"))
    (ax,) = figures[0].axes
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels.count(curves_module.SHARED_STAR) == 1 and not any(": selected checkpoint" in t for t in labels)
    assert len(labels) > figures_module.LEGEND_BESIDE
    assert legend.get_bbox_to_anchor().y0 < ax.bbox.y0  # below the axes, not beside them


def test_curves_near_the_reference_lines_get_an_axis_that_spans_them_and_says_so(tmp_path, monkeypatch):
    figures = captured_figures(monkeypatch, curves_module)
    run = tmp_path / "run"
    write_run(run, CLASSIC, [29.0, 28.6, 28.2, 28.4, 27.9, 28.0], selected=5)  # fine-tuning near actuated's 30.0
    learning_curves(outputs.run_curves(run), tmp_path / "curves.png", read_rows(run / "results.csv"))
    (ax,) = figures[0].axes
    bottom, top = ax.get_ylim()
    assert 25.0 < bottom < 27.9 and 40.0 < top < 45.0  # fixed-time's 40.0 line stays on the axis
    assert "(axis not from 0)" in ax.get_ylabel()
    figures.clear()
    write_run(tmp_path / "far", CLASSIC, [90.0, 60.0, 30.0])  # from scratch: the axis starts at 0
    learning_curves(
        outputs.run_curves(tmp_path / "far"), tmp_path / "far.png", read_rows(tmp_path / "far" / "results.csv")
    )
    assert figures[0].axes[0].get_ylim()[0] == 0.0 and "not from 0" not in figures[0].axes[0].get_ylabel()


def test_a_curve_without_delay_falls_back_to_the_queue_and_says_so(tmp_path, monkeypatch):
    figures = captured_figures(monkeypatch, curves_module)
    run = tmp_path / "run"
    write_run(run, CLASSIC, [20.0, 18.0, 16.0], column="avg_queue")
    learning_curves(outputs.run_curves(run), tmp_path / "curves.png", read_rows(run / "results.csv"))
    assert "queue (veh) of the training episode (no delay recorded)" in figures[0].axes[0].get_ylabel()


def test_compare_keeps_every_folders_curves_with_one_colour_per_label(tmp_path, monkeypatch, capsys):
    write_run(tmp_path / "a", CLASSIC, [60.0, 50.0, 40.0])
    write_run(tmp_path / "b", {"fixed-time": 45.0, "actuated": 30.0, "max-pressure": 35.0}, [55.0, 45.0, 35.0])
    passed, draw = [], outputs.plots.learning_curves

    def spy(curves, path, rows=(), experts=None):
        passed.append((dict(curves), list(rows)))
        return draw(curves, path, rows)

    monkeypatch.setattr(outputs.plots, "learning_curves", spy)
    figures = captured_figures(monkeypatch, curves_module)
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    ((curves, rows),) = passed
    assert curves == {"a/learner": tmp_path / "a" / "curves" / "learner.csv",
                      "b/learner": tmp_path / "b" / "curves" / "learner.csv"}  # fmt: skip
    assert {r["run"] for r in rows} == {"a", "b"} and "a/fixed-time" in {r["controller"] for r in rows}
    assert (out / "plots" / "learning_curves.png").stat().st_size > 10_000
    assert "plots/learning_curves.png" in (out / "report.html").read_text()
    drawn = {line.get_label(): line for line in figures[0].axes[0].get_lines()}
    assert drawn["a/learner"].get_color() == drawn["b/learner"].get_color()  # three episodes: no smoothing
    assert drawn["a/learner"].get_linestyle() != drawn["b/learner"].get_linestyle()
    fixed = [line for label, line in drawn.items() if "fixed-time" in label]
    assert len(fixed) == 2 and {line.get_color() for line in fixed} == {colour("fixed-time")}
    assert "max-pressure (b): 35.0 (evaluated)" in drawn
    assert "actuated (a, b): 30.0 (evaluated)" in drawn  # the same value in both folders: one line
    assert "a/fixed-time" in capsys.readouterr().out


def test_the_report_shows_arrived_never_inserted_a_jam_flag_and_the_replays(tmp_path):
    rows = quiet_rows()
    rows[7].update(vehicles_not_inserted=260, vehicles_arrived=800, avg_delay=550.0)  # the learner, seed 1
    assert episode_jam(rows[7]) == "260 of 1560 vehicles never inserted"
    assert episode_jam(row("x", 0, 30.0, vehicles_not_inserted=7)) is None  # a few waiting at the end: normal
    assert episode_jam(row("x", 0, 30.0, vehicles_running=400)) == "400 of 1300 vehicles still running at the end"
    assert list(jams(rows)) == ["learner"]
    clip = tmp_path / "replays" / "learner.gif"
    clip.parent.mkdir()
    clip.write_bytes(b"GIF89a")
    page = write_report(tmp_path / "report.html", rows, [], "t", clips={"learner": clip}).read_text()
    header = page[page.index("<table>") : page.index("</tr>")]
    assert header.index("throughput (veh/h)") < header.index("vehicles arrived (veh)")
    assert header.index("vehicles arrived") < header.index("vehicles not inserted (veh)")
    assert page.count('class="jam"') == 1 and "learner <span" in page
    assert "jammed in 1 of 3 episodes (260 of 1560 vehicles never inserted)" in page
    assert "<h2>Replays</h2>" in page and '<img src="replays/learner.gif"' in page
    assert "Replays" not in write_report(tmp_path / "plain.html", rows, [], "t").read_text()


def test_results_plots_and_reports_are_world_readable(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "note.txt", "x")
        write_rows(tmp_path / "results.csv", quiet_rows())
        plots, report = outputs.write_outputs(tmp_path, quiet_rows(), "t")
        written = [tmp_path / "note.txt", tmp_path / "results.csv", tmp_path / "results.schema.json", *plots, report]
        assert {oct(stat_module.S_IMODE(p.stat().st_mode)) for p in written} == {"0o644"}
        os.umask(0o077)
        atomic_write_text(tmp_path / "private.txt", "x")
        assert stat_module.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600  # the umask is respected
    finally:
        os.umask(previous)


def test_compared_folders_sharing_a_name_are_told_apart_in_the_rows_and_the_title(tmp_path, capsys):
    for parent, curve in (("x", [60.0, 50.0, 40.0]), ("y", [55.0, 45.0, 35.0])):
        (tmp_path / parent).mkdir()
        write_run(tmp_path / parent / "run", CLASSIC, curve)
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "x" / "run"), str(tmp_path / "y" / "run"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "x/run/fixed-time" in printed and "y/run/fixed-time" in printed
    assert "comparison of x/run, y/run" in (out / "report.html").read_text()
