"""Run a scenario: train, evaluate every controller on the same seeds, store, plot, report.

Work is cut into independent jobs run by :mod:`traffic_lam.experiments.executors`:

* a *training job* per learning controller (skipped when its trained model is already in
  the run folder: a re-run resumes);
* an *evaluation job* per (controller, seed, episode) (skipped when its row is already in
  ``results.csv``).

A learner's training validates its policy (the training budget's ``validate_every``,
:mod:`traffic_lam.controllers.selection`) and the job saves, beside the final policy
(``models/<label>/model.final``), the selected one (``model.selected``: the best validation
delay) and what was selected (``selection.json``). The label ``<label>`` is then evaluated
with the selected policy (rows with ``policy`` ``selected``) and, when it is not the final
one, the label ``<label>.final`` with the final policy (``policy`` ``final``); a learner
without a selected policy is evaluated with its final one. Classic controllers' rows have
no ``policy``.

Each finished evaluation job is written to ``results.csv`` at once (atomically), so an
interrupted run loses at most the jobs in flight. Before any job, everything is checked
and the run folder opened by the run's fingerprint (:func:`prepare_run`): a folder holding
results of another scenario is refused rather than mixed. A failed job is reported on its
own (its traceback in ``logs/failures.log``) and the others go on; a re-run retries it.

A ``progress`` callback hears of every training episode of every learner as it ends (read
from the learner's curve file: :mod:`traffic_lam.experiments.progress`) and of every
evaluated episode.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traffic_lam.controllers.base import Controller, read_document
from traffic_lam.controllers.budget import TrainingBudget
from traffic_lam.controllers.selection import RewardHackingWarning, Selection
from traffic_lam.errors import ConfigError, ControllerError
from traffic_lam.experiments.executors import Outcome, check_executor, run_jobs
from traffic_lam.experiments.fingerprint import fingerprint
from traffic_lam.experiments.progress import CurveWatcher, ProgressCallback, ProgressUpdate
from traffic_lam.experiments.run_folder import check_output_folder, log_failure, open_run_folder
from traffic_lam.experiments.scenario import ControllerSpec, Scenario
from traffic_lam.experiments.store import ResultsStore, job_key

if TYPE_CHECKING:
    from traffic_lam.env.config import EnvConfig

EPISODE_SEED_STRIDE = 1000
"""Episode ``k`` of evaluation seed ``s`` runs SUMO with seed ``s + 1000 * k``."""
SELECTED, FINAL = "selected", "final"
"""The ``policy`` of a learner's rows: the policy validation selected, or the one at the end of training."""
FINAL_SUFFIX = ".final"
"""``ppo`` -> ``ppo.final``: the label of a learner's final policy, evaluated when it is not the selected one."""


@dataclass(frozen=True)
class TrainJob:
    """Train one learning controller and save it into the run folder."""

    scenario: Scenario
    controller: ControllerSpec
    run_dir: str


@dataclass(frozen=True)
class EvalJob:
    """Evaluate one controller for one episode.

    Attributes:
        label: the rows' controller label (default: the controller's name).
        policy: a learner's policy to evaluate (:data:`SELECTED` or :data:`FINAL`); ``""`` for classic ones.
    """

    scenario: Scenario
    controller: ControllerSpec
    seed: int
    episode: int
    run_dir: str
    label: str = ""
    policy: str = ""


@dataclass
class RunSummary:
    """What a run did.

    Attributes:
        run_dir: the run folder.
        rows: every stored episode row (including those of earlier runs).
        evaluated: evaluation jobs run now.
        skipped: evaluation jobs found done (resume).
        trained: learners trained now.
        to_train: learners whose training was started now (trained or failed).
        training_s: wall-clock seconds from the start of the training jobs (all learners) to the end of the last.
        evaluation_s: the same for the evaluation jobs.
        failures: ``(job description, error)`` of failed jobs.
        failure_log: the file their tracebacks were appended to (None when no job failed).
        plots: PNG files written.
        report: the HTML report.
    """

    run_dir: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    evaluated: int = 0
    skipped: int = 0
    trained: int = 0
    to_train: int = 0
    training_s: float = 0.0
    evaluation_s: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    failure_log: Path | None = None
    plots: list[Path] = field(default_factory=list)
    report: Path | None = None


