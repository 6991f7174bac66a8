"""Read compose files the way the static deployment tests need them: services, environments, hosts, secrets.

No Docker engine runs on our machines, so these helpers stand in for `docker compose config`: they parse the
YAML, normalize the two environment syntaxes, resolve `${VAR:-default}` to its default, and find the host
names that values and commands point at.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILES = [REPO / "docker-compose.yml", *sorted((REPO / "deploy").glob("docker-compose*.yml"))]
DEPLOY_README = REPO / "deploy" / "README.md"
TEMPORAL_SERVER_IMAGES = ("temporalio/temporal", "temporalio/server", "temporalio/auto-setup")

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
_URL_HOST = re.compile(r"\b[a-z][a-z0-9+.-]*://(?:[^@/\s]*@)?(\[[^\]]*\]|[A-Za-z0-9._-]+)")
_HOST_PORT = re.compile(r"^([A-Za-z0-9._-]+):\d+$")
_TABLE_VARIABLE = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|")


def with_defaults(value: str) -> str:
    """`${VAR:-default}` and `${VAR-default}` become the default, `${VAR}` becomes empty, `$$` becomes `$`."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", value).replace("$$", "$")


def hosts_in(text: str, *, bare: bool = False) -> set[str]:
    """Host names in URLs inside `text`; with `bare`, also a whole `host:port` value."""
    found = {m.group(1) for m in _URL_HOST.finditer(text)}
    if bare and (match := _HOST_PORT.match(text.strip())):
        found.add(match.group(1))
    return found


def command_text(command: Any) -> str:
    if command is None:
        return ""
    return command if isinstance(command, str) else shlex.join(str(part) for part in command)


def env_file_lines(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def documented_variables() -> set[str]:
    """Variables named in the first column of a table in deploy/README.md."""
    return {m.group(1) for line in DEPLOY_README.read_text().splitlines() if (m := _TABLE_VARIABLE.match(line))}


@dataclass
class ComposeFile:
    path: Path

    @cached_property
    def doc(self) -> dict[str, Any]:
        loaded = yaml.safe_load(self.path.read_text())
        assert isinstance(loaded, dict), f"{self.path} is not a mapping"
        return loaded

    @property
    def name(self) -> str:
        return str(self.path.relative_to(REPO))

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.doc.get("services") or {}

    def environment(self, service: str) -> dict[str, str]:
        env = self.services[service].get("environment") or {}
        if isinstance(env, list):
            pairs = (item.partition("=") for item in env)
            return {key: value for key, _, value in pairs}
        return {str(key): "" if value is None else str(value) for key, value in env.items()}

    def env_files(self, service: str) -> list[Path]:
        entries = self.services[service].get("env_file") or []
        entries = [entries] if isinstance(entries, str | dict) else entries
        paths = [entry["path"] if isinstance(entry, dict) else entry for entry in entries]
        return [(self.path.parent / path).resolve() for path in paths]

    def env_file_example_values(self, service: str) -> dict[str, str]:
        """What the service's env files set, read from their committed `.example` templates."""
        values: dict[str, str] = {}
        for path in self.env_files(service):
            example = path.with_name(path.name + ".example")
            if example.exists():
                values |= env_file_lines(example)
        return values

    def depends_on(self, service: str) -> dict[str, str]:
        """Service -> condition (`service_started` for the short list form)."""
        deps = self.services[service].get("depends_on") or {}
        if isinstance(deps, list):
            return {name: "service_started" for name in deps}
        return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}

    @property
    def one_shots(self) -> set[str]:
        """Services some other service waits on to complete: jobs, not long-running."""
        return {
            name
            for service in self.services
            for name, condition in self.depends_on(service).items()
            if condition == "service_completed_successfully"
        }

    @property
    def aliases(self) -> set[str]:
        names: set[str] = set()
        for spec in self.services.values():
            networks = spec.get("networks")
            if isinstance(networks, dict):
                for net in networks.values():
                    names |= set((net or {}).get("aliases") or [])
            if spec.get("hostname"):
                names.add(spec["hostname"])
        return names

    def image(self, service: str) -> str:
        return str(self.services[service].get("image", ""))

    def runs_temporal_server(self) -> bool:
        return any(self.image(s).startswith(TEMPORAL_SERVER_IMAGES) for s in self.services)

    def bind_mounts(self, service: str) -> list[tuple[Path, str]]:
        """(host path, container path) of every `./relative:/target` volume."""
        mounts = []
        for volume in self.services[service].get("volumes") or []:
            if isinstance(volume, str) and volume.startswith((".", "/")):
                source, target = volume.split(":")[:2]
                mounts.append(((self.path.parent / source).resolve(), target))
        return mounts

    def named_volume_targets(self, service: str) -> list[str]:
        targets = []
        for volume in self.services[service].get("volumes") or []:
            if isinstance(volume, str) and not volume.startswith((".", "/")) and ":" in volume:
                targets.append(volume.split(":")[1])
        return targets

    def published_ports(self, service: str) -> list[tuple[str, int, int]]:
        """(host ip, host port, container port) of `ip:host:container` entries."""
        ports = []
        for entry in self.services[service].get("ports") or []:
            parts = str(entry).split(":")
            if len(parts) == 3:
                ports.append((parts[0], int(parts[1]), int(parts[2].split("/")[0])))
            elif len(parts) == 2:
                ports.append(("0.0.0.0", int(parts[0]), int(parts[1].split("/")[0])))
        return ports


def compose_files() -> list[ComposeFile]:
    return [ComposeFile(path) for path in COMPOSE_FILES]
