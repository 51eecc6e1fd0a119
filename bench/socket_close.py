"""How soon a logout closes the sockets its session opened, on a real daphne and Redis.

    python bench/socket_close.py                      # 20 sessions, 5 sockets each
    python bench/socket_close.py --sessions 50 --sockets 10

It migrates a fresh database (`scada_hb_bench_close`, or --database), builds one plant with a
line, starts one daphne (production-like settings, DEBUG off), logs `--sessions` users in
through the real login form, opens `--sockets` line-screen websockets per session, then logs
each session out (the real logout form) one after another and times, for each socket, from
sending the logout to receiving the server's close (code 4401). Prints p50, p95 and the
worst, and counts sockets that were not closed within 10 s (they would wait for the 60 s
re-check instead) or were closed with another code.
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import websockets

from tests.services import ROOT, free_port, fresh_database, wait_port

SECRET = f"bench-{uuid.uuid4().hex}"
PASSWORD = f"pw-{uuid.uuid4().hex}"


def environment(dsn: str) -> dict[str, str]:
    return {
        **os.environ, "DATABASE_URL": dsn, "DEBUG": "false", "SECRET_KEY": SECRET,
        "SECURE_COOKIES": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
        "CHANNEL_LAYER_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }  # fmt: skip


def build(sessions: int) -> int:
    """One plant, line and machine with a tag, and `sessions` viewers; returns the line's id."""
    from django.contrib.auth.models import Group, User

    from plant.models import Line, Machine, Plant, Tag

    plant = Plant.objects.create(name="Bench", slug="bench")
    line = Line.objects.create(plant=plant, name="Line", slug="line", position=0)
    machine = Machine.objects.create(line=line, name="M", slug="m", position=0)
    Tag.objects.create(machine=machine, key="t", topic="bench/line/m/t")
    viewer = Group.objects.get(name="viewer")
    for n in range(sessions):
        user = User.objects.create_user(f"viewer{n}", password=PASSWORD)
        user.groups.add(viewer)
        plant.members.add(user)
    return line.pk


class Browser:
    """A logged-in session over plain HTTP, as a browser's cookie jar holds it."""

    def __init__(self, base: str, username: str) -> None:
        self.base, self.jar = base, http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.post("/accounts/login/", {"username": username, "password": PASSWORD})
        assert self.cookie("sessionid"), f"{username} did not get a session"

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "")

    def post(self, path: str, fields: dict[str, str]) -> None:
        # The login page's form gives the token; after the login, the cookie holds it.
        token = self.cookie("csrftoken")
        if not token:
            page = self.opener.open(f"{self.base}{path}", timeout=10).read().decode()
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
        data = {**fields, "csrfmiddlewaretoken": token}
        request = urllib.request.Request(
            f"{self.base}{path}", urllib.parse.urlencode(data).encode(),
            headers={"Referer": f"{self.base}{path}"},
        )  # fmt: skip
        self.opener.open(request, timeout=10).read()


async def closed_after(
    socket: websockets.ClientConnection, sent_at: list[float]
) -> tuple[float, int]:
    """Seconds from the logout's sending to the close, and the close code."""
    try:
        async with asyncio.timeout(10):
            async for _ in socket:
                pass
    except websockets.ConnectionClosed:
        pass  # a close code other than 1000 ends the iteration with this
    except TimeoutError:
        return float("inf"), 0
    return time.perf_counter() - sent_at[0], socket.close_code or 0


async def run(base: str, line: int, sessions: int, per_session: int) -> list[tuple[float, int]]:
    browsers = [Browser(base, f"viewer{n}") for n in range(sessions)]
    url = base.replace("http", "ws") + f"/ws/line/{line}/"
    results: list[tuple[float, int]] = []
    for browser in browsers:
        headers = {"Cookie": f"sessionid={browser.cookie('sessionid')}", "Origin": base}
        sockets = [await websockets.connect(url, additional_headers=headers)
                   for _ in range(per_session)]  # fmt: skip
        for socket in sockets:
            await socket.recv()  # the snapshot: the socket is open and behind its gates
        sent_at = [0.0]
        waits = [asyncio.create_task(closed_after(s, sent_at)) for s in sockets]
        sent_at[0] = time.perf_counter()
        await asyncio.to_thread(browser.post, "/accounts/logout/", {})
        results += await asyncio.gather(*waits)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--sockets", type=int, default=5, help="per session")
    parser.add_argument("--database", default="scada_hb_bench_close")
    args = parser.parse_args()
    dsn = fresh_database(args.database)
    env = environment(dsn)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DEBUG", "SECRET_KEY",
                       "SECURE_COOKIES", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE")})  # fmt: skip
    import django

    django.setup()
    line = build(args.sessions)
    # DEBUG off serves the hashed static files, as in production.
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT,
                   env=env, check=True)  # fmt: skip
    port = free_port()
    daphne = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
         "config.asgi:application"], cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        wait_port(port)
        results = asyncio.run(run(f"http://127.0.0.1:{port}", line, args.sessions, args.sockets))
    finally:
        daphne.terminate()
        daphne.wait(timeout=10)
    closed = sorted(s for s, code in results if code == 4401)
    print(f"{len(results)} sockets of {args.sessions} sessions; closed with 4401: {len(closed)}; "
          f"not closed within 10 s: {sum(1 for s, _ in results if s == float('inf'))}; "
          f"other codes: {sum(1 for s, c in results if c not in (0, 4401))}")  # fmt: skip
    if closed:
        p95 = closed[max(0, round(0.95 * len(closed)) - 1)]
        print(
            f"logout → close: p50 {statistics.median(closed) * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms, worst {closed[-1] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
