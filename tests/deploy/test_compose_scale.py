"""compose.scale.yaml: the scale-out overlay is valid Compose, and its pieces fit each other and
compose.yaml (there is no Docker engine here, so the overlay is read against the Compose
specification and its pieces against each other)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from string import Template
from typing import Any

import jsonschema
import yaml

from tests.deploy.compose_file import ROOT, interpolate, load_compose
from tests.services import Postgres

SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())


class ComposeLoader(yaml.SafeLoader):
    """YAML as Compose reads it, with its merge tags: `!reset` empties, `!override` replaces."""


ComposeLoader.add_constructor(
    "!reset", lambda loader, node: [] if isinstance(node, yaml.SequenceNode) else None
)
ComposeLoader.add_constructor(
    "!override",
    lambda loader, node: (
        loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node, deep=True)
    ),  # type: ignore[arg-type]
)

OVERLAY: dict[str, Any] = yaml.load((ROOT / "compose.scale.yaml").read_text(), ComposeLoader)
BASE = load_compose()
SERVICES = OVERLAY["services"]
TEMPLATE = (ROOT / "config" / "nginx" / "scale.conf.template").read_text()


def test_the_overlay_is_valid_by_the_compose_specification_schema() -> None:
    errors = [f"{list(e.path)}: {e.message}"
              for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(OVERLAY)]  # fmt: skip
    assert errors == []


def test_every_variable_of_the_overlay_has_a_default() -> None:
    for line in (ROOT / "compose.scale.yaml").read_text().splitlines():
        interpolate(line.split("#")[0])  # raises on a variable without one


def test_the_twins_extend_the_services_of_compose_yaml() -> None:
    for twin, original in (("web-2", "web"), ("ingest-2", "ingest")):
        assert SERVICES[twin]["extends"] == {"file": "compose.yaml", "service": original}
        assert original in BASE["services"]
        # extends does not carry depends_on everywhere Compose runs: each twin says its own.
        assert SERVICES[twin]["depends_on"] == BASE["services"][original]["depends_on"]
    # Two daphnes cannot publish the same host port: only web keeps its look from the host.
    assert SERVICES["web-2"]["ports"] == []


def test_caddy_goes_to_nginx_and_nginx_to_both_daphnes() -> None:
    nginx = SERVICES["nginx"]
    upstream = SERVICES["caddy"]["environment"]["HMI_UPSTREAM"]
    assert upstream == f"nginx:{nginx['environment']['NGINX_PORT']}"
    assert "reverse_proxy {$HMI_UPSTREAM:web:8000}" in (ROOT / "config/caddy/Caddyfile").read_text()
    web = BASE["services"]["web"]["command"]
    port = web[web.index("-p") + 1]
    assert {nginx["environment"]["WEB_1"], nginx["environment"]["WEB_2"]} == {
        f"web:{port}",
        f"web-2:{port}",
    }
    assert nginx["volumes"] == [
        "./config/nginx/scale.conf.template:/etc/nginx/templates/scale.conf.template:ro"
    ]
    # Every variable the template uses is one compose gives nginx; none is left unset.
    used = set(re.findall(r"\$\{(\w+)\}", TEMPLATE))
    assert used == set(nginx["environment"])
    rendered = Template(TEMPLATE).safe_substitute(nginx["environment"])
    assert "${" not in rendered
    assert set(nginx["depends_on"]) == {"web", "web-2"}


def test_nginx_is_on_the_front_network_only_with_caddy_and_the_daphnes() -> None:
    assert SERVICES["nginx"]["networks"] == ["front"]
    assert BASE["services"]["web"]["networks"] == ["default", "front"]  # web-2 inherits it
    assert BASE["services"]["caddy"]["networks"] == ["front"]


def test_nginx_passes_websockets_and_keeps_them_open() -> None:
    assert "proxy_http_version 1.1;" in TEMPLATE
    assert "proxy_set_header Upgrade $http_upgrade;" in TEMPLATE
    assert "proxy_set_header Connection $connection_upgrade;" in TEMPLATE
    assert re.search(r"proxy_read_timeout (\d+)h;", TEMPLATE)


def test_the_two_workers_share_one_subscription_and_only_one_runs_the_gateways() -> None:
    commands = [SERVICES[name]["command"] for name in ("ingest", "ingest-2")]
    groups = {c[c.index("--share-group") + 1] for c in commands}
    ids = {c[c.index("--client-id") + 1] for c in commands}
    assert len(groups) == 1 and len(ids) == 2
    assert SERVICES["ingest-2"]["environment"] == {
        "SPARKPLUG_HOST_ID": "", "NEURON_ENABLED": "false"
    }  # fmt: skip
    base = BASE["services"]["ingest"]["environment"]
    assert "SPARKPLUG_HOST_ID" not in base and "NEURON_ENABLED" not in base  # ingest: defaults


def test_both_daphnes_read_history_from_the_replica_as_the_app_role() -> None:
    for name in ("web", "web-2"):
        env = SERVICES[name]["environment"]
        assert env["DATABASE_REPLICA_URL"] == "postgres://scada_app@db-replica:5432/scada"
        assert env["DATABASE_REPLICA_PASSWORD_FILE"] == "/run/secrets/db_app_password"
    assert "db_app_password" in BASE["services"]["web"]["secrets"]


def test_the_replica_is_a_basebackup_of_db_that_db_allows() -> None:
    replica = SERVICES["db-replica"]
    script = replica["command"][0]
    assert "pg_basebackup -h db -U postgres" in script and " -R " in script
    assert "hot_standby=on" in script
    assert replica["image"] == BASE["services"]["db"]["image"]  # the same PostgreSQL
    assert replica["volumes"] == ["db-replica-data:/var/lib/postgresql/data"]
    assert "db-replica-data" in OVERLAY["volumes"]
    hba = SERVICES["db"]["command"][SERVICES["db"]["command"].index("-c", 2) + 1]
    assert hba == "hba_file=/etc/postgresql/pg_hba.scale.conf"
    rules = (ROOT / "config" / "postgres" / "pg_hba.scale.conf").read_text()
    assert re.search(r"^host\s+replication\s+postgres\s+all\s+scram-sha-256$", rules, re.M)
    assert re.search(r"^host\s+all\s+all\s+all\s+scram-sha-256$", rules, re.M)


def test_postgres_accepts_the_shipped_pg_hba() -> None:
    """The file parses: a PostgreSQL started with it as hba_file answers (a typo would stop it)."""
    server = Postgres()
    hba = server.dir / "pg_hba.conf"
    hba.write_text((ROOT / "config" / "postgres" / "pg_hba.scale.conf").read_text())
    if os.geteuid() == 0:
        shutil.chown(hba, "postgres", "postgres")
    auto = server.data / "postgresql.auto.conf"
    with auto.open("a") as conf:
        conf.write(f"hba_file = '{hba}'\n")
    try:
        server.start()
        rules = (
            "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NULL "
            "AND 'replication' = ANY(database)"
        )
        done = subprocess.run(["psql", "-d", server.url, "-qAtc", rules],
                              capture_output=True, text=True, check=True)  # fmt: skip
        assert int(done.stdout) == 4
    finally:
        server.close()
