"""System checks that name an unreachable service and say how to start it.

They carry the 'database' tag, so they run with `manage.py check --database default` (the run
command does this first) and not on every management command.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import connections

START_HINTS = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    "Mosquitto": "mosquitto -d -c /etc/mosquitto/mosquitto.conf",
}


def tcp_reachable(host: str, port: int, timeout: float = 2.0) -> str | None:
    """Return None when a TCP connection opens, else the reason it did not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def service_error(name: str, where: str, reason: str, env: str, check_id: str) -> Error:
    return Error(
        f"{name} at {where} is not reachable ({reason}).",
        hint=f"Start it with: {START_HINTS[name]}  (or set {env} to where it runs).",
        id=check_id,
    )


@register(Tags.database)
def check_postgresql(databases: Any = None, **kwargs: Any) -> list[Error]:
    if not databases:
        return []
    conf = settings.DATABASES["default"]
    where = f"{conf.get('HOST') or 'localhost'}:{conf.get('PORT') or 5432}"
    try:
        connections["default"].ensure_connection()
    except Exception as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[-1] if lines else type(exc).__name__
        return [service_error("PostgreSQL", where, reason, "DATABASE_URL", "scada.E001")]
    return []


@register(Tags.database)
def check_redis(databases: Any = None, **kwargs: Any) -> list[Error]:
    if not databases:
        return []
    url = urlsplit(settings.REDIS_URL)
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    reason = tcp_reachable(host, port)
    return (
        [service_error("Redis", f"{host}:{port}", reason, "REDIS_URL", "scada.E002")]
        if (reason)
        else []
    )


@register(Tags.database)
def check_mosquitto(databases: Any = None, **kwargs: Any) -> list[Error]:
    if not databases:
        return []
    url = urlsplit(settings.MQTT_URL)
    default_port = 8883 if url.scheme == "mqtts" else 1883
    host, port = url.hostname or "127.0.0.1", url.port or default_port
    reason = tcp_reachable(host, port)
    return (
        [service_error("Mosquitto", f"{host}:{port}", reason, "MQTT_URL", "scada.E003")]
        if (reason)
        else []
    )
