"""Every compose file, checked statically (no Docker engine runs here): references resolve, long-running
services have health checks, the worker waits for a healthy server and gets every setting the code reads,
search attributes match the code's, and no secret value is written inline."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from compose_model import (
    REPO,
    ComposeFile,
    command_text,
    compose_files,
    documented_variables,
    env_file_lines,
    hosts_in,
    with_defaults,
)

from activities.settings import ENV_VARS
from workflows.search_attributes import ALL_KEYS

FILES = compose_files()
PROD = next(f for f in FILES if f.path.name == "docker-compose.prod.yml")
LOOPBACK = {"localhost", "127.0.0.1", "0.0.0.0"}
CODE_DIRS = ["control", "activities", "codec", "observability"]  # observability/: once it exists
SETTING = re.compile(r"\b((?:REELMIRROR|TEMPORAL)_[A-Z0-9_]*[A-Z0-9])\b")
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|_PWD$|_SECRET$|_SECRET_KEY$|TOKEN$|API_KEY$|CODEC_KEYS$|PAYMENT_METHOD$|PRIVATE"
)
SECRET_VALUES = [
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),  # a URL with user:password
    re.compile(r"\b[A-Za-z0-9._-]+:[A-Za-z0-9+/]{43}="),  # a codec key (id:base64 of 32 bytes)
    re.compile(r"\brm_[A-Za-z0-9]{16,}"),
    re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+"),
    re.compile(r"\bpm_[A-Za-z0-9]{8,}"),
]
PLACEHOLDER = re.compile(r"^(CHANGE_ME.*|)$")

by_file = pytest.mark.parametrize("compose", FILES, ids=lambda f: f.name)


def worker_variables() -> set[str]:
    """Every REELMIRROR_*/TEMPORAL_* name in the worker's code, plus the activity settings' variables."""
    names = set(ENV_VARS)
    sources = [REPO / "worker.py", *(path for d in CODE_DIRS for path in (REPO / d).rglob("*.py"))]
    for path in sources:
        names |= set(SETTING.findall(path.read_text()))
    return names


def worker_sets(compose: ComposeFile) -> set[str]:
    return set(compose.environment("worker")) | set(compose.env_file_example_values("worker"))


@by_file
def test_the_file_parses_into_services(compose: ComposeFile) -> None:
    assert compose.services, f"{compose.name} defines no services"
    assert "version" not in compose.doc, "the version key is obsolete in the compose specification"


@by_file
def test_every_referenced_service_exists(compose: ComposeFile) -> None:
    known = set(compose.services) | compose.aliases
    for name, spec in compose.services.items():
        for dependency in compose.depends_on(name):
            assert dependency in compose.services, f"{name} depends on unknown service {dependency}"
        for link in spec.get("links") or []:
            assert link.split(":")[0] in compose.services, f"{name} links unknown service {link}"
        texts = [(key, with_defaults(value)) for key, value in compose.environment(name).items()]
        texts.append(("command", with_defaults(command_text(spec.get("command")))))
        for key, text in texts:
            hosts = hosts_in(text, bare=key.endswith("ADDRESS"))
            if key.endswith(("_SEEDS", "_HOST")):
                hosts |= {h.strip() for h in text.split(",") if h.strip()}
            for host in hosts:
                if "." in host or host in LOOPBACK:
                    continue  # a public name or an IP address, not a service
                assert host in known, f"{name}: {key} points at {host!r}, which is no service of {compose.name}"


@by_file
def test_long_running_services_have_health_checks(compose: ComposeFile) -> None:
    for name, spec in compose.services.items():
        if name in compose.one_shots:
            assert spec.get("restart") in (None, "no"), f"one-shot {name} must not restart"
            continue
        check = spec.get("healthcheck") or {}
        test = check.get("test")
        assert test and not check.get("disable") and test != ["NONE"], f"{name} has no health check"


@by_file
def test_the_worker_waits_for_a_healthy_temporal_server(compose: ComposeFile) -> None:
    images = ("temporalio/temporal", "temporalio/server")
    server = next(s for s in compose.services if compose.image(s).startswith(images))
    assert compose.depends_on("worker").get(server) == "service_healthy"


@by_file
def test_every_setting_the_worker_reads_is_set_or_documented(compose: ComposeFile) -> None:
    missing = sorted(worker_variables() - worker_sets(compose) - documented_variables())
    assert not missing, f"set these in the worker service of {compose.name} or document them in deploy/README.md"


@by_file
def test_every_setting_given_to_the_worker_is_known(compose: ComposeFile) -> None:
    """A misspelt variable is silently ignored by the worker: catch it here."""
    given = {name for name in worker_sets(compose) if name.startswith(("REELMIRROR_", "TEMPORAL_", "STRIPE_"))}
    unknown = sorted(given - worker_variables() - documented_variables())
    assert not unknown, f"the worker reads none of {unknown}"


def test_every_documented_setting_is_in_the_readme_table() -> None:
    """The README table lists each variable the worker reads, whether or not a compose file sets it."""
    assert worker_variables() <= documented_variables()


@by_file
def test_search_attributes_registered_match_the_code(compose: ComposeFile) -> None:
    if not compose.runs_temporal_server():
        pytest.skip("no Temporal server in this file")
    registered: dict[str, str] = {}
    for name, spec in compose.services.items():
        for attribute, kind in re.findall(r"--search-attribute\s+(\w+)=(\w+)", command_text(spec.get("command"))):
            registered[attribute] = kind
        for entry in compose.environment(name).get("SEARCH_ATTRIBUTES", "").split():
            attribute, _, kind = entry.partition("=")
            registered[attribute] = kind
    assert registered == {key.name: "Keyword" for key in ALL_KEYS}


@by_file
def test_no_secret_value_is_written_inline(compose: ComposeFile) -> None:
    for name, spec in compose.services.items():
        for key, value in compose.environment(name).items():
            assert not SECRET_NAME.search(key) or key.endswith("_FILE"), (
                f"{name}: {key} is a secret; put it in an env file or a Docker secret, not in environment"
            )
            for pattern in SECRET_VALUES:
                assert not pattern.search(value), f"{name}: {key} holds what looks like a secret"
        command = command_text(spec.get("command")) + command_text(spec.get("entrypoint"))
        for pattern in SECRET_VALUES:
            assert not pattern.search(command), f"{name}: its command holds what looks like a secret"


@by_file
def test_env_files_are_ignored_and_have_placeholder_examples(compose: ComposeFile) -> None:
    for name in compose.services:
        for path in compose.env_files(name):
            assert _ignored(path), f"{path.relative_to(REPO)} must be ignored by git"
            example = path.with_name(path.name + ".example")
            assert example.exists() and not _ignored(example), f"{example.relative_to(REPO)} must be committed"
            for key, value in env_file_lines(example).items():
                if SECRET_NAME.search(key):
                    assert PLACEHOLDER.match(value), f"{example.name}: {key} must be a CHANGE_ME placeholder"


@by_file
def test_docker_secrets_are_ignored_files(compose: ComposeFile) -> None:
    for name, spec in (compose.doc.get("secrets") or {}).items():
        assert set(spec) == {"file"}, f"secret {name} must come from a file"
        path = (compose.path.parent / spec["file"]).resolve()
        assert path.parent == REPO / "deploy" / "secrets", f"secret {name} belongs in deploy/secrets/"
        assert _ignored(path), f"{path.relative_to(REPO)} must be ignored by git"
    for spec in compose.services.values():
        for secret in spec.get("secrets") or []:
            assert (secret if isinstance(secret, str) else secret["source"]) in (compose.doc.get("secrets") or {})


@by_file
def test_mounted_files_exist_and_key_files_are_mounted_secrets(compose: ComposeFile) -> None:
    for name in compose.services:
        for source, _ in compose.bind_mounts(name):
            assert source.exists(), f"{name} mounts {source}, which does not exist"
        for key, value in compose.environment(name).items():
            if key.endswith("_FILE") and value.startswith("/run/secrets/"):
                secret = value.removeprefix("/run/secrets/")
                assert secret in (compose.services[name].get("secrets") or []), f"{name}: {key} is not mounted"


def test_the_dev_server_keeps_its_database_on_a_volume() -> None:
    single = next(f for f in FILES if f.path.name == "docker-compose.yml")
    command = command_text(single.services["temporal"]["command"])
    db_file = re.search(r"--db-filename\s+(\S+)", command)
    assert db_file, "without --db-filename the dev server forgets everything on restart"
    targets = single.named_volume_targets("temporal")
    assert any(db_file.group(1).startswith(target.rstrip("/") + "/") for target in targets)
    assert all(target.startswith("/home/temporal") for target in targets), "the image's user owns only its home"


def test_prod_workers_use_the_shared_store_and_scale() -> None:
    worker = PROD.services["worker"]
    env = PROD.environment("worker")
    assert worker.get("deploy", {}).get("replicas", 1) >= 2
    assert "container_name" not in worker and not worker.get("ports"), "a fixed name or host port blocks scaling"
    assert env["REELMIRROR_SECRETS_URL"].startswith("postgresql://")
    assert hosts_in(env["REELMIRROR_SECRETS_URL"]) == {"postgresql"}
    assert env["REELMIRROR_CODEC_KEY_FILE"].startswith("/run/secrets/")
    assert (env["REELMIRROR_METRICS_PORT"], env["REELMIRROR_HEALTH_PORT"]) == ("9464", "8080")
    assert PROD.depends_on("worker")["postgresql"] == "service_healthy"


def test_prometheus_scrapes_the_server_and_every_worker() -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    server_port = PROD.environment("temporal")["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    targets = [t for job in jobs.values() for static in job.get("static_configs", []) for t in static["targets"]]
    assert f"temporal:{server_port}" in targets
    discovered = [d for job in jobs.values() for d in job.get("dns_sd_configs", [])]
    assert any(
        d["names"] == ["worker"] and str(d["port"]) == PROD.environment("worker")["REELMIRROR_METRICS_PORT"]
        for d in discovered
    )
    mounted = {target for _, target in PROD.bind_mounts("prometheus")}
    assert "/etc/prometheus/prometheus.yml" in mounted


def test_the_web_ui_decrypts_through_the_codec_server() -> None:
    ui_env = PROD.environment("temporal-ui")
    codec_host_port = {host_port for _, host_port, _ in PROD.published_ports("codec")}
    endpoint = ui_env["TEMPORAL_CODEC_ENDPOINT"]
    assert int(endpoint.rsplit(":", 1)[1]) in codec_host_port
    ui_origins = {f"http://{ip}:{port}" for ip, port, _ in PROD.published_ports("temporal-ui")}
    cors = set(re.findall(r"--cors-origin\s+(\S+)", command_text(PROD.services["codec"]["command"])))
    assert ui_origins <= cors, "the codec server must allow the Web UI's origin"
    assert set(ui_env["TEMPORAL_CORS_ORIGINS"].split(",")) <= cors


def test_the_image_holds_every_package_and_runs_unprivileged() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]]
    copied = " ".join(re.findall(r"^COPY (.+)$", dockerfile, flags=re.M)).split()
    for package in packages:
        assert package in copied, f"the Dockerfile does not COPY {package}"
    for module in setuptools["py-modules"]:
        assert f"{module}.py" in copied
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.M)
    assert users and users[-1] not in ("root", "0")


def _ignored(path: Path) -> bool:
    result = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO, capture_output=True)
    return result.returncode == 0
