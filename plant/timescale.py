"""Detect and use TimescaleDB when the PostgreSQL server has it; plain PostgreSQL otherwise."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection as default_connection
from django.db.backends.base.base import BaseDatabaseWrapper

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
        if "timescaledb" not in cursor.fetchone()[0]:
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
