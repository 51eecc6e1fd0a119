"""compose.yaml: valid by the Compose Specification's own schema, and secure by default."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from plant.mosquitto_auth import Identity, acl_text, hash_password, passwd_text
from tests.deploy.compose_file import ROOT, interpolate, load_compose, make_secrets
from tests.services import SecuredBroker

SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
OUR_IMAGE = "scada-lite:local"
COMPOSE = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = [name for name, service in SERVICES.items() if service.get("image") == OUR_IMAGE]
# What each image ships that its healthcheck runs, read in each image's own Dockerfile: the
# python:3.11-slim base of ours; pg_isready of the postgres images timescaledb builds on;
# Mosquitto's docker/2.0/Dockerfile (v2.0.20) installs mosquitto_sub beside the broker;
# redis-cli; busybox's wget in Alpine, which caddy-docker's 2.8/alpine/Dockerfile builds on.
IMAGE_TOOLS = {
    OUR_IMAGE: {"python"},
    "timescale/timescaledb": {"pg_isready"},
    "eclipse-mosquitto": {"mosquitto_sub"},
    "redis": {"redis-cli"},
    "caddy": {"wget"},
}


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def test_compose_file_is_valid_by_the_compose_specification_schema() -> None:
    errors = [
        f"{list(e.path)}: {e.message}"
        for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(COMPOSE)
    ]
    assert errors == []


def test_the_schema_would_catch_a_misspelt_key() -> None:
    broken = {**COMPOSE, "services": {**SERVICES, "web": {**SERVICES["web"], "read_onyl": True}}}
    assert not jsonschema.Draft7Validator(SCHEMA).is_valid(broken)


def test_every_variable_has_a_default_so_ps_logs_and_down_need_no_env_file() -> None:
    for text in strings(COMPOSE):
        interpolate(text)  # raises on ${NAME:?} or ${NAME} without a default


def test_no_password_or_key_is_an_environment_variable() -> None:
    for name, service in SERVICES.items():
        for variable, value in service.get("environment", {}).items():
            assert not re.search(r"PASSWORD$|SECRET_KEY$", variable), f"{name}: {variable}"
            if variable.endswith("_FILE"):
                assert str(value).startswith("/run/secrets/"), f"{name}: {variable}"
            assert not re.search(r"://[^/@\s]*:[^/@\s]*@", str(value)), f"{name}: {variable}"


def test_each_secret_file_a_service_reads_is_mounted_in_it() -> None:
    for name, service in SERVICES.items():
        mounted = {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}
        assert mounted <= set(COMPOSE["secrets"]), name
        for variable, value in service.get("environment", {}).items():
            if str(value).startswith("/run/secrets/"):
                assert value.removeprefix("/run/secrets/") in mounted, f"{name}: {variable}"


def test_make_secrets_writes_every_secret_file_compose_reads(tmp_path: Path) -> None:
    make_secrets(tmp_path)
    for name, secret in COMPOSE["secrets"].items():
        path = tmp_path / secret["file"]
        assert path.is_file() and path.read_text().strip(), name


def test_the_database_password_has_no_default_and_comes_from_a_file() -> None:
    db = SERVICES["db"]["environment"]
    assert "POSTGRES_PASSWORD" not in db
    assert db["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_owner_password"
    assert "scada-demo" not in (ROOT / "compose.yaml").read_text()


def test_only_the_proxy_and_the_tls_broker_are_published_beyond_localhost() -> None:
    published = {}
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            host = interpolate(port).rsplit(":", 1)[0]
            published[name, port] = host
    for (name, port), host in published.items():
        if name == "caddy":
            assert host in ("443", "80"), port
        elif name == "mqtt":
            assert host == "8883", port  # TLS with a password per client
        else:
            assert host.startswith("127.0.0.1:"), f"{name}: {port}"
    assert ("web", "${WEB_PUBLISH:-127.0.0.1:8000}:8000") in published


def test_every_container_of_our_image_is_hardened() -> None:
    assert {"migrate", "web", "ingest", "demo", "simulate"} <= set(OURS)
    for name in OURS:
        service = SERVICES[name]
        assert service["read_only"] is True, name
        assert any(t.split(":")[0] == "/tmp" for t in service["tmpfs"]), name
        assert service["cap_drop"] == ["ALL"], name
        assert "cap_add" not in service, name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_no_container_may_gain_privileges_and_the_proxy_only_binds_ports() -> None:
    for name, service in SERVICES.items():
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("privileged") is not True, name
    assert SERVICES["caddy"]["cap_drop"] == ["ALL"]
    assert SERVICES["caddy"]["cap_add"] == ["NET_BIND_SERVICE"]
    assert SERVICES["caddy"]["read_only"] is True


def test_the_proxy_reaches_web_and_nothing_else() -> None:
    assert SERVICES["caddy"]["networks"] == ["front"]
    on_front = [
        name for name, service in SERVICES.items() if "front" in service.get("networks", [])
    ]
    assert sorted(on_front) == ["caddy", "web"]
    assert "default" in SERVICES["web"]["networks"]  # web itself reaches db and redis


def migrate_steps() -> list[str]:
    script = SERVICES["migrate"]["command"][-1]
    return [step.strip() for step in script.split(";") if step.strip()]


def test_migrate_checks_deploy_settings_first_and_ends_with_exec() -> None:
    steps = migrate_steps()
    assert SERVICES["migrate"]["command"][:2] == ["sh", "-c"]
    assert steps[0] == "set -e"
    assert steps[1] == "python manage.py check --deploy --fail-level WARNING"
    assert steps[2:5] == [
        "python manage.py migrate --noinput",
        "python manage.py create_app_role",
        "python manage.py broker_access --dir /mosquitto/auth",
    ]
    assert steps[-1] == "exec python manage.py ensure_admin"


def test_everything_else_starts_only_after_migrate_succeeded() -> None:
    for name, service in SERVICES.items():
        if name in ("migrate", "db", "redis", "caddy", "simulate"):
            continue
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["simulate"]["depends_on"]["demo"]["condition"] == (
        "service_completed_successfully"
    )
    assert SERVICES["caddy"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_demo_data_is_loaded_only_with_the_demo_profile() -> None:
    for name, service in SERVICES.items():
        command = " ".join(strings(service.get("command", [])))
        if "load_demo" in command or name == "simulate":
            assert service.get("profiles") == ["demo"], name
        assert "DEMO_PASSWORD_FILE" not in service.get("environment", {}) or name == "demo"
    assert "profiles" not in SERVICES["migrate"]


def test_the_application_runs_as_its_own_role_and_only_migrate_as_the_owner() -> None:
    for name in OURS:
        env = SERVICES[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://scada_app@"), name
        assert ("MIGRATE_DATABASE_URL" in env) == (name == "migrate"), name


def test_the_broker_gets_its_credentials_from_migrate_and_tls_from_the_secrets() -> None:
    mqtt, migrate = SERVICES["mqtt"], SERVICES["migrate"]
    assert "broker-auth:/mosquitto/auth:ro" in mqtt["volumes"]
    assert "broker-auth:/mosquitto/auth" in migrate["volumes"]
    assert migrate["user"] == "1883:1883"  # Mosquitto's uid in its image: the files are its own
    targets = {s["target"]: s["source"] for s in mqtt["secrets"]}
    assert targets == {
        "/mosquitto/certs/ca.crt": "mqtt_ca",
        "/mosquitto/certs/server.crt": "mqtt_server_crt",
        "/mosquitto/certs/server.key": "mqtt_server_key",
    }
    for name in OURS:
        env = SERVICES[name]["environment"]
        assert re.fullmatch(r"mqtts://\w+@mqtt:8883", env["MQTT_URL"]), name
        assert env["MQTT_CA_FILE"] == "/run/secrets/mqtt_ca", name


def test_web_is_behind_the_tls_proxy() -> None:
    env = SERVICES["web"]["environment"]
    assert env["BEHIND_TLS_PROXY"] == "true"
    assert interpolate(env["CSRF_TRUSTED_ORIGINS"]) == "https://localhost"
    assert "--proxy-headers" in SERVICES["web"]["command"]
    caddyfile = (ROOT / "config" / "caddy" / "Caddyfile").read_text()
    assert "reverse_proxy {$HMI_UPSTREAM:web:8000}" in caddyfile  # compose.scale.yaml: nginx
    assert "./config/caddy/Caddyfile:/etc/caddy/Caddyfile:ro" in SERVICES["caddy"]["volumes"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_healthchecks_run_what_their_image_ships(name: str) -> None:
    service = SERVICES[name]
    if "healthcheck" not in service:
        # One-shot, or nothing to probe (broker-access: a loop over files; notify: a loop over
        # the outbox; a crash restarts either).
        assert name in ("migrate", "demo", "simulate", "broker-access", "notify")
        return
    test = service["healthcheck"]["test"]
    command = test[1] if test[0] == "CMD" else shlex.split(test[1])[0]
    image = service["image"].rsplit(":", 1)[0] if name not in OURS else OUR_IMAGE
    assert command in IMAGE_TOOLS[image]


def test_the_broker_healthcheck_asks_the_local_sys_only_listener() -> None:
    test = SERVICES["mqtt"]["healthcheck"]["test"]
    assert test == [
        "CMD",
        "mosquitto_sub",
        "-h",
        "127.0.0.1",
        "-p",
        "1880",
        "-t",
        "$$SYS/broker/uptime",
        "-C",
        "1",
        "-W",
        "3",
    ]


def test_the_broker_healthcheck_passes_against_the_shipped_configuration() -> None:
    """The shipped conf's health listener (1880), with logins on: anonymous, $SYS only."""
    broker = SecuredBroker()
    entry = hash_password("x" * 20)
    broker.write_auth(passwd_text([Identity("ingest", entry)]),
                      acl_text([Identity("ingest", entry, read=("#",))]))  # fmt: skip
    broker.start()
    try:
        test = [interpolate(arg) for arg in SERVICES["mqtt"]["healthcheck"]["test"][1:]]
        test[test.index("1880")] = str(broker.health_port)
        result = subprocess.run(test, capture_output=True, text=True, timeout=10)
        # ... and the same anonymous client is refused on the plant listener.
        test[test.index(str(broker.health_port))] = str(broker.port)
        refused = subprocess.run(test, capture_output=True, text=True, timeout=10)
    finally:
        broker.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("seconds")
    assert refused.returncode != 0 and "not authorised" in refused.stderr.lower()


