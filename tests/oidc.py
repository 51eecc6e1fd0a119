"""A real OpenID Connect provider for the single sign-on tests: panva's oidc-provider (npm),
run by Node from tests/oidc_provider/provider.mjs on a spare port of 127.0.0.1."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import requests

from tests.services import free_port, wait_port

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
CLIENT_ID, CLIENT_SECRET = "scada-hmi", "test-client-secret"
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')
HIDDEN = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"')


class Provider:
    """The provider process, its client (this HMI) and its accounts, which a test may change
    between sign-ins (the provider reads them again at every login)."""

    def __init__(self, directory: Path, redirect_uri: str) -> None:
        self.port = free_port()
        self.client_file, self.accounts_file = (
            directory / "client.json",
            directory / "accounts.json",
        )
        self.log = directory / "oidc-provider.log"
        client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                  "redirect_uris": [redirect_uri]}  # fmt: skip
        self.client_file.write_text(json.dumps(client))
        self.accounts: dict[str, dict[str, object]] = {}
        self.save()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, login: str, *groups: str, email: str = "") -> None:
        self.accounts[login] = {"email": email or f"{login}@example.com",
                                "name": login.title(), "groups": list(groups)}  # fmt: skip
        self.save()

    def save(self) -> None:
        self.accounts_file.write_text(json.dumps(self.accounts))

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                ["node", "provider.mjs", str(self.port), str(self.client_file),
                 str(self.accounts_file)],
                cwd=PROVIDER_DIR, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_port(self.port, timeout=20)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def sign_in(
    session: requests.Session, hmi_url: str, login: str, next_path: str = ""
) -> requests.Response:
    """Go through the whole flow as a browser would: our login link, the provider's login form
    (its development form takes any password), its consent form, and back to the HMI."""
    start = f"{hmi_url}/accounts/sso/login/" + (f"?next={next_path}" if next_path else "")
    page = session.get(start, timeout=10)
    for _ in range(3):  # the login form, then the consent form (once per client and account)
        if "/interaction/" not in page.url:
            return page
        action = FORM_ACTION.search(page.text)
        assert action, f"no form on the provider's page {page.url}:\n{page.text[:500]}"
        data = dict(HIDDEN.findall(page.text))  # the step the form is (prompt=login|consent)
        if 'name="login"' in page.text:
            data |= {"login": login, "password": "any"}
        page = session.post(urljoin(page.url, action[1]), data=data, timeout=10)
    return page
