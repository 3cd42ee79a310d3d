"""``traffic-lam import-osm``: an OpenStreetMap extract to a runnable network folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from traffic_lam.cli.options import add_command


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``import-osm``."""
    parser = add_command(
        commands,
        "import-osm",
        summary="convert an OpenStreetMap extract into a network with signals and demand",
        description=(
            "Convert an OpenStreetMap extract (.osm, .osm.gz, .osm.bz2, or .osm.pbf with the osm extra) with "
            "SUMO's netconvert: signals guessed and joined, junction clusters joined, only roads cars use, ramps "
            "and roundabouts guessed. Demand is random trips routed by duarouter at an intensity calibrated on "
            "the map itself (medium = the heaviest demand its own programs carry without jamming, light = half, "
            "heavy = 1.5 times), a number of vehicles per hour, your own routes, or edge counts turned into "
            "routes by routeSampler. Writes the network, routes, network.yaml, a .sumocfg and the OSM licence "
            "note into --out (created only when complete), then prints the check-network report."
        ),
        usage_examples=(
            "traffic-lam import-osm city.osm.pbf --out networks/city",
            "traffic-lam import-osm city.osm --out networks/centre --bbox 24.9355,60.1695,24.9455,60.1722",
            "traffic-lam import-osm city.osm.bz2 --out networks/city --demand 800 --seed 3",
            "traffic-lam import-osm city.osm --out networks/city --counts counts.csv",
            "traffic-lam run scenarios/quickstart.yaml  # with network: networks/city",
        ),
        handler=import_osm_command,
    )
    parser.add_argument("file", metavar="FILE", help="the OpenStreetMap extract")
    parser.add_argument("--out", required=True, help="the network folder to create (its name names the files)")
    parser.add_argument("--bbox", help="keep only roads inside W,S,E,N (degrees)")
    parser.add_argument(
        "--demand", default="medium", help="light, medium, heavy (calibrated on the map) or VEH_PER_H (default medium)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the demand (default 1)")
    demand = parser.add_mutually_exclusive_group()
    demand.add_argument("--routes", help="use this .rou.xml instead of generated demand")
    demand.add_argument("--counts", help="CSV edge,begin,end,count: routes that reproduce these counts")


def import_osm_command(args: argparse.Namespace) -> int:
    """``traffic-lam import-osm``: import, then print the ``check-network`` report of the new folder."""
    from traffic_lam.cli.catalogue import check_network_command
    from traffic_lam.osm import ImportRequest, import_osm, parse_demand
    from traffic_lam.osm.inputs import parse_bbox

    request = ImportRequest(
        source=Path(args.file),
        out=Path(args.out),
        bbox=parse_bbox(args.bbox) if args.bbox else None,
        demand=parse_demand(args.demand),
        seed=args.seed,
        routes=Path(args.routes) if args.routes else None,
        counts=Path(args.counts) if args.counts else None,
    )
    folder = import_osm(request, recipe=["traffic-lam", *sys.argv[1:]] if sys.argv[1:2] == ["import-osm"] else ())
    print(f"written: {folder}")
    return check_network_command(argparse.Namespace(network=str(folder), route_file=None))
