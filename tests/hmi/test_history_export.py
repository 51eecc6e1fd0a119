"""The CSV export: streamed chunk by chunk as it is read, raw or bucketed, UTC and plant time.

The export is an asynchronous stream, as daphne serves it; Django's AsyncClient reads it the
same way. Its chunks are read in Django's sync thread, on another database connection than
the test's, so these tests commit their data (`committed_db`).
"""

from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from django.http import StreamingHttpResponse
from django.test import AsyncClient, Client

from plant.models import Plant, Quality, Tag
from tests.builders import demo_tag
from tests.history_data import T0, add_samples, add_series, at, copy_rows

ROWS = 60_000


def export_url(tag: Tag, **params: object) -> str:
    query = {"tag": tag.pk, "start": T0.isoformat(), "end": at(days=1).isoformat(), **params}
    return f"/history/export.csv?{urlencode(query)}"


async def read_stream(response: StreamingHttpResponse) -> list[bytes]:
    """Every chunk of the stream, then the connections the request opened are closed.

    The test database is dropped at the end of the session, so no session may stay open on
    it: neither the sync thread's, where the view ran, nor the test's own async context's.
    """
    chunks = [chunk async for chunk in response.streaming_content]  # type: ignore[union-attr]
    await sync_to_async(connections.close_all)()
    connections.close_all()
    return chunks


@pytest.mark.asyncio
async def test_a_large_export_streams_in_chunks(
    committed_db: None, async_client: AsyncClient, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    level = demo_tag(demo_plant, "tank_level")
    add_series(level.pk, T0, ROWS, value=lambda i: i / 8)
    await async_client.aforce_login(users_by_role["viewer"])
    response = await async_client.get(export_url(level))
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response.is_async  # daphne sends each chunk as it comes
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    chunks = await read_stream(response)
    # A header, then one chunk per query of 5000 rows: never the whole export at once.
    assert len(chunks) == 1 + ROWS // 5000
    assert max(len(chunk) for chunk in chunks) < 1_000_000
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert rows[0] == ["tag", "topic", "time", "local_time", "value", "text", "quality"]
    assert len(rows) == ROWS + 1
    assert rows[1] == [str(level.pk), level.topic, "2031-03-03T00:00:00Z",
                       "2031-03-03T01:00:00+01:00", "0.0", "", "good"]  # fmt: skip
    assert rows[-1][2] == "2031-03-03T16:39:59Z"


@pytest.mark.asyncio
async def test_a_bucketed_export_gives_min_max_avg_per_bucket(
    committed_db: None, async_client: AsyncClient, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    level = demo_tag(demo_plant, "tank_level")
    add_series(level.pk, T0, 7200, value=lambda i: float(i % 60))  # two hours at 1 Hz
    add_samples(level.pk, [(at(hours=5), 1.0, Quality.BAD)])  # a bad value: no bucket
    await async_client.aforce_login(users_by_role["viewer"])
    response = await async_client.get(export_url(level, bucket=3600))
    rows = list(csv.reader(io.StringIO(b"".join(await read_stream(response)).decode())))
    assert rows == [
        ["tag", "topic", "time", "local_time", "min", "max", "avg", "count"],
        [str(level.pk), level.topic, "2031-03-03T00:00:00Z", "2031-03-03T01:00:00+01:00",
         "0.0", "59.0", "29.5", "3600"],
        [str(level.pk), level.topic, "2031-03-03T01:00:00Z", "2031-03-03T02:00:00+01:00",
         "0.0", "59.0", "29.5", "3600"],
    ]  # fmt: skip


@pytest.mark.django_db
def test_the_export_refuses_strangers_and_bad_parameters(
    client: Client, outsider: User, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    level = demo_tag(demo_plant, "tank_level")
    assert client.get(export_url(level)).status_code == 401
    client.force_login(outsider)
    assert client.get(export_url(level)).status_code == 404
    client.force_login(users_by_role["viewer"])
    response = client.get(export_url(level, bucket="0"))
    assert response.status_code == 400
    assert response.json()["error"].startswith("bucket:")


@pytest.mark.asyncio
async def test_a_devices_text_that_looks_like_a_formula_is_exported_as_text(
    committed_db: None, async_client: AsyncClient, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    state = demo_tag(demo_plant, "state")
    texts = ['=HYPERLINK("http://evil","click")', "@SUM(A1)", "\t=1+1", "\r-2", "running"]
    copy_rows((state.pk, at(seconds=i), None, text, 0) for i, text in enumerate(texts))
    level = demo_tag(demo_plant, "tank_level")
    add_samples(level.pk, [(T0, -3.5)])
    await async_client.aforce_login(users_by_role["viewer"])
    rows = []
    for tag in (state, level):
        response = await async_client.get(export_url(tag))
        rows += list(csv.reader(io.StringIO(b"".join(await read_stream(response)).decode())))[1:]
    assert [row[5] for row in rows[:5]] == [f"'{text}" for text in texts[:4]] + ["running"]
    assert rows[5][4] == "-3.5"  # a number stays a number
