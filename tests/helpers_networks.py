"""Small crafted SUMO networks built with netconvert in a test's tmp_path."""

from __future__ import annotations

import subprocess
from pathlib import Path

from traffic_lam.sim.discovery import sumo_binary

SHORT_APPROACH = "short"
"""The 1 m approach of :func:`short_approach_network`'s signal C from the west."""
FEEDER = "feed"
"""The 60 m road that ends in the short approach (where its queue stands)."""

_NODES = """<nodes>
  <node id="W" x="-61" y="0"/> <node id="P" x="-1" y="0"/> <node id="C" x="0" y="0" type="traffic_light"/>
  <node id="E" x="300" y="0"/> <node id="N" x="0" y="100"/> <node id="S" x="0" y="-300"/>
</nodes>
"""
_EDGES = """<edges>
  <edge id="feed" from="W" to="P" numLanes="1" speed="13.89"/>
  <edge id="short" from="P" to="C" numLanes="1" speed="13.89"/>
  <edge id="out" from="C" to="E" numLanes="1" speed="13.89"/>
  <edge id="north" from="N" to="C" numLanes="1" speed="13.89"/>
  <edge id="south" from="C" to="S" numLanes="1" speed="13.89"/>
</edges>
"""
_ROUTES = """<routes>
  <route id="we" edges="feed short out"/> <route id="ns" edges="north south"/>
  <flow id="west" route="we" begin="0" end="600" vehsPerHour="1200" departLane="best" departSpeed="max"/>
  <flow id="cross" route="ns" begin="0" end="600" vehsPerHour="300" departLane="best" departSpeed="max"/>
</routes>
"""


def short_approach_network(folder: Path) -> Path:
    """A signal C whose west approach is 1 m long, fed by a 60 m road that vehicles enter on.

    A west-east flow (1200 veh/h) departs on :data:`FEEDER`, crosses the 1 m
    :data:`SHORT_APPROACH` and leaves east; a north-south flow (300 veh/h) crosses it.
    Holding the north-south green fills the feeder within a minute, then the west flow's
    vehicles cannot enter (the insertion backlog). Returns the ``.sumocfg``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "net.nod.xml").write_text(_NODES)
    (folder / "net.edg.xml").write_text(_EDGES)
    (folder / "net.rou.xml").write_text(_ROUTES)
    subprocess.run(
        [
            sumo_binary("netconvert"),
            "--node-files", "net.nod.xml", "--edge-files", "net.edg.xml", "--output-file", "net.net.xml",
            "--no-turnarounds", "true", "--tls.default-type", "static", "--geometry.remove", "false",
        ],
        cwd=folder, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    config = folder / "short.sumocfg"
    config.write_text(
        '<configuration><input><net-file value="net.net.xml"/><route-files value="net.rou.xml"/></input>'
        "</configuration>\n"
    )
    return config
