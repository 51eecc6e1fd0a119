"""Create (or bring up to date) the database role the application runs as.

The role logs in, owns nothing and is no superuser, so it can neither drop nor disable a
trigger, nor truncate a table: the journals' append-only triggers hold against the product
itself. Migrations run as the owner; run this after every `migrate` (it is idempotent), since
a new table has no grants until it does. It runs as the owner too (MIGRATE_DATABASE_URL), and
by default gives the role the user name and password of the application's DATABASE_URL.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, transaction
from psycopg import sql

from plant.models import (
    AlarmJournalEntry,
    ConfigChange,
    ControlLoopEvent,
    SecurityEvent,
    SetpointWrite,
)

# Journals and security events: the application adds rows and reads them, nothing else.
APPEND_ONLY = {
    m._meta.db_table for m in (AlarmJournalEntry, ConfigChange, ControlLoopEvent, SecurityEvent)
}
# A setpoint write's state moves by UPDATE (it is the outbox); it is never deleted.
NEVER_DELETED = {SetpointWrite._meta.db_table}
READ_ONLY = {"django_migrations"}  # the owner migrates; the application only looks
TABLES_SQL = """
SELECT c.relname, c.relkind IN ('v', 'm') FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""  # tables and views of this database, not those of an extension


class Command(BaseCommand):
    help = "Create or update the login role the application uses (no ownership, no TRUNCATE)."

    def add_arguments(self, parser: CommandParser) -> None:
        role, password = app_role()
        parser.add_argument(
            "--role", default=role, help="The role's name (default: DATABASE_URL's user)."
        )
        parser.add_argument(
            "--password",
            default=password,
            help="Its password (default: DATABASE_URL's; empty keeps the present one).",
        )
        parser.add_argument("--database", default="default", help="The database alias.")

    def handle(self, *args: Any, role: str, password: str, database: str, **options: Any) -> None:
        connection = connections[database]
        with transaction.atomic(using=database), connection.cursor() as cursor:
            name = sql.Identifier(role)
            _create_role(cursor, role, name, password)
            cursor.execute(
                sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                    sql.Identifier(connection.settings_dict["NAME"]), name
                )
            )
            cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(name))
            granted = _grant_tables(cursor, name)
            cursor.execute(
                sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(name)
            )
            _refuse_ownership(cursor, role)
        self.stdout.write(f"role {role!r}: privileges on {granted} tables and views")


def app_role() -> tuple[str, str]:
    """The user and password of the application's URL when it is not the owner's; else
    scada_app, with APP_DB_PASSWORD (one URL for both: the role is made for a later switch)."""
    app, owner = urlsplit(settings.APP_DATABASE_URL), urlsplit(settings.OWNER_DATABASE_URL)
    if app.username and app.username != owner.username:
        return unquote(app.username), unquote(app.password or "")
    return "scada_app", os.environ.get("APP_DB_PASSWORD", "")


def _create_role(cursor: Any, role: str, name: sql.Identifier, password: str) -> None:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    if cursor.fetchone() is None:
        cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
    # Exactly a login: whatever it was given before by hand is taken back.
    cursor.execute(
        sql.SQL(
            "ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        ).format(name)
    )
    if password:
        cursor.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(name, sql.Literal(password)))


def _grant_tables(cursor: Any, name: sql.Identifier) -> int:
    """Give each table exactly its privileges: first revoke all, then grant what it needs."""
    cursor.execute(TABLES_SQL)
    relations = cursor.fetchall()
    for table, is_view in relations:
        if is_view or table in READ_ONLY:
            rights = "SELECT"
        elif table in APPEND_ONLY:
            rights = "SELECT, INSERT"
        elif table in NEVER_DELETED:
            rights = "SELECT, INSERT, UPDATE"
        else:
            rights = "SELECT, INSERT, UPDATE, DELETE"
        ident = sql.Identifier(table)
        cursor.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(ident, name))
        cursor.execute(sql.SQL("GRANT " + rights + " ON {} TO {}").format(ident, name))
    return len(relations)


def _refuse_ownership(cursor: Any, role: str) -> None:
    """An owner may drop or disable any trigger of its tables: the role must own nothing."""
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
        "WHERE rolname = %s) AND relpersistence <> 't'",
        [role],
    )
    owned = [relname for (relname,) in cursor.fetchall()]
    if owned:
        raise CommandError(
            f"{role} owns {', '.join(owned)}: REASSIGN OWNED BY {role} TO <the owner> first"
        )
