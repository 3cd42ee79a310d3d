"""Resolve what a user calls a network into concrete SUMO files.

A network may be given as:

* a bundled network name (``"grid4x4"``), a folder of ``networks/``;
* ``"resco:<map>"``, one of the eight RESCO maps shipped inside the ``sumo-rl`` wheel;
* a folder holding ``network.yaml``, a single ``.sumocfg``, or a ``.net.xml`` plus routes;
* a ``.sumocfg`` file;
* a ``.net.xml`` file together with ``route_file=``.

Begin and end times are taken from the ``.sumocfg`` (or ``network.yaml``) when present.
"""

from __future__ import annotations

import gzip
import importlib.util
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from traffic_lam.errors import NetworkError

RESCO_MAPS: tuple[str, ...] = (
    "grid4x4",
    "arterial4x4",
    "cologne1",
    "cologne3",
    "cologne8",
    "ingolstadt1",
    "ingolstadt7",
    "ingolstadt21",
)

_NETWORK_YAML_KEYS = {"name", "description", "net_file", "route_files", "additional_files", "begin", "end", "recipe"}


@dataclass(frozen=True)
class NetworkSpec:
    """Concrete files and times of a network.

    Attributes:
        name: short name used in results (``grid4x4``, ``resco:cologne3``, file stem ...).
        net_file: the SUMO ``.net.xml``.
        route_files: route / trip / flow files, in load order.
        additional_files: additional files (detectors, extra programs ...).
        begin: simulation begin time in seconds, or None when the network does not say.
        end: simulation end time in seconds, or None when the network does not say.

    """

    name: str
    net_file: Path
    route_files: tuple[Path, ...] = ()
    additional_files: tuple[Path, ...] = ()
    begin: float | None = None
    end: float | None = None


def bundled_networks_root() -> Path:
    """Return the folder holding the bundled networks (``networks/`` in the repository)."""
    return Path(str(resources.files("traffic_lam.networks")))


def bundled_networks() -> dict[str, Path]:
    """Map each bundled network name to its folder."""
    root = bundled_networks_root()
    return {p.parent.name: p.parent for p in sorted(root.glob("*/network.yaml"))}


def resco_root() -> Path:
    """Return the RESCO maps folder inside the installed ``sumo-rl`` wheel (not imported)."""
    spec = importlib.util.find_spec("sumo_rl")
    if spec is None or not spec.submodule_search_locations:
        raise NetworkError("RESCO maps need the sumo-rl package: pip install sumo-rl")
    root = Path(next(iter(spec.submodule_search_locations))) / "nets" / "RESCO"
    if not root.is_dir():
        raise NetworkError(f"sumo-rl is installed but has no RESCO maps at {root}")
    return root


def resolve_network(
    network: str | Path | NetworkSpec,
    route_file: str | Path | list[str | Path] | tuple[str | Path, ...] | None = None,
) -> NetworkSpec:
    """Turn a network argument into a :class:`NetworkSpec`.

    Args:
        network: bundled name, ``"resco:<map>"``, folder, ``.sumocfg`` or ``.net.xml``.
        route_file: route file(s); required with a bare ``.net.xml``, otherwise they
            replace the routes the network names.

    Returns:
        The resolved specification; every file in it exists.

    Raises:
        NetworkError: the network cannot be found or is incomplete.

    """
    spec = network if isinstance(network, NetworkSpec) else _resolve(network)
    if route_file is not None:
        routes = [route_file] if isinstance(route_file, (str, Path)) else list(route_file)
        spec = NetworkSpec(
            spec.name,
            spec.net_file,
            tuple(Path(r).resolve() for r in routes),
            spec.additional_files,
            spec.begin,
            spec.end,
        )
    _check_files(spec)
    return spec


def _resolve(network: str | Path) -> NetworkSpec:
    text = str(network)
    if text.startswith("resco:"):
        name = text.split(":", 1)[1]
        if name not in RESCO_MAPS:
            raise NetworkError(f"unknown RESCO map '{name}': expected one of {', '.join(RESCO_MAPS)}")
        return _from_sumocfg(resco_root() / name / f"{name}.sumocfg", name=text)
    path = Path(network).expanduser()
    if not path.exists():
        bundled = bundled_networks()
        if text in bundled:
            return _from_folder(bundled[text], name=text)
        known = ", ".join(sorted(bundled)) or "none"
        raise NetworkError(
            f"network '{text}' not found: expected a bundled name ({known}), resco:<map>, a folder, "
            "a .sumocfg or a .net.xml"
        )
    path = path.resolve()
    if path.is_dir():
        return _from_folder(path, name=path.name)
    if path.name.endswith(".sumocfg"):
        return _from_sumocfg(path, name=path.name.removesuffix(".sumocfg"))
    if path.name.endswith((".net.xml", ".net.xml.gz")):
        return NetworkSpec(path.name.split(".net.xml")[0], path)
    _refuse_non_network(path)
    raise NetworkError(f"{path}: expected a folder, a .sumocfg or a .net.xml file")


def _from_folder(folder: Path, name: str) -> NetworkSpec:
    described = folder / "network.yaml"
    if described.is_file():
        return _from_network_yaml(described, name)
    configs = sorted(folder.glob("*.sumocfg"))
    if len(configs) == 1:
        return _from_sumocfg(configs[0], name=name)
    if len(configs) > 1:
        raise NetworkError(f"{folder}: several .sumocfg files ({', '.join(c.name for c in configs)}); name one")
    nets = sorted(folder.glob("*.net.xml")) + sorted(folder.glob("*.net.xml.gz"))
    osm = sorted(p for p in folder.iterdir() if p.name.endswith(_OSM_SUFFIXES))
    if not nets and osm:
        _refuse_non_network(osm[0])
    if len(nets) != 1:
        raise NetworkError(
            f"{folder}: expected network.yaml, one .sumocfg or exactly one .net.xml, found {len(nets)} nets"
        )
    routes = sorted(folder.glob("*.rou.xml")) + sorted(folder.glob("*.trips.xml"))
    return NetworkSpec(name, nets[0], tuple(routes))


