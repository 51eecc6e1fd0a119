"""The rows one real load of the demo plant writes, to insert again in each test's transaction.

Loading the demo plant runs its validation and the configuration history's signals: about
760 queries, 0.4 s a test, most of the suite's time when some 600 tests ask for it. So the
session loads it once for real (inside a savepoint it then rolls back), keeps every row the
load inserted into any table, the configuration history included, and each test that runs in
a transaction (pytest-django's `db`) inserts those rows again: the same database contents a
load would leave, with the test's own topic root and times of its own, in a few statements.

Tests that commit (`transactional_db`) still load the plant for real: other processes see it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from plant.demo import load_demo_plant

JSON_TYPES = {114: "json", 3802: "jsonb"}  # PostgreSQL type OIDs


@dataclass(frozen=True)
class Table:
    name: str
    columns: list[str]
    casts: list[str]  # "" or "::jsonb" per column
    rows: list[tuple[object, ...]]


@dataclass(frozen=True)
class DemoSnapshot:
    """What one load inserted, with `marker` where the load's topic root was."""

    marker: str
    slug: str
    tables: list[Table]
    loaded_from: datetime
    loaded_to: datetime

    def insert(self, topic_root: str) -> None:
        """Insert the rows again (into the caller's transaction), under `topic_root`.

        Times the load wrote (the history's `at`) move to just before now, as if loaded now.
        """
        shift = timezone.now() - self.loaded_to
        with connection.cursor() as cursor:
            for table in self.tables:
                columns = ", ".join(connection.ops.quote_name(c) for c in table.columns)
                values = ", ".join(f"%s{cast}" for cast in table.casts)
                cursor.executemany(
                    f"INSERT INTO {connection.ops.quote_name(table.name)} ({columns}) "
                    f"VALUES ({values})",
                    [[self._moved(v, topic_root, shift) for v in row] for row in table.rows],
                )

    def _moved(self, value: object, topic_root: str, shift: timedelta) -> object:
        if isinstance(value, str):
            return value.replace(self.marker, topic_root)
        if isinstance(value, datetime) and self.loaded_from <= value <= self.loaded_to:
            return value + shift
        return value


def _json_text(value: object) -> object:
    """JSON as text (Django has psycopg hand JSON columns over undecoded, as text)."""
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _all_rows(tables: list[str]) -> dict[str, tuple[list[str], list[str], list[tuple]]]:
    found = {}
    with connection.cursor() as cursor:
        for name in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(name)}")
            columns = [d.name for d in cursor.description]
            casts = [f"::{JSON_TYPES[d.type_code]}" if d.type_code in JSON_TYPES else ""
                     for d in cursor.description]  # fmt: skip
            rows = [
                tuple(_json_text(v) if cast else v for v, cast in zip(row, casts, strict=True))
                for row in cursor.fetchall()
            ]
            found[name] = (columns, casts, rows)
    return found


def _hashable(row: tuple) -> tuple:
    return tuple(tuple(v) if isinstance(v, list) else v for v in row)


def take_demo_snapshot(marker: str) -> DemoSnapshot:
    """Load the demo plant under `marker` in a savepoint, keep what it inserted, roll back."""
    models = apps.get_models(include_auto_created=True)
    tables = sorted({m._meta.db_table for m in models if m._meta.managed and not m._meta.proxy})
    kept: list[Table] = []
    with transaction.atomic():
        before = _all_rows(tables)
        loaded_from = timezone.now()
        plant = load_demo_plant(topic_root=marker)
        loaded_to = timezone.now()
        for name, (columns, casts, rows) in _all_rows(tables).items():
            old_columns, _, old_rows = before[name]
            if old_columns != columns:
                raise AssertionError(f"{name} changed its columns during the demo load")
            existing = {_hashable(row) for row in old_rows}
            if not existing <= {_hashable(row) for row in rows}:
                raise AssertionError(f"the demo load changed or deleted rows of {name}")
            new = [row for row in rows if _hashable(row) not in existing]
            if new:
                kept.append(Table(name, columns, casts, new))
        transaction.set_rollback(True)
    return DemoSnapshot(marker, plant.slug, kept, loaded_from, loaded_to)