def model_path(run_dir: str | Path, controller: str, policy: str = FINAL) -> Path:
    """Where a trained controller of the run is saved: its final or selected policy (looking it up creates nothing)."""
    return ResultsStore(run_dir).model_folder(controller) / f"model.{policy}"


def labelled_model(run_dir: str | Path, label: str) -> Path:
    """The model behind a results label: ``<name>.final`` -> its final policy; ``<name>`` -> the selected one if any.

    Looking it up creates nothing; the path may not exist (not trained yet).
    """
    if label.endswith(FINAL_SUFFIX):
        return model_path(run_dir, label[: -len(FINAL_SUFFIX)], FINAL)
    selected = model_path(run_dir, label, SELECTED)
    return selected if selected.exists() else model_path(run_dir, label, FINAL)


def selection_path(run_dir: str | Path, controller: str) -> Path:
    """A learner's ``selection.json``: which policy validation selected (looking it up creates nothing)."""
    return ResultsStore(run_dir).model_folder(controller) / "selection.json"


def read_selection(run_dir: str | Path, controller: str) -> dict[str, Any] | None:
    """What ``selection.json`` says (``episode``, ``final_episode``, ``delay_s``, ``warning``); None without one."""
    try:
        found = json.loads(selection_path(run_dir, controller).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def evaluated_policies(run_dir: str | Path, spec: ControllerSpec) -> list[tuple[str, str]]:
    """``(label, policy)`` of each evaluation of ``spec``: see the module (a classic controller: its label, ``""``)."""
    from traffic_lam.controllers import make_controller

    if not make_controller(spec.type, spec.args).needs_training:
        return [(spec.name, "")]
    selection = read_selection(run_dir, spec.name)
    if selection is None or not model_path(run_dir, spec.name, SELECTED).exists():
        return [(spec.name, FINAL)]
    if selection.get("episode") == selection.get("final_episode"):
        return [(spec.name, SELECTED)]
    return [(spec.name, SELECTED), (spec.name + FINAL_SUFFIX, FINAL)]


@dataclass(frozen=True)
class PreparedRun:
    """A run checked and its folder opened, ready for :func:`execute_run`.

    Attributes:
        scenario: the validated scenario.
        store: the run folder's results store.
        learners: the controllers that need training.
        workers: jobs at a time.
        executor: ``"local"`` or ``"ray"``.
        notes: what opening the folder did (one line each, for the user).
    """

    scenario: Scenario
    store: ResultsStore
    learners: tuple[ControllerSpec, ...]
    workers: int = 1
    executor: str = "local"
    notes: tuple[str, ...] = ()


def prepare_run(
    scenario: Scenario, out_dir: str | Path, workers: int = 1, executor: str = "local", on_change: str = "refuse"
) -> PreparedRun:
    """Check everything a run needs, then open its folder; nothing is created when a check fails.

    Checks the worker count and executor, the network, the environment options, every
    controller and its arguments (:func:`check_scenario`) and the output folder, then
    opens the folder by the run's fingerprint (:mod:`traffic_lam.experiments.run_folder`).

    Args:
        scenario: the validated scenario.
        out_dir: the run folder.
        workers: jobs at a time (processes).
        executor: ``"local"`` or ``"ray"``.
        on_change: when the folder holds results of another fingerprint: ``"refuse"``,
            ``"restart"`` or ``"resume-anyway"``.

    Raises:
        TrafficLamError: the first problem found, as one line (a changed folder: ``RunFolderError``).
    """
    from traffic_lam.controllers import make_controller

    check_executor(workers, executor)
    config = check_scenario(scenario)
    check_output_folder(out_dir)
    opened = open_run_folder(out_dir, fingerprint(scenario, config), scenario.path, on_change)
    learners = tuple(c for c in scenario.controllers if make_controller(c.type, c.args).needs_training)
    return PreparedRun(scenario, opened.store, learners, workers, executor, opened.notes)


def run_scenario(
    scenario: Scenario,
    out_dir: str | Path,
    workers: int = 1,
    executor: str = "local",
    progress: ProgressCallback | None = None,
    on_change: str = "refuse",
) -> RunSummary:
    """Run ``scenario`` into ``out_dir``, resuming what is there: :func:`prepare_run`, then :func:`execute_run`.

    Args:
        scenario: the validated scenario.
        out_dir: the run folder.
        workers: jobs at a time (processes).
        executor: ``"local"`` or ``"ray"``.
        progress: optional callback, told every :class:`~traffic_lam.experiments.progress.ProgressUpdate`.
        on_change: what to do when the folder holds results of another fingerprint (see :func:`prepare_run`).

    Returns:
        A :class:`RunSummary`; failed jobs are listed, not raised.
    """
    return execute_run(prepare_run(scenario, out_dir, workers, executor, on_change), progress)


def execute_run(run: PreparedRun, progress: ProgressCallback | None = None) -> RunSummary:
    """Train what is not trained, evaluate what is not evaluated, then draw the plots and write the report.

    Each failed job is listed in the summary and its traceback appended to the run
    folder's ``logs/failures.log``; the other jobs go on. ``progress`` is told of every
    training episode of every learner (while it trains) and of every evaluated episode,
    the evaluation's first update (0 done) before its first job starts.
    """
    scenario, store = run.scenario, run.store
    summary = RunSummary(store.run_dir)
    failed_training = _train(run, summary, progress)
    _evaluate(run, summary, failed_training, progress)

    summary.rows = store.rows
    if summary.rows:
        summary.plots, summary.report = write_outputs(
            store.run_dir, summary.rows, title=f"traffic_lam — {scenario.name}"
        )
    return summary


def _evaluate(
    run: PreparedRun, summary: RunSummary, failed_training: set[str], progress: ProgressCallback | None
) -> None:
    """Run the evaluation jobs not done yet (not those of learners whose training failed)."""
    scenario, store = run.scenario, run.store
    finished = store.done()
    jobs: list[EvalJob] = []
    for controller in scenario.controllers:
        if controller.name in failed_training:
            continue
        for label, policy in evaluated_policies(store.run_dir, controller):
            for seed in scenario.evaluation.seeds:
                for episode in range(scenario.evaluation.episodes):
                    if job_key(label, seed, episode) in finished:
                        summary.skipped += 1
                    else:
                        jobs.append(EvalJob(scenario, controller, seed, episode, str(store.run_dir), label, policy))
    started = time.perf_counter()
    if progress and jobs:
        progress(ProgressUpdate("evaluate", 0, len(jobs)))
    for done, outcome in enumerate(run_jobs(eval_job, jobs, run.workers, run.executor), start=1):
        _collect(store, summary, outcome)
        summary.evaluation_s = time.perf_counter() - started  # until the last job (not the workers' exit)
        if progress:
            latest = outcome.result[0] if outcome.result else {}
            update = ProgressUpdate("evaluate", done, len(jobs), "", latest, summary.evaluation_s, done == len(jobs))
            progress(update)


def _train(run: PreparedRun, summary: RunSummary, progress: ProgressCallback | None) -> set[str]:
    """Train the learners not trained yet (as :func:`execute_run` says); return the names whose training failed."""
    store = run.store
    untrained = [c for c in run.learners if not _trained(store.run_dir, c.name)]
    to_train = [TrainJob(run.scenario, c, str(store.run_dir)) for c in untrained]
    curves = {c.name: (store.curve_path(c.name), c.training.episodes) for c in untrained}
    started = time.perf_counter()
    with CurveWatcher(curves, progress) as watcher:
        for outcome in run_jobs(train_job, to_train, run.workers, run.executor):
            if outcome.error:
                _failed(store, summary, f"train {outcome.job.controller.name}", outcome)
            else:
                summary.trained += 1
            summary.training_s = time.perf_counter() - started  # until the last job (not the workers' exit)
            took = outcome.result.wall_s if isinstance(outcome.result, Trained) else None
            watcher.finished(outcome.job.controller.name, failed=outcome.error is not None, wall_s=took)
    summary.to_train = len(to_train)
    return {job.controller.name for job in to_train if not _trained(store.run_dir, job.controller.name)}


def check_scenario(scenario: Scenario) -> EnvConfig:
    """Resolve the network, validate the environment options, observation and reward, and build every controller.

    Each controller is checked against the network, with the environment options it needs.

    Returns:
        The scenario's environment configuration (network resolved, defaults applied).

    Raises:
        TrafficLamError: the first problem found, as one line.
    """
    from traffic_lam.controllers import make_controller
    from traffic_lam.env.observations import make_observation
    from traffic_lam.env.parallel_env import build_config
    from traffic_lam.env.rewards import make_reward
    from traffic_lam.signals import read_signal_layouts

    config = build_config(scenario.network, **scenario_env_options(scenario, {}))
    make_observation(config.observation)
    make_reward(config.reward)
    layouts = read_signal_layouts(config.network.net_file, config.network.additional_files, config.signals)
    for spec in scenario.controllers:
        controller = make_controller(spec.type, spec.args)
        own = build_config(config.network, **scenario_env_options(scenario, controller.env_options()))
        make_observation(own.observation)
        controller.check_network(config.network, layouts)
        if controller.needs_training:
            _check_validation_seeds(scenario, spec)
    return config


def _check_validation_seeds(scenario: Scenario, spec: ControllerSpec) -> None:
    """Refuse validation seeds that are training seeds (the budget's check) or evaluation seeds."""
    try:
        budget = spec.training.budget()
    except ConfigError as exc:
        raise ConfigError(f"controller '{spec.name}': {exc}") from None
    evaluation = {s + EPISODE_SEED_STRIDE * k for s in scenario.evaluation.seeds
                  for k in range(scenario.evaluation.episodes)}  # fmt: skip
    clash = sorted(evaluation & set(budget.validation_seeds))
    if budget.validate_every and clash:
        raise ConfigError(
            f"training.validation_seeds: {clash[0]} is an evaluation seed of the scenario; "
            "expected seeds apart from the evaluation ones"
        )


def _collect(store: ResultsStore, summary: RunSummary, outcome: Outcome[EvalJob]) -> None:
    job = outcome.job
    if outcome.error:
        what = f"evaluate {job.label or job.controller.name} seed {job.seed} episode {job.episode}"
        _failed(store, summary, what, outcome)
        return
    store.add(outcome.result)
    summary.evaluated += 1


def _failed(store: ResultsStore, summary: RunSummary, what: str, outcome: Outcome[Any]) -> None:
    """List a failed job in the summary and append its traceback to the run folder's failure log."""
    summary.failures.append((what, outcome.error or "failed"))
    summary.failure_log = log_failure(store.run_dir, what, outcome.traceback or outcome.error or "failed")


def _trained(run_dir: str | Path, controller: str) -> bool:
    """Whether the learner's save is complete: its document (written last, after any artefact) reads."""
    try:
        read_document(model_path(run_dir, controller))
    except ControllerError:
        return False
    return True


@dataclass(frozen=True)
class Trained:
    """What a training job did.

    Attributes:
        model: where the trained learner is saved.
        wall_s: wall-clock seconds of the job (simulations started, training, saving).
    """

    model: str
    wall_s: float


def train_job(job: TrainJob) -> Trained:
    """Train one learner and save it: its selected policy first, then the final one (module level: runs in workers).

    The final policy's save, last, marks the training done (a re-run skips it). A
    reward-hacking warning is not printed here: it is in the run folder
    (``curves/<label>.warnings.json``), and the summary and report show it.
    """
    from traffic_lam.controllers import make_controller
    from traffic_lam.env.factory import EnvFactory

    started = time.perf_counter()
    scenario, spec = job.scenario, job.controller
    controller = make_controller(spec.type, spec.args)
    store = ResultsStore(job.run_dir)
    factory = EnvFactory(scenario.network, scenario_env_options(scenario, controller.env_options()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RewardHackingWarning)
        controller.learn(factory, training_budget(spec.training, store, spec.name))
    save_selection(job.run_dir, spec.name, getattr(controller, "selection", None))
    target = model_path(job.run_dir, spec.name)
    controller.save(target)
    return Trained(str(target), time.perf_counter() - started)


def save_selection(run_dir: str | Path, controller: str, selection: Selection | None) -> None:
    """Save the selected policy (``model.selected``) and ``selection.json`` into a learner's model folder.

    Without a selection (a budget that never validates) the folder's earlier ones are removed.
    """
    from traffic_lam.files import atomic_write_text

    path = selection_path(run_dir, controller)
    if selection is None:
        path.unlink(missing_ok=True)
        return
    selection.controller.save(model_path(run_dir, controller, SELECTED))
    facts = {"episode": selection.episode, "final_episode": selection.final_episode,
             "delay_s": selection.delay_s, "warning": selection.warning}  # fmt: skip
    atomic_write_text(path, json.dumps(facts, indent=2) + "\n")


def training_budget(training: Any, store: ResultsStore, controller: str) -> TrainingBudget:
    """The budget of a scenario's ``training`` section, checkpointing and writing the curve into the run folder."""
    return TrainingBudget(
        episodes=training.episodes,
        seed=training.seed,
        num_envs=training.num_envs,
        checkpoint_every=training.checkpoint_every,
        checkpoint_dir=store.model_dir(controller),
        curve_file=store.curve_path(controller),
        validate_every=training.validate_every,
        validation_seeds=training.validation_seeds,
    )


def eval_job(job: EvalJob) -> list[dict[str, Any]]:
    """Evaluate one (controller, seed, episode); return its row (module level: runs in workers)."""
    from traffic_lam.controllers import make_controller
    from traffic_lam.evaluation import evaluate

    scenario, spec = job.scenario, job.controller
    label = job.label or spec.name
    controller = make_controller(spec.type, spec.args)
    if controller.needs_training:
        controller = _load_trained(job.run_dir, spec.name, controller.name, job.policy or FINAL)
    store = ResultsStore(job.run_dir)
    sumo_seed = job.seed + EPISODE_SEED_STRIDE * job.episode
    started = time.perf_counter()
    records = evaluate(
        scenario.network,
        controller,
        episodes=1,
        seed=sumo_seed,
        out_dir=store.episode_dir(label, job.seed, job.episode),
        ssm=scenario.evaluation.ssm,
        **scenario_env_options(scenario, {}),
    )
    row = records[0].to_row()
    row.update(controller=label, controller_type=spec.type, policy=job.policy or None, seed=job.seed,
               episode=job.episode, sumo_seed=sumo_seed, job_wall_time_s=time.perf_counter() - started)  # fmt: skip
    return [row]


def _load_trained(run_dir: str | Path, label: str, expected: str, policy: str = FINAL) -> Controller:
    """The learner trained for ``label`` in the run folder (its ``policy``), checked to be the scenario's kind."""
    from traffic_lam.controllers import load

    path = model_path(run_dir, label, policy)
    trained = load(path)
    if trained.name != expected:
        raise ControllerError(f"{path}: holds controller '{trained.name}', but '{label}' is a '{expected}' here")
    return trained


def scenario_env_options(scenario: Scenario, controller_options: dict[str, Any]) -> dict[str, Any]:
    """The options of :func:`traffic_lam.make_env` a scenario gives a controller (its own needs last)."""
    options = dict(scenario.env_options)
    if scenario.route_file:
        options["route_file"] = scenario.route_file
    options.update(controller_options)
    return options


def write_outputs(run_dir: Path, rows: list[dict[str, Any]], title: str) -> tuple[list[Path], Path]:
    """Draw the comparison plots (learning curves from the folder's ``curves/``) and write ``report.html``.

    The report embeds the clips the folder's ``scenario.yaml`` asks for (its ``replay`` section).
    """
    from traffic_lam.replay.play import record_clips
    from traffic_lam.report.outputs import write_outputs as draw

    return draw(run_dir, rows, title, clips=record_clips(run_dir))
