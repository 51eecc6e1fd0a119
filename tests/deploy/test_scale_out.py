"""compose.scale.yaml's shape on this machine: the repo's nginx configuration
(config/nginx/scale.conf.template, rendered for spare ports) in front of two daphnes, two
`manage.py ingest` workers in one MQTT 5 shared subscription, Redis as the channel layer, and a
PostgreSQL primary with a hot standby (pg_basebackup) that history reads go to.

One real Chromium logs in through nginx and watches a live screen; values published to the
broker arrive; both daphnes served requests (their own access logs and nginx's upstream
field); both workers stored samples and together exactly what was published; the history API
through nginx answers from the standby (its replay is held, so it lacks what the primary has);
and when the daphne holding the page's websocket is killed, the page reconnects through nginx
to the other and keeps receiving.

Only addresses differ from compose: ports on 127.0.0.1 for web:8000, web-2:8000 and nginx's
8080. The daphnes run compose's web command with production settings (DEBUG off, a secret key,
collected static files); TLS is Caddy's, in front of nginx, and tested in test_tls_proxy.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from string import Template

import paho.mqtt.client as mqtt
import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, served_database_url
from tests.deploy.compose_file import load_compose
from tests.services import ROOT, Broker, Postgres, Redis, free_port, psql, wait_port

TEMPLATE = ROOT / "config" / "nginx" / "scale.conf.template"
PASSWORD = "scale test demo password"
TOPIC_ROOT = "scale/"
SHELL = ("PATH", "HOME", "LANG", "TMPDIR")
PUSHED_WITHIN_MS = 20_000  # a generous wait: a broken push still fails it


def nginx_conf(folder: Path, port: int, web: list[int]) -> Path:
    """The repo's template rendered as the nginx image's envsubst does (our three variables
    only), inside the http block the image's own nginx.conf would give it."""
    rendered = Template(TEMPLATE.read_text()).safe_substitute(
        NGINX_PORT=f"127.0.0.1:{port}", WEB_1=f"127.0.0.1:{web[0]}", WEB_2=f"127.0.0.1:{web[1]}"
    )
    assert "${" not in rendered, "a variable of the template is not set"
    (folder / "scale.conf").write_text(rendered)
    main = folder / "nginx.conf"
    temp = "".join(f"{name}_temp_path {folder}/{name};\n"
                   for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{ worker_connections 256; }}\n"
        f"http {{\n{temp}include {folder}/scale.conf;\n}}\n"
    )
    return main


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)  # fmt: skip

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Scaled:
    primary: Postgres
    standby: Postgres
    broker: Broker
    nginx_port: int
    nginx_log: Path
    web: list[Process]
    web_ports: list[int]
    workers: list[Process]
    metrics_ports: list[int]
    token: str
    tags: dict[str, tuple[int, str]]  # key: (id, topic)
    processes: list[Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def primary_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.primary.port}/scada"

    def standby_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.standby.port}/scada"

    def sql(self, url: str, statement: str) -> str:
        return psql(url, statement)

    def metric(self, worker: int, name: str) -> float:
        page = requests.get(f"http://127.0.0.1:{self.metrics_ports[worker]}/metrics", timeout=5)
        (line,) = [x for x in page.text.splitlines() if x.startswith(f"{name} ")]
        return float(line.split()[1])


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done.stdout


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.2)


