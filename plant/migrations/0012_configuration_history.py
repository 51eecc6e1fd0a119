import django.core.serializers.json
import django.utils.timezone
from django.db import migrations, models

# Journals are append-only for every client of the database, not only for this code: a row
# trigger refuses UPDATE and DELETE, a statement trigger TRUNCATE (which fires no row
# trigger). Only a session that sets scada.allow_truncate may TRUNCATE: Django's flush
# between transactional tests does (plant.apps.allow_truncate_in_test_database), a manage.py
# flush of a real database does not. The application's role has no TRUNCATE right anyway.
REFUSE = """
CREATE FUNCTION plant_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('scada.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END $$;
"""
# table → the row operations refused. A setpoint write is its own outbox row, whose state
# moves by UPDATE by design; it is never deleted.
PROTECTED = {
    "plant_configchange": "UPDATE OR DELETE",
    "plant_controlloopevent": "UPDATE OR DELETE",
    "plant_setpointwrite": "DELETE",
    "plant_alarmjournalentry": None,  # its row trigger is migration 0006's
}


def _protect() -> str:
    sql = [REFUSE]
    for table, operations in PROTECTED.items():
        if operations:
            sql.append(
                f"CREATE TRIGGER {table}_append_only BEFORE {operations} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION plant_journal_append_only();"
            )
        sql.append(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION plant_journal_append_only();"
        )
    return "\n".join(sql)


def _unprotect() -> str:
    sql = []
    for table, operations in PROTECTED.items():
        if operations:
            sql.append(f"DROP TRIGGER {table}_append_only ON {table};")
        sql.append(f"DROP TRIGGER {table}_no_truncate ON {table};")
    sql.append("DROP FUNCTION plant_journal_append_only();")
    return "\n".join(sql)


class Migration(migrations.Migration):
    """The configuration history (plant.models.ConfigChange) and every journal append-only."""

    dependencies = [("plant", "0011_tokens_and_admin")]

    operations = [
        migrations.CreateModel(
            name="ConfigChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "actor",
                    models.CharField(
                        help_text="The user's name, 'system', or the command that made it.",
                        max_length=150,
                    ),
                ),
                (
                    "actor_user_id",
                    models.IntegerField(help_text="The user's id, if a person.", null=True),
                ),
                (
                    "model",
                    models.CharField(help_text="app_label.model, e.g. plant.tag.", max_length=100),
                ),
                ("object_id", models.CharField(max_length=64)),
                (
                    "object_repr",
                    models.CharField(help_text="The object in words, then.", max_length=200),
                ),
                (
                    "plant_id",
                    models.BigIntegerField(help_text="The plant it belongs to, if any.", null=True),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("create", "created"),
                            ("update", "changed"),
                            ("delete", "deleted"),
                        ],
                        max_length=6,
                    ),
                ),
                (
                    "changes",
                    models.JSONField(
                        default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder
                    ),
                ),
            ],
            options={
                "ordering": ["-at", "-id"],
                "indexes": [
                    models.Index(fields=["-at", "-id"], name="config_change_recent"),
                    models.Index(fields=["plant_id", "-at"], name="config_change_plant"),
                    models.Index(fields=["model", "object_id", "-at"], name="config_change_object"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("action__in", ["create", "update", "delete"])),
                        name="config_change_action_known",
                    )
                ],
            },
        ),
        migrations.RunSQL(_protect(), _unprotect()),
    ]
