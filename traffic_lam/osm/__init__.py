"""OpenStreetMap import: an OSM extract to a SUMO network with signals, demand that does not jam, and metadata.

:func:`import_osm` runs ``netconvert`` (:mod:`traffic_lam.osm.convert`), generates and calibrates
demand (:mod:`traffic_lam.osm.demand`, :mod:`traffic_lam.osm.counts`) and writes the folder
(:mod:`traffic_lam.osm.folder`).
"""

from traffic_lam.osm.pipeline import ImportRequest, import_osm, parse_demand

__all__ = ["ImportRequest", "import_osm", "parse_demand"]
