"""A web request's statements are bounded in time: one that outlasts the limit ends as a clean
503 in JSON, not as a daphne thread held for as long as the database takes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import psycopg
import pytest
from django.conf import Settings
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client

from hmi.web_limits import StatementTimeoutMiddleware
from plant.models import Plant, Tag
from tests.builders import demo_tag
from tests.history_data import T0, add_series, at

MIDDLEWARE = "hmi.web_limits.StatementTimeoutMiddleware"
# Without the limit the locked query waits this long, then the lock goes and it answers.
LOCK_HELD_S = 4


@pytest.fixture
def limited(settings: Settings) -> Iterator[None]:
    """The middleware in place (config/settings.py may not list it yet), with a short limit.

    The limit stays on the test's connection after the request, so it is taken off again.
    """
    if MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]
    settings.WEB_STATEMENT_TIMEOUT_MS = 300
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET statement_timeout")


@contextmanager
def table_locked(table: str) -> Iterator[None]:
    """Another session holds `table` locked, as a long maintenance job would, for at most
    LOCK_HELD_S seconds: until the block ends, a statement that reads the table waits."""
    params = connection.get_connection_params()
    locker = psycopg.connect(
        dbname=params["dbname"], host=params.get("host"), port=params.get("port"),
        user=params.get("user"), autocommit=False,
    )  # fmt: skip
    locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    timer = threading.Timer(LOCK_HELD_S, locker.rollback)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        locker.close()  # ends its transaction, and the lock with it


@pytest.fixture
def level(demo_plant: Plant) -> Tag:
    tag = demo_tag(demo_plant, "tank_level")
    add_series(tag.pk, T0, 600)
    return tag


def test_a_history_query_that_outlasts_the_limit_ends_as_a_503_in_json(
    committed_db: None, limited: None, client: Client, users_by_role: dict[str, User],
    level: Tag,
) -> None:  # fmt: skip
    client.force_login(users_by_role["viewer"])
    query = urlencode({"tag": level.pk, "start": T0.isoformat(), "end": at(hours=1).isoformat()})
    with table_locked("plant_sample"):
        response = client.get(f"/api/history/?{query}")
    assert response.status_code == 503
    assert "took longer than 300 ms" in response.json()["error"]
    response = client.get(f"/api/history/?{query}")  # the lock gone, the same request answers
    assert response.status_code == 200
    assert len(response.json()["series"][0]["value"]) == 600


@pytest.mark.django_db
def test_the_limit_holds_for_the_requests_connection_only_while_it_is_a_web_request(
    settings: Settings,
) -> None:
    settings.WEB_STATEMENT_TIMEOUT_MS = 1234

    def show(request: HttpRequest) -> HttpResponse:
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            return HttpResponse(cursor.fetchone()[0])

    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"  # what the ingest worker and commands run with
    response = StatementTimeoutMiddleware(show)(HttpRequest())
    assert response.content == b"1234ms"
