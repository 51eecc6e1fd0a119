"""Show or rebuild the historian's rollups on plain PostgreSQL (plant/rollups.py).

    manage.py rollups                                  # which buckets this database keeps
    manage.py rollups --rebuild                        # recompute them all from the samples
    manage.py rollups --rebuild --tag 12 --since 2026-11-01

The rollups follow every insert by themselves; a rebuild is for a database whose samples
were written while the trigger was off (restored from a dump without it, say) or changed
by hand. It runs a tag-day per transaction, so it can run while the worker ingests.
"""

from __future__ import annotations

from argparse import ArgumentTypeError
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.utils.dateparse import parse_datetime

from plant.rollups import ROLLUPS, install, rebuild, rollups_available
from plant.timescale import aggregates_available


class Command(BaseCommand):
    help = "Show the historian's rollups (plain PostgreSQL), or rebuild them from the samples."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rebuild", action="store_true", help="Recompute the rollups from the raw samples."
        )
        parser.add_argument(
            "--tag", type=int, action="append", help="Only this tag's (repeat for several)."
        )
        parser.add_argument(
            "--since", type=_instant, help="Only from this time on (ISO 8601, with its zone)."
        )
        parser.add_argument("--database", default="default", help="The database alias.")

    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        if aggregates_available(connection):
            self.stdout.write(
                "rollups: TimescaleDB keeps the continuous aggregates sample_1m and sample_1h "
                "instead; nothing to do"
            )
            return
        if not options["rebuild"] and (options["tag"] or options["since"]):
            raise CommandError("--tag and --since choose what --rebuild recomputes: add --rebuild")
        if options["rebuild"]:
            if not install(connection):
                raise CommandError("timescaledb is installed: its aggregates replace rollups")
            steps = rebuild(connection, tags=options["tag"], since=options["since"])
            self.stdout.write(f"rollups: rebuilt in {steps} steps (a tag-day each)")
        if not rollups_available(connection):
            raise CommandError(
                "rollups: not kept in this database (the trigger is missing): "
                "run `manage.py rollups --rebuild`"
            )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, reltuples::bigint FROM pg_class WHERE relname = ANY(%s)",
                [list(ROLLUPS)],
            )
            rows = dict(cursor.fetchall())
        sizes = ", ".join(f"{table} about {max(rows.get(table, 0), 0):,} rows" for table in ROLLUPS)
        self.stdout.write(f"rollups: kept as samples commit; {sizes}")


def _instant(text: str) -> datetime:
    """An aware datetime from the command line, or argparse's error saying why not."""
    try:
        instant = parse_datetime(text)
    except ValueError:  # well formed, but no such time (a 25th hour)
        instant = None
    if instant is None or instant.tzinfo is None:
        raise ArgumentTypeError(f"{text!r} is not an ISO 8601 time with its zone")
    return instant
