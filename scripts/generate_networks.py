#!/usr/bin/env python3
"""Generate the bundled SUMO networks and demand under ``networks/``.

Every network is built with SUMO's own tools (``netgenerate``, ``netconvert``,
``randomTrips.py`` and ``duarouter``) using fixed random seeds, so running the
script twice yields byte-identical files. SUMO's ``<!-- generated on ... -->``
header comments (which carry the date, the SUMO version and absolute paths)
are stripped from every output file.

Usage::

    python scripts/generate_networks.py                 # regenerate everything
    python scripts/generate_networks.py --only grid2x2  # regenerate one network
    python scripts/generate_networks.py --check         # verify committed files

The output is tied to the SUMO version used to create it (see
``SUMO_VERSION_HINT``); other SUMO versions may produce slightly different
files, which ``--check`` reports.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shlex
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = REPO_ROOT / "networks"
SUMO_VERSION_HINT = "1.28.0"

BEGIN = 0
END = 3600

# Options shared by every netgenerate/netconvert call: signalise every inner
# junction with a static program and never build U-turn connections.
COMMON_NET_OPTIONS: tuple[str, ...] = (
    "--default.junctions.type",
    "traffic_light",
    "--tls.default-type",
    "static",
    "--no-turnarounds",
)

# Attributes of every generated vehicle: insert on the best lane at full speed.
TRIP_ATTRIBUTES = 'departLane="best" departSpeed="max"'

_HEADER_RE = re.compile(r"<!-- generated on .*?-->\n*", re.DOTALL)


class GenerationError(RuntimeError):
    """Raised when a SUMO tool fails or produces unexpected output."""


@dataclass(frozen=True)
class Demand:
    """One batch of random trips produced by a single ``randomTrips.py`` call.

    All trips run from a fringe edge entering the network to a fringe edge
    leaving it (``--fringe-factor max``), with uniformly random departure
    times in ``[BEGIN, END)``.

    Attributes:
        prefix: Prefix of the vehicle ids of this batch.
        seed: Random seed passed to ``randomTrips.py``.
        vehicles_per_hour: Insertion rate of the batch.
        min_distance: Minimum straight-line distance (m) between the origin
            edge's start junction and the destination edge's end junction.
        max_distance: Optional maximum for the same distance.
        direction: If ``"east"`` or ``"west"``, trips enter the network only on
            the horizontal (arterial) streets at one end and leave them only at
            the other end, moving in that direction (via ``--weights-prefix``).
    """

    prefix: str
    seed: int
    vehicles_per_hour: int
    min_distance: float
    max_distance: float | None = None
    direction: Literal["east", "west"] | None = None


@dataclass(frozen=True)
class NetPatch:
    """Plain-XML patch files (names relative to the work directory).

    Attributes:
        edge_files: Edge files loaded after netgenerate's edges (attributes of
            already defined edges are overridden).
        connection_files: Connection files (e.g. ``<delete>`` entries).
    """

    edge_files: tuple[str, ...] = ()
    connection_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkSpec:
    """Recipe for one bundled network.

    Attributes:
        name: Folder and file stem of the network.
        description: One-sentence description written to ``network.yaml``.
        netgenerate_args: Network-shape options for ``netgenerate``
            (``COMMON_NET_OPTIONS`` are added automatically).
        patch: Optional function that inspects the raw netgenerate output,
            writes netconvert patch files into a work directory and returns
            them; the network is then rebuilt from netgenerate's plain XML plus
            these patches.
        demands: Trip batches merged into the single routes file.
    """

    name: str
    description: str
    netgenerate_args: tuple[str, ...]
    demands: tuple[Demand, ...]
    patch: Callable[[Path, Path], NetPatch] | None = field(default=None)


class Edge(NamedTuple):
    """A normal (non-internal) edge of a network.

    Attributes:
        id: Edge id.
        src: Id of the junction the edge starts at.
        dst: Id of the junction the edge ends at.
        dx: x-offset from the start junction to the end junction (m).
        dy: y-offset from the start junction to the end junction (m).
    """

    id: str
    src: str
    dst: str
    dx: float
    dy: float

    @property
    def horizontal(self) -> bool:
        """Whether the edge runs (mostly) east-west."""
        return abs(self.dx) >= abs(self.dy)


def _edges(net_file: Path) -> list[Edge]:
    """List the normal (non-internal) edges of a network.

    Args:
        net_file: Path to a SUMO ``.net.xml`` file.

    Returns:
        The edges in file order.
    """
    root = ET.parse(net_file).getroot()
    coords = {j.get("id", ""): (float(j.get("x", "0")), float(j.get("y", "0"))) for j in root.iter("junction")}
    result = []
    for edge in root.iter("edge"):
        if edge.get("function") == "internal":
            continue
        src, dst = edge.get("from", ""), edge.get("to", "")
        (x1, y1), (x2, y2) = coords[src], coords[dst]
        result.append(Edge(edge.get("id", ""), src, dst, x2 - x1, y2 - y1))
    return result


def patch_exclusive_left_lanes(raw_net: Path, workdir: Path) -> NetPatch:
    """Turn the leftmost lane of every signalised approach into a left-only lane.

    Straight movements from the leftmost lane are deleted, so that each
    two-lane approach has one through/right lane and one exclusive left-turn
    lane. SUMO then builds protected left-turn phases for the program.

    Args:
        raw_net: The network produced by netgenerate.
        workdir: Directory to write the connection patch file into.

    Returns:
        The patch files to load on top of netgenerate's plain XML output.
    """
    root = ET.parse(raw_net).getroot()
    tls_nodes = {j.get("id") for j in root.iter("junction") if j.get("type") == "traffic_light"}
    lane_counts = {e.get("id"): len(e.findall("lane")) for e in root.iter("edge") if e.get("function") != "internal"}
    to_node = {e.get("id"): e.get("to") for e in root.iter("edge")}
    lines = ["<connections>"]
    for con in root.iter("connection"):
        src = con.get("from", "")
        if src.startswith(":") or to_node.get(src) not in tls_nodes:
            continue
        left_lane = str(lane_counts[src] - 1)
        if con.get("dir") == "s" and con.get("fromLane") == left_lane and left_lane != "0":
            lines.append(
                f'    <delete from="{src}" to="{con.get("to")}" '
                f'fromLane="{con.get("fromLane")}" toLane="{con.get("toLane")}"/>'
            )
    lines.append("</connections>")
    patch_file = workdir / "patch.con.xml"
    patch_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return NetPatch(connection_files=(patch_file.name,))


def patch_arterial_lanes(raw_net: Path, workdir: Path) -> NetPatch:
    """Reduce all vertical (cross-street) edges to one lane per direction.

    The horizontal edges keep the two lanes per direction that netgenerate
    built, forming the arterials.

    Args:
        raw_net: The network produced by netgenerate (two lanes everywhere).
        workdir: Directory to write the edge patch file into.

    Returns:
        The patch files to load on top of netgenerate's plain XML output.
    """
    lines = ["<edges>"]
    for edge in _edges(raw_net):
        if not edge.horizontal:
            lines.append(f'    <edge id="{edge.id}" numLanes="1"/>')
    lines.append("</edges>")
    patch_file = workdir / "patch.edg.xml"
    patch_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return NetPatch(edge_files=(patch_file.name,))


def grid_args(side: int) -> tuple[str, ...]:
    """netgenerate arguments of a ``side`` x ``side`` grid: junctions and fringe arms 200 m apart, two lanes a way."""
    return (
        "--grid",
        "--grid.number",
        str(side),
        "--grid.length",
        "200",
        "--grid.attach-length",
        "200",
        "--default.lanenumber",
        "2",
    )


NETWORKS: dict[str, NetworkSpec] = {
    spec.name: spec
    for spec in (
        NetworkSpec(
            name="single-intersection",
            description=(
                "One signalised four-arm intersection with 175 m arms, each approach "
                "having a through/right lane and an exclusive left-turn lane, under a "
                "static eight-phase program with protected lefts."
            ),
            netgenerate_args=(
                "--grid",
                "--grid.number",
                "1",
                "--grid.attach-length",
                "175",
                "--default.lanenumber",
                "2",
            ),
            patch=patch_exclusive_left_lanes,
            demands=(Demand(prefix="veh", seed=42, vehicles_per_hour=2700, min_distance=100),),
        ),
        NetworkSpec(
            name="grid2x2",
            description=(
                "A 2x2 grid of signalised junctions 200 m apart with 200 m fringe arms "
                "and two lanes per direction on every street."
            ),
            netgenerate_args=grid_args(2),
            demands=(Demand(prefix="veh", seed=42, vehicles_per_hour=3600, min_distance=300),),
        ),
        NetworkSpec(
            name="grid4x4",
            description=(
                "A 4x4 grid of signalised junctions 200 m apart with 200 m fringe arms "
                "and two lanes per direction on every street."
            ),
            netgenerate_args=grid_args(4),
            demands=(Demand(prefix="veh", seed=42, vehicles_per_hour=4800, min_distance=400),),
        ),
        NetworkSpec(
            name="arterial4x4",
            description=(
                "A 4x4 grid of signalised junctions whose east-west streets are "
                "arterials with two lanes per direction and heavy through demand, "
                "crossed by north-south streets with one lane per direction."
            ),
            netgenerate_args=grid_args(4),
            patch=patch_arterial_lanes,
            demands=(
                # East- and westbound arterial through traffic; the maximum
                # distance keeps origin and destination on the same or a
                # neighbouring arterial (same row: 1000 m, next row: ~1020 m).
                Demand(
                    prefix="east",
                    seed=42,
                    vehicles_per_hour=1000,
                    min_distance=400,
                    max_distance=1050,
                    direction="east",
                ),
                Demand(
                    prefix="west",
                    seed=43,
                    vehicles_per_hour=1000,
                    min_distance=400,
                    max_distance=1050,
                    direction="west",
                ),
                # Background traffic between all fringe edges.
                Demand(prefix="bg", seed=44, vehicles_per_hour=800, min_distance=400),
            ),
        ),
    )
}


@dataclass(frozen=True)
class Sumo:
    """Locations of the SUMO installation used for generation.

    Attributes:
        home: The SUMO_HOME directory.
        env: Environment for child processes (with SUMO_HOME set).
    """

    home: Path
    env: dict[str, str]

    def binary(self, name: str) -> str:
        """Return the path of a SUMO binary such as ``netgenerate``.

        Args:
            name: Binary name without extension.

        Returns:
            Absolute path of the executable.
        """
        suffix = ".exe" if os.name == "nt" else ""
        return str(self.home / "bin" / f"{name}{suffix}")

    def tool(self, relative: str) -> str:
        """Return the path of a script under ``$SUMO_HOME/tools``.

        Args:
            relative: Path relative to the tools directory.

        Returns:
            Absolute path of the script.
        """
        return str(self.home / "tools" / relative)


def find_sumo() -> Sumo:
    """Locate SUMO via the ``sumo`` pip package, falling back to ``$SUMO_HOME``.

    Returns:
        The located installation.

    Raises:
        GenerationError: If no usable SUMO installation is found.
    """
    home: str | None = None
    try:
        import sumo  # type: ignore[import-untyped]

        home = str(sumo.SUMO_HOME)
    except (ImportError, AttributeError):
        home = os.environ.get("SUMO_HOME")
    if not home or not (Path(home) / "bin").is_dir():
        raise GenerationError("cannot find SUMO: install the 'eclipse-sumo' pip package or set SUMO_HOME")
    env = dict(os.environ)
    env["SUMO_HOME"] = home
    env["PYTHONHASHSEED"] = "0"
    return Sumo(home=Path(home), env=env)


def run(cmd: Sequence[str], cwd: Path, sumo: Sumo, verbose: bool) -> None:
    """Run a command in ``cwd`` and raise with its output if it fails.

    Args:
        cmd: Command and arguments.
        cwd: Working directory (all file arguments are relative to it).
        sumo: SUMO installation, providing the child environment.
        verbose: Print the command line (with SUMO paths shortened).

    Raises:
        GenerationError: If the command exits with a non-zero status.
    """
    if verbose:
        shown = [a.replace(str(sumo.home), "$SUMO_HOME") for a in cmd]
        shown[0] = Path(shown[0]).name if shown[0] != sys.executable else "python"
        print("  $ " + shlex.join(shown), flush=True)
    proc = subprocess.run(list(cmd), cwd=cwd, env=sumo.env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GenerationError(f"command failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}")


def strip_header(path: Path) -> None:
    """Remove SUMO's ``<!-- generated on ... -->`` comment from an XML file.

    Args:
        path: File to rewrite in place.

    Raises:
        GenerationError: If the file still contains an absolute path afterwards.
    """
    text = path.read_text(encoding="utf-8")
    text = _HEADER_RE.sub("", text, count=1)
    path.write_text(text, encoding="utf-8")
    if str(path.parent) in text or str(REPO_ROOT) in text:
        raise GenerationError(f"{path.name} contains an absolute path")


def write_weights(net_file: Path, workdir: Path, direction: Literal["east", "west"]) -> str:
    """Write randomTrips weight files for directional arterial through trips.

    Sources are the horizontal edges that enter the network from a dead-end
    fringe junction heading in ``direction``; sinks are the horizontal edges
    that leave the network towards a dead-end fringe junction in the same
    direction. All other edges get weight 0.

    Args:
        net_file: The final network.
        workdir: Directory receiving ``<prefix>.src.xml`` and ``<prefix>.dst.xml``.
        direction: Travel direction of the trips.

    Returns:
        The prefix to pass to ``--weights-prefix``.
    """
    edges = _edges(net_file)
    degree: dict[str, int] = {}
    for edge in edges:
        degree[edge.src] = degree.get(edge.src, 0) + 1
        degree[edge.dst] = degree.get(edge.dst, 0) + 1
    sign = 1.0 if direction == "east" else -1.0
    along = [e for e in edges if e.horizontal and e.dx * sign > 0]
    sources = [e.id for e in along if degree[e.src] <= 2]  # dead end: one edge in, one out
    sinks = [e.id for e in along if degree[e.dst] <= 2]
    prefix = f"arterial-{direction}"
    for suffix, ids in (("src", sources), ("dst", sinks)):
        body = "".join(f'        <edge id="{eid}" value="1"/>\n' for eid in ids)
        (workdir / f"{prefix}.{suffix}.xml").write_text(
            "<edgedata>\n"
            f'    <interval id="{prefix}" begin="{BEGIN}" end="{END}">\n'
            f"{body}"
            "    </interval>\n"
            "</edgedata>\n",
            encoding="utf-8",
        )
    return prefix


def check_routes(rou_file: Path) -> int:
    """Validate a routes file and count its vehicles.

    Args:
        rou_file: Routes file written by duarouter.

    Returns:
        Number of vehicles.

    Raises:
        GenerationError: If vehicles are not sorted by depart time, lack a
            route, or depart outside ``[BEGIN, END)``.
    """
    departs = []
    for veh in ET.parse(rou_file).getroot().iter("vehicle"):
        route = veh.find("route")
        if route is None or not route.get("edges"):
            raise GenerationError(f"vehicle {veh.get('id')} in {rou_file.name} has no route")
        departs.append(float(veh.get("depart", "nan")))
    if departs != sorted(departs):
        raise GenerationError(f"{rou_file.name} is not sorted by depart time")
    if departs and (departs[0] < BEGIN or departs[-1] >= END):
        raise GenerationError(f"{rou_file.name} has departures outside [{BEGIN}, {END})")
    return len(departs)


def network_yaml(spec: NetworkSpec) -> str:
    """Render the ``network.yaml`` descriptor of a network.

    Args:
        spec: The network recipe.

    Returns:
        The YAML document text.
    """
    return (
        f"name: {spec.name}\n"
        f"description: {spec.description}\n"
        f"net_file: {spec.name}.net.xml\n"
        f"route_files: [{spec.name}.rou.xml]\n"
        f"begin: {BEGIN}\n"
        f"end: {END}\n"
        f"recipe: python scripts/generate_networks.py --only {spec.name}\n"
    )


def generate(spec: NetworkSpec, out_dir: Path, sumo: Sumo, verbose: bool) -> int:
    """Build one network, its routes and its descriptor into ``out_dir``.

    Args:
        spec: The network recipe.
        out_dir: Destination folder (created if missing); receives
            ``<name>.net.xml``, ``<name>.rou.xml`` and ``network.yaml``.
        sumo: SUMO installation to use.
        verbose: Print every command line.

    Returns:
        Number of vehicles in the routes file.

    Raises:
        GenerationError: If any step fails.
    """
    net_name = f"{spec.name}.net.xml"
    rou_name = f"{spec.name}.rou.xml"
    with tempfile.TemporaryDirectory(prefix=f"gen-{spec.name}-") as tmp:
        work = Path(tmp)
        if spec.patch is None:
            run(
                [
                    sumo.binary("netgenerate"),
                    *spec.netgenerate_args,
                    *COMMON_NET_OPTIONS,
                    "--output-file",
                    net_name,
                ],
                work,
                sumo,
                verbose,
            )
        else:
            # Write plain XML next to the net so that netconvert can rebuild the
            # network (connections and programs included) from the patched input.
            run(
                [
                    sumo.binary("netgenerate"),
                    *spec.netgenerate_args,
                    *COMMON_NET_OPTIONS,
                    "--output-file",
                    "raw.net.xml",
                    "--plain-output-prefix",
                    "plain",
                ],
                work,
                sumo,
                verbose,
            )
            patch = spec.patch(work / "raw.net.xml", work)
            cmd = [
                sumo.binary("netconvert"),
                "--node-files",
                "plain.nod.xml",
                "--edge-files",
                ",".join(["plain.edg.xml", *patch.edge_files]),
            ]
            if patch.connection_files:
                cmd += ["--connection-files", ",".join(patch.connection_files)]
            cmd += [*COMMON_NET_OPTIONS, "--output-file", net_name]
            run(cmd, work, sumo, verbose)

        trip_files = []
        for demand in spec.demands:
            trip_name = f"{demand.prefix}.trips.xml"
            cmd = [
                sys.executable,
                sumo.tool("randomTrips.py"),
                "--net-file",
                net_name,
                "--output-trip-file",
                trip_name,
                "--seed",
                str(demand.seed),
                "--begin",
                str(BEGIN),
                "--end",
                str(END),
                "--insertion-rate",
                str(demand.vehicles_per_hour),
                "--random-depart",
                "--fringe-factor",
                "max",
                "--min-distance",
                str(demand.min_distance),
                "--prefix",
                demand.prefix,
                "--trip-attributes",
                TRIP_ATTRIBUTES,
            ]
            if demand.max_distance is not None:
                cmd += ["--max-distance", str(demand.max_distance)]
            if demand.direction is not None:
                prefix = write_weights(work / net_name, work, demand.direction)
                cmd += ["--weights-prefix", prefix]
            run(cmd, work, sumo, verbose)
            trip_files.append(trip_name)

        run(
            [
                sumo.binary("duarouter"),
                "--net-file",
                net_name,
                "--route-files",
                ",".join(trip_files),
                "--output-file",
                rou_name,
                "--alternatives-output",
                "routes.alt.xml",
                "--begin",
                str(BEGIN),
                "--end",
                str(END),
                "--seed",
                "42",
                "--ignore-errors",
                "--no-step-log",
                "--no-warnings",
            ],
            work,
            sumo,
            verbose,
        )

        for name in (net_name, rou_name):
            strip_header(work / name)
        n_vehicles = check_routes(work / rou_name)
        (work / "network.yaml").write_text(network_yaml(spec), encoding="utf-8")

        out_dir.mkdir(parents=True, exist_ok=True)
        for name in (net_name, rou_name, "network.yaml"):
            (out_dir / name).write_bytes((work / name).read_bytes())
    return n_vehicles


def check(names: Sequence[str], committed_root: Path, sumo: Sumo, verbose: bool) -> list[str]:
    """Regenerate networks into a temp dir and compare with committed files.

    Args:
        names: Networks to check.
        committed_root: Folder holding the committed ``<name>/`` folders.
        sumo: SUMO installation to use.
        verbose: Print every command line.

    Returns:
        Repository-relative paths of files that differ or are missing.
    """
    mismatches = []
    with tempfile.TemporaryDirectory(prefix="gen-check-") as tmp:
        for name in names:
            fresh_dir = Path(tmp) / name
            generate(NETWORKS[name], fresh_dir, sumo, verbose)
            for fresh in sorted(fresh_dir.iterdir()):
                committed = committed_root / name / fresh.name
                if not committed.is_file() or not filecmp.cmp(fresh, committed, shallow=False):
                    mismatches.append(_display(committed))
    return mismatches


def _display(path: Path) -> str:
    """Return ``path`` relative to the repository root when possible.

    Args:
        path: Any path.

    Returns:
        A short, printable path.
    """
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse command-line arguments.

    Args:
        argv: Arguments without the program name; ``None`` uses ``sys.argv``.

    Returns:
        The parsed namespace.
    """
    parser = argparse.ArgumentParser(description="Generate the bundled SUMO networks and routes under networks/.")
    parser.add_argument(
        "--only",
        choices=sorted(NETWORKS),
        metavar="NAME",
        help=f"regenerate only this network (one of: {', '.join(NETWORKS)})",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary directory and fail if any committed file differs",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help="root folder of the network folders (default: %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every command line")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the generator.

    Args:
        argv: Arguments without the program name; ``None`` uses ``sys.argv``.

    Returns:
        Process exit status: 0 on success, 1 on a ``--check`` mismatch or error.
    """
    args = parse_args(argv)
    names = [args.only] if args.only else list(NETWORKS)
    try:
        sumo = find_sumo()
        if args.check:
            mismatches = check(names, args.output_dir, sumo, args.verbose)
            for path in mismatches:
                print(f"error: {path} differs from the regenerated file", file=sys.stderr)
            if mismatches:
                print(
                    "hint: regenerate with 'python scripts/generate_networks.py' "
                    f"(files were produced with SUMO {SUMO_VERSION_HINT})",
                    file=sys.stderr,
                )
                return 1
            print(f"ok: {len(names)} network(s) reproduce byte-for-byte")
            return 0
        for name in names:
            print(f"generating {name}", flush=True)
            n_vehicles = generate(NETWORKS[name], args.output_dir / name, sumo, args.verbose)
            print(f"  wrote {_display(args.output_dir / name)} ({n_vehicles} vehicles)")
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
