"""compose.sso.yaml: the single sign-on overlay is valid Compose and adds only what SSO needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from tests.deploy.compose_file import ROOT, load_compose

SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
OVERLAY = yaml.safe_load((ROOT / "compose.sso.yaml").read_text())


def test_the_overlay_is_valid_by_the_compose_specification_schema() -> None:
    errors = [f"{list(e.path)}: {e.message}"
              for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(OVERLAY)]  # fmt: skip
    assert errors == []


def test_it_gives_web_the_provider_and_its_secret_as_a_file_never_a_value() -> None:
    assert set(OVERLAY["services"]) == {"web"} and "web" in load_compose()["services"]
    web = OVERLAY["services"]["web"]
    assert "OIDC_CLIENT_SECRET" not in web["environment"]
    assert web["environment"]["OIDC_CLIENT_SECRET_FILE"] == "/run/secrets/oidc_client_secret"
    assert web["secrets"] == ["oidc_client_secret"]
    assert OVERLAY["secrets"]["oidc_client_secret"]["file"] == "./secrets/oidc_client_secret"
    # The issuer and client id have no default: up fails with the message instead of starting
    # a login button that leads nowhere.
    assert web["environment"]["OIDC_ISSUER"].startswith("${OIDC_ISSUER:?")


def test_the_settings_take_the_overlays_variables(tmp_path: Path) -> None:
    secret = tmp_path / "oidc_client_secret"
    secret.write_text("s3cret\n")
    env = {"PATH": "/usr/bin:/bin", "OIDC_ISSUER": "https://sso.example.com/realms/plant",
           "OIDC_CLIENT_ID": "hmi", "OIDC_CLIENT_SECRET_FILE": str(secret)}  # fmt: skip
    code = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; "
            "from django.conf import settings as s; "
            "print(s.OIDC_ISSUER, s.OIDC_CLIENT_ID, s.OIDC_CLIENT_SECRET)")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert run.stdout.split() == ["https://sso.example.com/realms/plant", "hmi", "s3cret"]
    del env["OIDC_CLIENT_SECRET_FILE"]
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True)  # fmt: skip
    assert (
        run.returncode != 0
        and "OIDC_ISSUER needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET" in run.stderr
    )