def test_broker_access_keeps_the_files_current_and_reloads_the_broker_in_its_namespace() -> None:
    service = SERVICES["broker-access"]
    assert service["pid"] == "service:mqtt"  # Mosquitto is pid 1 there
    assert service["user"] == SERVICES["migrate"]["user"] == "1883:1883"
    command = service["command"]
    assert command[:4] == ["python", "manage.py", "broker_access", "--dir"]
    assert command[command.index("--reload-pid") + 1] == "1"
    assert "broker-auth:/mosquitto/auth" in service["volumes"]
    env = service["environment"]
    for name in ("MQTT_PASSWORD_FILE", "SIMULATOR_MQTT_PASSWORD_FILE"):
        assert env[name] == SERVICES["migrate"]["environment"][name]
    assert env["SIMULATOR_MQTT_URL"] == SERVICES["simulate"]["environment"]["SIMULATOR_MQTT_URL"]


def test_the_image_installs_only_the_runtime_requirements() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    instructions = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert "pip install -r requirements.txt" in instructions
    assert "requirements-dev" not in instructions
    runtime = (ROOT / "requirements.txt").read_text().lower()
    for tool in ("pytest", "playwright", "hypothesis", "ruff", "jsonschema"):
        assert tool not in runtime
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
    assert "secrets" in (ROOT / ".dockerignore").read_text().split()