@pytest.fixture
def scaled(db: None, tmp_path: Path) -> Iterator[Scaled]:
    started: list[Process] = []
    clusters: list[Postgres] = []
    primary = Postgres()
    clusters.append(primary)
    broker, redis = Broker(), Redis()
    try:
        primary.start()
        broker.start()
        redis.start()
        url = f"postgres://postgres@127.0.0.1:{primary.port}/scada"
        subprocess.run(["psql", "-d", primary.url, "-qc", "CREATE DATABASE scada"], check=True)
        # The schema of this session's test database: a copy in a second (test_read_replica).
        schema = subprocess.run(["pg_dump", "-d", served_database_url(), "--no-owner"],
                                check=True, capture_output=True).stdout  # fmt: skip
        subprocess.run(["psql", "-d", url, "-q", "-v", "ON_ERROR_STOP=1"], input=schema,
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        base = {n: os.environ[n] for n in SHELL if n in os.environ}
        # compose's x-app-environment, with this machine's addresses.
        env = base | {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            # Plain HTTP, as nginx sees it behind Caddy, but with no Caddy here to say "https"
            # (X-Forwarded-Proto): HTTPS-only settings would redirect the browser to
            # https://127.0.0.1:<nginx>/, where nothing listens.
            "SECURE_COOKIES": "false",
            "SECRET_KEY": "scale-test-" + uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": url,
            "REDIS_URL": redis.url,
            "MQTT_URL": broker.url,
            "MQTT_TOPIC_ROOT": TOPIC_ROOT,
            "TIMESCALEDB": "off",
            "DEMO_PASSWORD": PASSWORD,
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",  # the access logs are read while the processes run
        }
        manage(env, "load_demo", "--topic-root", TOPIC_ROOT)
        manage(env, "collectstatic", "--noinput", "-v0")
        out = manage(env, "shell", "-c", (
            "from django.contrib.auth.models import User; from plant.models import ApiToken, Tag; "
            "_, secret = ApiToken.issue(User.objects.get(username='viewer'), 'scale test'); "
            "print(secret); "
            "[print(t.key, t.pk, t.topic) for t in Tag.objects.filter("
            "key__in=['fill_level', 'flow_rate', 'methane', 'bearing_temp'])]"
        ))  # fmt: skip
        token, *rows = out.strip().splitlines()[-5:]
        tags = {key: (int(pk), topic) for key, pk, topic in (r.split() for r in rows)}
        standby = Postgres.standby_of(primary)
        clusters.append(standby)
        standby.start()
        web_env = env | {
            "DATABASE_REPLICA_URL": f"postgres://postgres@127.0.0.1:{standby.port}/scada"
        }
        web_ports = [free_port(), free_port()]
        command = load_compose()["services"]["web"]["command"]
        web = []
        for i, port in enumerate(web_ports):
            daphne = [sys.executable, "-m", *command]
            daphne[daphne.index("0.0.0.0")], daphne[daphne.index("8000")] = "127.0.0.1", str(port)
            web.append(Process(f"web-{i + 1}", daphne, web_env, tmp_path / f"web-{i + 1}.log"))
        metrics_ports = [free_port(), free_port()]
        workers = [
            Process(f"ingest-{i + 1}", [sys.executable, "manage.py", "ingest", "--client-id",
                                        f"scale-ingest-{i + 1}", "--share-group", "scale",
                                        "--metrics-port", str(metrics_ports[i])],
                    env | {"SPARKPLUG_HOST_ID": "", "NEURON_ENABLED": "false"},
                    tmp_path / f"ingest-{i + 1}.log")
            for i in range(2)
        ]  # fmt: skip
        nginx_port = free_port()
        folder = tmp_path / "nginx"
        folder.mkdir()
        if os.geteuid() == 0:
            shutil.chown(folder, "root")
        conf = nginx_conf(folder, nginx_port, web_ports)
        nginx = Process("nginx", ["nginx", "-c", str(conf), "-p", str(folder), "-g",
                                  "daemon off;"], base, tmp_path / "nginx.log")  # fmt: skip
        for process in (*web, *workers, nginx):
            process.start()
            started.append(process)
        for port in (*web_ports, *metrics_ports, nginx_port):
            wait_port(port, timeout=60)
        found = Scaled(primary, standby, broker, nginx_port, tmp_path / "nginx.log", web,
                       web_ports, workers, metrics_ports, token, tags, started)  # fmt: skip
        for i in range(2):  # each worker has subscribed (its gauge) before anything is sent
            wait_for(lambda i=i: found.metric(i, "scada_ingest_broker_connected") == 1.0,
                     f"ingest-{i + 1} connected")  # fmt: skip
        time.sleep(1.0)  # the SUBSCRIBE follows the CONNACK
        yield found
    finally:
        for process in reversed(started):
            process.stop()
        for cluster in reversed(clusters):
            cluster.close()
        broker.close()
        redis.close()


def publish_all(scaled: Scaled, messages: list[tuple[str, dict[str, object]]]) -> None:
    """Publish at QoS 1 as a device does, each acknowledged by the broker."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", scaled.broker.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, json.dumps(payload), qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        client.loop_stop()
        client.disconnect()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/")


def ws_events(process: Process, event: str) -> int:
    return len(re.findall(rf'"{event} ', process.log.read_text(errors="replace")))


def sockets_open(process: Process) -> int:
    """Websockets a daphne accepted and has not seen close (its access log's events)."""
    return ws_events(process, "WSCONNECT") - ws_events(process, "WSDISCONNECT")


def requests_served(process: Process) -> int:
    """Lines of daphne's access log (one per HTTP request or websocket event it served)."""
    text = process.log.read_text(errors="replace")
    return len(re.findall(r'"(GET|POST|HEAD|WSCONNECT) ', text))


@pytest.mark.browser
@pytest.mark.timeout(600)  # two clusters, two daphnes, two workers, nginx and a browser
def test_two_daphnes_and_two_workers_behind_nginx_serve_a_live_screen_from_one_broker(
    scaled: Scaled,
) -> None:
    s = scaled
    fill_id, fill_topic = s.tags["fill_level"]
    base_ms = int(time.time() * 1000) - 600_000
    # --- the shared subscription: every message stored once, by one of the two workers -----
    messages = [
        (topic, {"v": 100.0 + n, "ts": base_ms + n * 10})
        for n in range(400)
        for key, (_, topic) in sorted(s.tags.items())
        if key != "fill_level"
    ]
    publish_all(s, messages)
    ours = ",".join(str(pk) for key, (pk, _) in s.tags.items() if key != "fill_level")
    count = f"SELECT count(*) FROM plant_sample WHERE tag_id IN ({ours})"
    wait_for(lambda: s.sql(s.primary_url(), count) == str(len(messages)), "all samples stored")
    received = [s.metric(i, "scada_ingest_received_total") for i in range(2)]
    stored = [s.metric(i, "scada_ingest_samples_stored_total") for i in range(2)]
    assert all(n > 0 for n in received), f"one worker got nothing of the share: {received}"
    assert sum(received) == len(messages), received  # none delivered twice, none lost
    assert [s.metric(i, "scada_ingest_deduplicated_total") for i in range(2)] == [0.0, 0.0]
    # Each stored its share, and together exactly what was published (the table's count above).
    assert sum(stored) == len(messages) and all(n > 0 for n in stored), stored

    # --- a browser through nginx on a live screen --------------------------------------------
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            log_in(page, s.url)
            line = s.sql(s.primary_url(),
                         f"SELECT m.line_id FROM plant_tag t JOIN plant_machine m ON "
                         f"m.id = t.machine_id WHERE t.id = {fill_id}")  # fmt: skip
            page.goto(f"{s.url}/lines/{line}/")
            status = page.locator("#live-status")
            expect(status).to_have_attribute("data-state", "live", timeout=PUSHED_WITHIN_MS)
            reading = page.locator(f"#tag-{fill_id} .reading-value")
            publish_all(s, [(fill_topic, {"v": 503.7, "ts": int(time.time() * 1000)})])
            expect(reading).to_have_text("503.7", timeout=PUSHED_WITHIN_MS)

            # Both daphnes served: each one's own access log, and nginx's upstream field.
            for _ in range(20):
                assert requests.get(f"{s.url}/accounts/login/", timeout=10).status_code == 200
            served = [requests_served(w) for w in s.web]
            assert all(n > 0 for n in served), f"requests per daphne: {served}"
            upstreams = set(re.findall(r"upstream=(\S+)", s.nginx_log.read_text()))
            assert {f"127.0.0.1:{p}" for p in s.web_ports} <= upstreams, upstreams

            # --- history through nginx comes from the standby --------------------------------
            s.sql(s.standby_url(), "SELECT pg_wal_replay_pause()")
            wait_for(lambda: s.sql(s.standby_url(), "SELECT pg_get_wal_replay_pause_state()")
                     == "paused", "the standby paused")  # fmt: skip
            methane, methane_topic = s.tags["methane"]
            held = f"SELECT count(*) FROM plant_sample WHERE tag_id = {methane}"
            on_standby = int(s.sql(s.standby_url(), held))
            publish_all(s, [(methane_topic, {"v": 1.0 + n, "ts": base_ms + 5 + n * 10})
                            for n in range(50)])  # fmt: skip
            wait_for(lambda: int(s.sql(s.primary_url(), held)) == on_standby + 50,
                     "the primary has the new samples")  # fmt: skip

            def history() -> int:
                answer = requests.get(f"{s.url}/api/history/", timeout=10, params={
                    "tag": methane, "start": iso(base_ms - 3_600_000),
                    "end": iso(int(time.time() * 1000) + 3_600_000), "points": 10_000,
                }, headers={"Authorization": f"Bearer {s.token}"})  # fmt: skip
                assert answer.status_code == 200, answer.text
                (series,) = answer.json()["series"]
                return len(series["value"])

            # Asked several times, so each daphne answers at least once: both read the standby.
            assert {history() for _ in range(6)} == {on_standby}
            s.sql(s.standby_url(), "SELECT pg_wal_replay_resume()")
            wait_for(lambda: history() == on_standby + 50, "the standby caught up")

            # --- the daphne holding the page's socket dies: the page goes on via the other ---
            # One page, one socket: the overview's, opened at the login, closed when the page
            # went to the line screen (daphne logs the close a moment later on a busy box).
            wait_for(lambda: sum(sockets_open(w) for w in s.web) == 1,
                     "one socket open, the line screen's")  # fmt: skip
            holder = [w for w in s.web if sockets_open(w) > 0]
            (gone,) = holder
            (other,) = [w for w in s.web if w is not gone]
            connects = ws_events(other, "WSCONNECT")
            gone.stop(signal.SIGKILL)
            wait_for(lambda: ws_events(other, "WSCONNECT") > connects,
                     "the page reconnected through nginx to the other daphne")  # fmt: skip
            expect(status).to_have_attribute("data-state", "live", timeout=PUSHED_WITHIN_MS)
            publish_all(s, [(fill_topic, {"v": 511.2, "ts": int(time.time() * 1000)})])
            expect(reading).to_have_text("511.2", timeout=PUSHED_WITHIN_MS)
        finally:
            browser.close()
