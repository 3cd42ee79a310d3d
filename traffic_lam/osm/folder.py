"""The network folder an import writes: network.yaml, a .sumocfg and, for OSM data, the licence note.

Everything is written into a hidden temporary folder beside ``--out`` and renamed into place
once complete, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from traffic_lam.errors import ConfigError

ATTRIBUTION = """# {name}

{description}

## Source and licence

The road network was converted from OpenStreetMap data, © OpenStreetMap contributors,
available under the Open Database License (ODbL) 1.0: https://www.openstreetmap.org/copyright
and https://opendatacommons.org/licenses/odbl/1-0/. The network files in this folder are a
derived database and are under the same licence; the routes are synthetic.

Made with: `{recipe}`
"""


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; rename it to ``out`` on success, remove it on failure.

    Raises:
        ConfigError: if ``out`` already exists or its parent cannot be written.
    """
    if out.exists():
        raise ConfigError(f"--out {out}: already exists; pick a new folder or remove it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    try:
        yield stage
        stage.chmod(0o755)  # mkdtemp makes it private; a network folder is as readable as any other
        stage.rename(out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_description(folder: Path, name: str, description: str, end: float, recipe: str) -> None:
    """Write ``network.yaml``, ``<name>.sumocfg`` and the OSM attribution ``README.md`` into ``folder``."""
    document = {
        "name": name,
        "description": description,
        "net_file": f"{name}.net.xml",
        "route_files": [f"{name}.rou.xml"],
        "begin": 0,
        "end": int(end) if float(end).is_integer() else end,
        "recipe": recipe,
    }
    (folder / "network.yaml").write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    (folder / f"{name}.sumocfg").write_text(
        "<configuration>\n"
        f'    <input>\n        <net-file value="{name}.net.xml"/>\n        <route-files value="{name}.rou.xml"/>\n'
        "    </input>\n"
        f'    <time>\n        <begin value="0"/>\n        <end value="{end:g}"/>\n    </time>\n'
        "</configuration>\n"
    )
    (folder / "README.md").write_text(ATTRIBUTION.format(name=name, description=description, recipe=recipe))