def test_the_image_has_the_libraries_and_a_font_the_report_pdfs_need() -> None:
    """WeasyPrint loads Pango with cffi at its first PDF, not at import: an image without it
    starts, serves, and fails only when a shift ends. .ci/setup installs the same packages."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    instructions = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    setup = (ROOT / ".ci" / "setup").read_text()
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0"):
        assert package in instructions and package in setup, package
    assert "fonts-dejavu-core" in instructions  # the slim image has no font to set text in
    assert instructions.index("libpango-1.0-0") < instructions.index("pip install")


def test_the_brokers_log_file_is_on_a_volume_broker_access_follows_and_rotates() -> None:
    """Refused logins become security events in compose too: the shipped conf's log file lies
    on a volume both containers mount, and broker-access follows and rotates that very file."""
    shipped = (ROOT / "config" / "mosquitto" / "mosquitto.conf").read_text().splitlines()
    log_file = next(line.split(maxsplit=2)[2] for line in shipped
                    if line.startswith("log_dest file "))  # fmt: skip
    assert "log_dest stderr" in shipped  # docker logs still shows it
    folder = str(Path(log_file).parent)
    mount = f"mqtt-log:{folder}"
    assert mount in SERVICES["mqtt"]["volumes"]
    assert mount in SERVICES["broker-access"]["volumes"]
    assert "mqtt-log" in COMPOSE["volumes"]
    command = SERVICES["broker-access"]["command"]
    assert command[command.index("--follow-log") + 1] == log_file
    assert int(command[command.index("--rotate-bytes") + 1]) > 0
    assert "--watch" in command and "--reload-pid" in command
