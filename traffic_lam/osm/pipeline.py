"""``import_osm``: an OpenStreetMap extract to a network folder ``traffic-lam`` runs by path or name."""

from __future__ import annotations

import shlex
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from traffic_lam.errors import ConfigError
from traffic_lam.osm.convert import NetSummary, netconvert_osm, read_edges
from traffic_lam.osm.counts import read_counts, routes_from_counts
from traffic_lam.osm.demand import FRACTIONS, Outcome, calibrate, random_routes, simulate
from traffic_lam.osm.folder import staged_folder, write_description
from traffic_lam.osm.inputs import prepare_osm_xml


@dataclass(frozen=True)
class ImportRequest:
    """What to import and how; the fields mirror ``traffic-lam import-osm``'s options.

    Attributes:
        source: the OSM extract (.osm, .osm.gz, .osm.bz2, .osm.pbf).
        out: the network folder to create (its name names the files).
        bbox: keep only roads inside ``(W, S, E, N)``, degrees.
        demand: ``light``, ``medium``, ``heavy`` (calibrated on the map) or vehicles per hour.
        seed: random seed of the demand.
        routes: the user's own ``.rou.xml`` instead of generated demand.
        counts: a CSV of edge counts (edge,begin,end,count) turned into routes instead.
        end: simulated seconds of the demand.
    """

    source: Path
    out: Path
    bbox: tuple[float, float, float, float] | None = None
    demand: str = "medium"
    seed: int = 1
    routes: Path | None = None
    counts: Path | None = None
    end: float = 3600.0


def parse_demand(text: str) -> str:
    """Check ``--demand``: a named intensity or a positive number of vehicles per hour."""
    if text in FRACTIONS:
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 100_000:
        raise ConfigError(f"--demand {text!r}: expected light, medium, heavy or vehicles per hour (0 < VEH_PER_H)")
    return text


def import_osm(request: ImportRequest, recipe: Sequence[str] = (), say: Callable[[str], None] = print) -> Path:
    """Convert ``request.source`` into the network folder ``request.out`` and return it.

    Raises:
        ConfigError: on a bad input file, option or output folder (nothing is created).
        NetworkError: if the map has no roads or no signals, or jams even at the lightest demand.
    """
    request = _absolute(request)  # the SUMO tools run in scratch folders: relative paths would not resolve there
    _check_files(request)
    name = request.out.name
    with staged_folder(request.out) as stage, tempfile.TemporaryDirectory(prefix="traffic-lam-osm-") as scratch:
        work = Path(scratch)
        net = stage / f"{name}.net.xml"
        summary = netconvert_osm(prepare_osm_xml(request.source, work), net, request.bbox)
        say(f"network: {summary.edges} road edges, {len(summary.signals)} signals")
        how = _write_routes(request, net, stage / f"{name}.rou.xml", work, say)
        description = (
            f"Imported from OpenStreetMap ({request.source.name}): {len(summary.signals)} signals, "
            f"{summary.edges} road edges; demand {how}."
        )
        command = " ".join(shlex.quote(part) for part in recipe) or f"traffic-lam import-osm {request.source}"
        write_description(stage, name, description, request.end, command)
    return request.out


def _absolute(request: ImportRequest) -> ImportRequest:
    """``request`` with every path made absolute."""
    return replace(
        request,
        source=request.source.absolute(),
        out=request.out.absolute(),
        routes=request.routes.absolute() if request.routes is not None else None,
        counts=request.counts.absolute() if request.counts is not None else None,
    )


def _check_files(request: ImportRequest) -> None:
    """Refuse at once an option naming a file that does not exist, or two sources of demand."""
    if request.routes is not None and request.counts is not None:
        raise ConfigError("--routes and --counts: give one source of demand, not both")
    for option, path in (("--routes", request.routes), ("--counts", request.counts)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{option} {path}: no such file")


def _write_routes(request: ImportRequest, net: Path, routes: Path, work: Path, say: Callable[[str], None]) -> str:
    """Write the demand into ``routes``; return how it was made, for the description."""
    if request.routes is not None:
        shutil.copyfile(request.routes, routes)
        outcome = simulate(net, routes, request.end, 0)
        say(f"routes {request.routes}: {_report(outcome)}")
        return f"from {request.routes.name}"
    if request.counts is not None:
        counts = read_counts(request.counts, read_edges(net))
        routes_from_counts(net, counts, routes, request.seed)
        outcome = simulate(net, routes, request.end, 0)
        say(f"routes from {len(counts)} edge counts ({request.counts}): {_report(outcome)}")
        return f"from the edge counts in {request.counts.name} (routeSampler)"
    if request.demand in FRACTIONS:
        capacity = calibrate(net, work, request.seed, request.end, say)
        veh_per_h = round(capacity.veh_per_h * FRACTIONS[request.demand])
        label = f"{request.demand}, {veh_per_h} veh/h ({FRACTIONS[request.demand]:g} x the {capacity.veh_per_h:g} veh/h"
        label += " the map carries without jamming)"
    else:
        veh_per_h, label = float(request.demand), f"{float(request.demand):g} veh/h"
    random_routes(net, routes, veh_per_h, request.seed, request.end)
    say(f"demand {label}, seed {request.seed}: {_report(simulate(net, routes, request.end, veh_per_h))}")
    return f"{label}, random trips with seed {request.seed}"


def _report(outcome: Outcome) -> str:
    """The outcome of the map's own programs under the demand, as a sentence."""
    locked = "locked or jammed" if outcome.jammed else "no lock, no jam"
    return (
        f"{outcome.loaded} vehicles, {outcome.never_inserted} never inserted, {outcome.teleports} teleports, "
        f"{outcome.running_at_end} running at the end: {locked}"
    )


__all__ = ["ImportRequest", "NetSummary", "import_osm", "parse_demand"]
