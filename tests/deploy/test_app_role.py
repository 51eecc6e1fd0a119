"""The owner migrates, the application runs as a role that owns nothing: compose's split
(MIGRATE_DATABASE_URL and DATABASE_URL) on the real PostgreSQL, and `manage.py run`'s."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from pytest_django.fixtures import Settings

from plant.management.commands.run import app_database_env
from tests.deploy.compose_file import ROOT

OWNER = "postgres://postgres@127.0.0.1:5432/{}"
PASSWORD = "p/w#?@:%x"  # every character a URL gives a meaning to


def psql(statement: str) -> None:
    with psycopg.connect(OWNER.format("postgres"), autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A database migrated as compose's migrate does: as the owner, then create_app_role."""
    name, role = f"scada_deploy_{uuid.uuid4().hex[:8]}", f"scada_app_{uuid.uuid4().hex[:8]}"
    password_file = tmp_path_factory.mktemp("secrets") / "db_app_password"
    password_file.write_text(PASSWORD + "\n")
    psql(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "MIGRATE_DATABASE_URL": OWNER.format(name),
        "DATABASE_URL": f"postgres://{role}@127.0.0.1:5432/{name}",
        "DATABASE_PASSWORD_FILE": str(password_file),
        "TIMESCALEDB": "off",
    }
    try:
        # The role does not exist yet: migrate can only succeed as the owner.
        manage(env, "migrate", "-v0")
        manage(env, "create_app_role")
        yield {"env": env, "role": role, "database": name}  # type: ignore[misc]
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        psql(f'DROP ROLE IF EXISTS "{role}"')


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_create_app_role_names_the_role_and_password_of_database_url(deployment: dict) -> None:
    with psycopg.connect(OWNER.format(deployment["database"])) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolpassword IS NOT NULL, "
            "(SELECT count(*) FROM pg_class WHERE relowner = a.oid) "
            "FROM pg_authid a WHERE rolname = %s",
            [deployment["role"]],
        ).fetchone()
    assert row == (False, False, False, True, 0)


def journal_triggers(deployment: dict) -> list[tuple[str, str]]:
    with psycopg.connect(OWNER.format(deployment["database"])) as conn:
        return conn.execute(
            "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal AND c.relname IN ('plant_alarmjournalentry', "
            "'plant_configchange', 'plant_controlloopevent', 'plant_securityevent') ORDER BY 1"
        ).fetchall()


def test_the_application_role_cannot_drop_disable_or_truncate_the_journals(
    deployment: dict,
) -> None:
    triggers = journal_triggers(deployment)
    assert len(triggers) >= 4  # row and TRUNCATE triggers of every journal
    attacks = [
        sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(t), sql.Identifier(table))
        for t, table in triggers
    ]
    for table in {table for _, table in triggers}:
        ident = sql.Identifier(table)
        attacks += [
            sql.SQL("ALTER TABLE {} DISABLE TRIGGER ALL").format(ident),
            sql.SQL("TRUNCATE {}").format(ident),
            sql.SQL("DELETE FROM {}").format(ident),
            sql.SQL("DROP TABLE {}").format(ident),
        ]
    with psycopg.connect(deployment["env"]["DATABASE_URL"], autocommit=True) as app:
        assert app.execute("SELECT current_user").fetchone() == (deployment["role"],)
        for attack in attacks:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(attack)
    assert journal_triggers(deployment) == triggers


def test_the_application_role_writes_and_reads_through_the_product(deployment: dict) -> None:
    env = {**deployment["env"], "ADMIN_PASSWORD": "a long first admin password"}
    del env["MIGRATE_DATABASE_URL"]  # nothing but the application's own URL
    manage(env, "load_demo", "--no-users", "--topic-root", "deploy/")
    assert "created" in manage(env, "ensure_admin")
    shown = manage(
        env,
        "shell",
        "-c",
        "from django.db import connection; from plant.models import Tag; "
        "from django.contrib.auth.models import User; c = connection.cursor(); "
        "c.execute('SELECT current_user'); "
        "print(c.fetchone()[0], Tag.objects.filter(topic__startswith='deploy/').exists(), "
        "User.objects.filter(is_superuser=True).count())",
    )
    assert shown.splitlines()[-1].split() == [deployment["role"], "True", "1"]


def test_run_gives_its_children_the_application_role_not_the_owner(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MIGRATE_DATABASE_URL", raising=False)
    monkeypatch.setenv("APP_DB_PASSWORD", "a/b")
    settings.APP_DATABASE_URL = "postgres://owner:secret@db.example:5432/scada"
    env = {
        "DATABASE_URL": settings.APP_DATABASE_URL,
        "DATABASE_PASSWORD_FILE": "/owner",
        "PATH": "/bin",
    }
    children = app_database_env(env)
    assert children == {
        "DATABASE_URL": "postgres://scada_app:a%2Fb@db.example:5432/scada",
        "PATH": "/bin",
    }


def test_run_with_an_explicit_owner_url_keeps_it_from_its_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MIGRATE_DATABASE_URL", "postgres://owner@db/scada")
    env = {
        "DATABASE_URL": "postgres://app@db/scada",
        "DATABASE_PASSWORD_FILE": "/app",
        "MIGRATE_DATABASE_URL": "postgres://owner@db/scada",
        "MIGRATE_DATABASE_PASSWORD_FILE": "/owner",
    }
    assert app_database_env(env) == {
        "DATABASE_URL": "postgres://app@db/scada",
        "DATABASE_PASSWORD_FILE": "/app",
    }


def test_only_the_owner_commands_connect_as_the_owner(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MIGRATE_DATABASE_URL": "postgres://owner@127.0.0.1:5432/x",
        "DATABASE_URL": "postgres://app@127.0.0.1:5432/x",
    }
    show = "from django.conf import settings; print(settings.DATABASES['default']['USER'])"
    assert manage(env, "shell", "-c", show).splitlines()[-1] == "app"
    script = tmp_path / "owner.py"
    script.write_text(
        "import os, sys; sys.argv = ['manage.py', 'migrate']; sys.path.insert(0, os.getcwd())\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'\n"
        "from django.conf import settings; print(settings.DATABASES['default']['USER'])\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["owner"]
