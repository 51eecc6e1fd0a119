"""Detect and use TimescaleDB when the PostgreSQL server has it; plain PostgreSQL otherwise."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from plant.quality import USABLE_SQL

log = logging.getLogger(__name__)


def extension_installed(connection: BaseDatabaseWrapper = default_connection) -> bool:
    """True when the timescaledb extension is installed in this database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        return cursor.fetchone() is not None


def try_create_extension(connection: BaseDatabaseWrapper) -> bool:
    """Create the extension if the server offers it; never fail when it does not.

    A savepoint keeps the surrounding migration transaction usable after a refusal.
    """
    if settings.TIMESCALEDB == "off":
        log.info("TIMESCALEDB=off: using plain PostgreSQL")
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        if cursor.fetchone() is None:
            log.info("timescaledb is not available on this server: using plain PostgreSQL")
            return False
        # Without preloading, CREATE EXTENSION ends the whole session, not just the statement.
        cursor.execute("SHOW shared_preload_libraries")
        (preloaded,) = cursor.fetchone()
        if "timescaledb" not in preloaded:
            log.warning(
                "timescaledb is installed but not in shared_preload_libraries: "
                "using plain PostgreSQL"
            )
            return False
        cursor.execute("SAVEPOINT timescale_probe")
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except Exception as exc:  # not preloaded, no permission, wrong version
            cursor.execute("ROLLBACK TO SAVEPOINT timescale_probe")
            log.warning("timescaledb is present but cannot be used (%s): plain PostgreSQL", exc)
            return False
        cursor.execute("RELEASE SAVEPOINT timescale_probe")
        return True


# The continuous aggregates of the samples and their bucket widths in seconds. Each keeps
# min, max, avg, sum and count per tag and bucket; sum and count let a query merge buckets
# into wider ones exactly. Bad-quality and non-numeric values are left out, as everywhere in
# the historian's downsampling (plant/historian.py).
AGGREGATES = {"sample_1m": 60, "sample_1h": 3600}
# Each refresh re-reads this far back, so values that arrive late (a gateway's buffer after an
# outage) still reach the aggregates. HISTORIAN_RETENTION must stay well above it.
REFRESH_LOOKBACK = "3 days"
REFRESH_EVERY = {"sample_1m": "1 minute", "sample_1h": "15 minutes"}

AGGREGATE_SQL = f"""
CREATE MATERIALIZED VIEW IF NOT EXISTS {{view}}
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT tag_id, time_bucket(INTERVAL '{{width}} seconds', time) AS bucket,
       min(value) AS min, max(value) AS max, avg(value) AS avg,
       sum(value) AS sum, count(value) AS count
FROM plant_sample
WHERE value IS NOT NULL AND {USABLE_SQL}
GROUP BY tag_id, bucket
WITH NO DATA
"""

_aggregates_available: dict[tuple[str, str], bool] = {}


def aggregates_available(connection: BaseDatabaseWrapper = default_connection) -> bool:
    """True when this database has TimescaleDB and the sample aggregates; asked once per database.

    `materialized_only = false` makes each aggregate real-time: buckets not yet materialised
    are computed from the raw samples at query time, so readers never see a stale tail.
    """
    key = (connection.alias, connection.settings_dict["NAME"])
    if key not in _aggregates_available:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') "
                "AND to_regclass('sample_1m') IS NOT NULL AND to_regclass('sample_1h') IS NOT NULL"
            )
            (available,) = cursor.fetchone()
            _aggregates_available[key] = bool(available)
    return _aggregates_available[key]


def create_aggregates(connection: BaseDatabaseWrapper) -> bool:
    """Create the aggregates with their refresh policies and fill them; False without TimescaleDB.

    Safe to run again. Must run outside a transaction block: TimescaleDB refuses to refresh
    an aggregate inside one.
    """
    if not extension_installed(connection):
        return False
    with connection.cursor() as cursor:
        for view, width in AGGREGATES.items():
            cursor.execute(AGGREGATE_SQL.format(view=view, width=width))
            cursor.execute(
                "SELECT add_continuous_aggregate_policy(%s, start_offset => %s::interval, "
                "end_offset => %s::interval, schedule_interval => %s::interval, "
                "if_not_exists => true)",
                [view, REFRESH_LOOKBACK, f"{width} seconds", REFRESH_EVERY[view]],
            )
            # The policy only looks back REFRESH_LOOKBACK: materialise older history once.
            cursor.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", [view])
    _aggregates_available.clear()
    return True


def drop_aggregates(connection: BaseDatabaseWrapper) -> None:
    """Undo create_aggregates (the policies go with the views)."""
    with connection.cursor() as cursor:
        for view in AGGREGATES:
            cursor.execute(f"DROP MATERIALIZED VIEW IF EXISTS {view}")
    _aggregates_available.clear()


def apply_storage_policies(
    connection: BaseDatabaseWrapper, compress_after: str | None, retention: str | None
) -> bool:
    """Make the compression and retention policies of the samples match the settings.

    False without TimescaleDB. Runs after every `migrate`, so a deployment changes them by
    changing HISTORIAN_COMPRESS_AFTER or HISTORIAN_RETENTION and migrating.
    """
    if not extension_installed(connection):
        return False
    with connection.cursor() as cursor:
        _set_policy(cursor, "compression", "compress_after", compress_after)
        _set_policy(cursor, "retention", "drop_after", retention)
    return True


def _set_policy(cursor: CursorWrapper, kind: str, key: str, interval: str | None) -> None:
    """Replace the `kind` policy of plant_sample unless it already has this interval."""
    cursor.execute(
        "SELECT (config->>%s)::interval IS NOT DISTINCT FROM %s::interval "
        "FROM timescaledb_information.jobs "
        "WHERE hypertable_name = 'plant_sample' AND proc_name = %s",
        [key, interval, f"policy_{kind}"],
    )
    job = cursor.fetchone()  # None: there is no such policy
    if job is None:
        unchanged = interval is None
    else:
        (same_interval,) = job
        unchanged = bool(same_interval)
    if unchanged:
        return
    cursor.execute(f"SELECT remove_{kind}_policy('plant_sample', if_exists => true)")
    if interval is not None:
        cursor.execute(f"SELECT add_{kind}_policy('plant_sample', %s::interval)", [interval])
    log.info("historian %s policy of samples: %s", kind, interval or "off")