def _from_network_yaml(path: Path, name: str) -> NetworkSpec:
    try:
        data: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise NetworkError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise NetworkError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    unknown = set(data) - _NETWORK_YAML_KEYS
    if unknown:
        raise NetworkError(f"{path}: unknown key '{sorted(unknown)[0]}', expected one of {sorted(_NETWORK_YAML_KEYS)}")
    if "net_file" not in data:
        raise NetworkError(f"{path}: missing key 'net_file'")

    def files(key: str) -> tuple[Path, ...]:
        value = data.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise NetworkError(f"{path}: key '{key}' must be a file name or a list of them")
        return tuple((path.parent / v).resolve() for v in value)

    return NetworkSpec(
        name=str(data.get("name", name)),
        net_file=(path.parent / data["net_file"]).resolve(),
        route_files=files("route_files"),
        additional_files=files("additional_files"),
        begin=_number(data.get("begin"), path, "begin"),
        end=_number(data.get("end"), path, "end"),
    )


def _from_sumocfg(path: Path, name: str) -> NetworkSpec:
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise NetworkError(f"{path}: cannot read SUMO configuration ({exc})") from None

    def value(section: str, key: str) -> str | None:
        node = root.find(f"{section}/{key}")
        return None if node is None else node.get("value")

    def files(key: str) -> tuple[Path, ...]:
        raw = value("input", key)
        if not raw:
            return ()
        return tuple((path.parent / f.strip()).resolve() for f in raw.replace(" ", ",").split(",") if f.strip())

    net = files("net-file")
    if not net:
        raise NetworkError(f"{path}: no <net-file> in the <input> section")
    return NetworkSpec(
        name=name,
        net_file=net[0],
        route_files=files("route-files"),
        additional_files=files("additional-files"),
        begin=_number(value("time", "begin"), path, "begin"),
        end=_number(value("time", "end"), path, "end"),
    )


def _number(raw: object, path: Path, key: str) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise NetworkError(f"{path}: '{key}' must be a number of seconds, got {raw!r}") from None


def _check_files(spec: NetworkSpec) -> None:
    if not spec.net_file.is_file():
        raise NetworkError(f"net file not found: {spec.net_file}")
    _refuse_non_network(spec.net_file)
    for f in spec.route_files + spec.additional_files:
        if not f.is_file():
            raise NetworkError(f"file named by network '{spec.name}' not found: {f}")
    if not spec.route_files:
        raise NetworkError(f"network '{spec.name}' has no routes: pass route_file= (a .rou.xml)")


_OSM_SUFFIXES = (".osm", ".osm.xml", ".osm.gz", ".osm.bz2", ".osm.pbf", ".pbf")
_SNIFF_BYTES = 4096


def _refuse_non_network(path: Path) -> None:
    """Raise a one-line NetworkError when ``path`` is not a SUMO network: say what it is and what to run.

    Recognised: an empty file, an OpenStreetMap extract (XML, ``.bz2`` or ``.pbf``, whatever
    its name), another XML document (routes, a configuration ...), text that is not XML, and an
    uncompressed SUMO network cut short (no closing ``</net>``; a ``.gz`` one is not read to its
    end here). A file that looks like a network passes.
    """
    head = _head(path)
    if not head.strip():
        raise NetworkError(f"{path}: the file is empty, not a SUMO network")
    name = path.name
    for suffix in (*_OSM_SUFFIXES, ".net.xml.gz", ".net.xml", ".xml", ".gz", ".bz2"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    import_hint = f"run traffic-lam import-osm {path} --out networks/{name or 'city'}"
    if head.startswith(b"BZh") or b"OSMHeader" in head[:64]:
        raise NetworkError(f"{path}: an OpenStreetMap extract (compressed or PBF), not a SUMO network: {import_hint}")
    root = _root_tag(head)
    if root == "osm":
        raise NetworkError(f"{path}: an OpenStreetMap file, not a SUMO network: {import_hint}")
    if root is None:
        raise NetworkError(f"{path}: not XML, so not a SUMO network (expected a <net> written by netconvert)")
    if root != "net":
        raise NetworkError(f"{path}: a <{root}> XML file, not a SUMO network (expected a <net> written by netconvert)")
    if path.suffix != ".gz" and not _ends_with(path, b"</net>"):
        raise NetworkError(
            f"{path}: a SUMO network cut short (no closing </net>, truncated XML): write it again "
            "(netconvert, or traffic-lam import-osm for an OpenStreetMap extract)"
        )


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
        if head.startswith(b"\x1f\x8b"):
            with gzip.open(path, "rb") as f:
                head = f.read(_SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise NetworkError(f"{path}: cannot read the file ({exc})") from None
    return head


def _root_tag(head: bytes) -> str | None:
    """Name of the first element of an XML document's head (after declarations and comments), or None."""
    text = head.decode("utf-8", errors="replace")
    text = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", text, flags=re.S).lstrip("\ufeff \t\r\n")
    match = re.match(r"<([A-Za-z_][\w.:-]*)", text)
    return match.group(1) if match else None


def _ends_with(path: Path, closing: bytes) -> bool:
    """Whether the file's last bytes, past trailing blanks and comments, are ``closing``."""
    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(max(0, size - _SNIFF_BYTES))
        tail = f.read()
    tail = re.sub(rb"<!--.*?-->", b"", tail, flags=re.S).rstrip()
    return tail.endswith(closing)
