"""The shipped Caddyfile in front of daphne with compose's web settings, on 127.0.0.1: HTTPS,
HSTS once, plain HTTP redirected, a login and a websocket through the proxy.

Only addresses change: the upstream (compose's web:8000), the ports (443, 80 and the admin
API's 2019) and Caddy's data directory; the rest is the file compose mounts.
"""

from __future__ import annotations

import http.client
import os
import re
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.deploy.compose_file import ROOT, load_compose, make_secrets, service_environment
from tests.services import free_port, fresh_database, wait_port

CADDYFILE = ROOT / "config" / "caddy" / "Caddyfile"
DEMO_PASSWORD = "proxy test demo password"
SHELL = ("PATH", "HOME", "LANG", "TMPDIR")


def caddy_validate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["caddy", "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={**{n: os.environ[n] for n in SHELL if n in os.environ}, **env},
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    "env",
    [{}, {"HMI_HOST": "hmi.example.com", "HMI_TLS": "ops@example.com"}],
    ids=["defaults", "a-host-with-acme"],
)
def test_caddy_accepts_the_shipped_caddyfile(env: dict[str, str], tmp_path: Path) -> None:
    result = caddy_validate(
        {**env, "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


@dataclass
class Stack:
    https_port: int
    http_port: int
    web_port: int
    admin_port: int
    context: ssl.SSLContext
    database: str
    web_env: dict[str, str]


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("proxy")
    make_secrets(folder)
    database = fresh_database(f"scada_proxy_{uuid.uuid4().hex[:8]}", timescaledb="off")
    env = {n: os.environ[n] for n in SHELL if n in os.environ}
    env |= service_environment("web", folder / "secrets")
    del env["DATABASE_PASSWORD_FILE"]
    env |= {
        "DATABASE_URL": database,  # the machine's PostgreSQL and Redis stand in for db, redis
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "CHANNEL_LAYER_PREFIX": f"proxy-{uuid.uuid4().hex[:8]}",
        "DEMO_PASSWORD": DEMO_PASSWORD,
    }
    for command in (["load_demo", "--topic-root", "proxy/"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    web_port, https_port, http_port, admin_port = (free_port() for _ in range(4))
    daphne = [sys.executable, "-m", *load_compose()["services"]["web"]["command"]]
    daphne[daphne.index("0.0.0.0")], daphne[daphne.index("8000")] = "127.0.0.1", str(web_port)
    caddyfile = folder / "Caddyfile"
    caddyfile.write_text(
        CADDYFILE.read_text()
        .replace(
            "admin localhost:2019",
            f"admin localhost:{admin_port}\n\thttp_port {http_port}\n\thttps_port {https_port}",
        )
        .replace("reverse_proxy {$HMI_UPSTREAM:web:8000}", f"reverse_proxy 127.0.0.1:{web_port}")
    )
    caddy_env = {n: os.environ[n] for n in SHELL if n in os.environ}
    caddy_env |= {"XDG_DATA_HOME": str(folder), "XDG_CONFIG_HOME": str(folder)}
    web = subprocess.Popen(
        daphne, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    caddy = subprocess.Popen(
        ["caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        env=caddy_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(web_port, timeout=30)
        wait_port(https_port, timeout=30)
        root = folder / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        deadline = time.monotonic() + 30
        while not root.exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # Caddy writes its CA's certificate when it starts serving
        context = ssl.create_default_context(cafile=str(root))
        stack = Stack(https_port, http_port, web_port, admin_port, context, database, env)
        while True:  # a readiness probe: Caddy may sign the site's certificate after it listens
            try:
                request(stack, "GET", "/accounts/login/")
                break
            except (ssl.SSLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield stack
    finally:
        stop(caddy)
        stop(web)
        drop = f'DROP DATABASE IF EXISTS "{database.rsplit("/", 1)[1]}" WITH (FORCE)'
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", drop],
            check=False,
            capture_output=True,
        )


def request(
    stack: Stack,
    method: str,
    path: str,
    *,
    https: bool = True,
    port: int | None = None,
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> http.client.HTTPResponse:
    if https:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "localhost", port or stack.https_port, context=stack.context, timeout=10
        )
    else:
        conn = http.client.HTTPConnection("localhost", port or stack.http_port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    return {
        header.split("=", 1)[0]: header
        for name, header in response.getheaders()
        if name.lower() == "set-cookie"
    }


def test_pages_are_served_over_https_with_hsts_once(stack: Stack) -> None:
    response = request(stack, "GET", "/accounts/login/")
    assert response.status == 200
    hsts = [v for n, v in response.getheaders() if n.lower() == "strict-transport-security"]
    assert hsts == ["max-age=31536000; includeSubDomains"]
    assert "; Secure" in cookies(response)["csrftoken"]


def test_plain_http_is_redirected_to_https_by_the_proxy(stack: Stack) -> None:
    response = request(stack, "GET", "/accounts/login/?next=/", https=False)
    assert response.status in (301, 308)
    # Caddy 2.6 names no port in it (the real one, 443, needs none).
    location = response.getheader("Location", "")
    assert re.fullmatch(r"https://localhost(:\d+)?/accounts/login/\?next=/", location), location


def test_daphne_itself_redirects_what_did_not_come_through_tls(stack: Stack) -> None:
    response = request(stack, "GET", "/accounts/login/", https=False, port=stack.web_port)
    assert response.status == 301
    assert response.getheader("Location", "").startswith("https://localhost")


def test_the_web_healthcheck_of_compose_passes_against_daphne(stack: Stack) -> None:
    check = load_compose()["services"]["web"]["healthcheck"]["test"]
    code = check[-1].replace("127.0.0.1:8000", f"127.0.0.1:{stack.web_port}")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_caddy_healthcheck_of_compose_gets_an_answer(stack: Stack) -> None:
    url = load_compose()["services"]["caddy"]["healthcheck"]["test"][-1]
    assert url == "http://localhost:2019/config/"
    # Host: localhost:<its port>, as wget sends it in compose; the admin API refuses others.
    response = request(stack, "GET", "/config/", https=False, port=stack.admin_port)
    assert response.status == 200


def log_in(stack: Stack) -> str:
    """Log in as the demo operator through the proxy; the session cookie."""
    page = http.client.HTTPSConnection("localhost", stack.https_port, context=stack.context)
    page.request("GET", "/accounts/login/")
    response = page.getresponse()
    html = response.read().decode()
    csrf_cookie = cookies(response)["csrftoken"].split(";")[0]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]  # type: ignore[index]
    origin = f"https://localhost:{stack.https_port}"
    response = request(
        stack,
        "POST",
        "/accounts/login/",
        headers={
            "Cookie": csrf_cookie,
            "Origin": origin,
            "Referer": f"{origin}/accounts/login/",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=urlencode(
            {"username": "operator", "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token}
        ),
    )
    assert response.status == 302, response.status
    session = cookies(response)["sessionid"]
    assert "; Secure" in session and "HttpOnly" in session
    return session.split(";")[0]


def test_a_login_and_a_websocket_pass_through_the_proxy(stack: Stack) -> None:
    session = log_in(stack)
    with psycopg.connect(stack.database) as conn:
        plant = conn.execute("SELECT id FROM plant_plant ORDER BY id LIMIT 1").fetchone()[0]
    origin = f"https://localhost:{stack.https_port}"
    url = f"wss://localhost:{stack.https_port}/ws/plant/{plant}/"
    with connect(
        url,
        ssl=stack.context,
        origin=origin,
        additional_headers={"Cookie": session},
        proxy=None,
        open_timeout=10,
    ) as socket:
        assert socket.response.status_code == 101
    with pytest.raises(InvalidStatus):  # a foreign page may not open one (the same checks hold)
        connect(
            url,
            ssl=stack.context,
            origin="https://evil.example",
            additional_headers={"Cookie": session},
            proxy=None,
            open_timeout=10,
        )
