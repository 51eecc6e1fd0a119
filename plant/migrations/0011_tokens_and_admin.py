import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import plant.models.tokens
from plant.roles import sync_roles


class Migration(migrations.Migration):
    """API tokens expire, read only, can be revoked, and keep who issued and revoked them.

    Every token that exists gets 90 days from this migration, however old it is, so no script
    stops on the day of the upgrade; the roles are synced again for the admins' own tokens.
    """

    dependencies = [
        ("plant", "0010_alarms_and_loops"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(
                blank=True,
                default=plant.models.tokens.default_expiry,
                help_text="At most a year after it is issued; empty: in 90 days.",
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="issued_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                help_text="Empty: issued by a script or command.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="revoked_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="revoked_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(
                blank=True,
                choices=[("read", "Read: the history, current-values and markers API")],
                default="read",
                help_text="What it may do; empty: read.",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="api_tokens",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(
                condition=models.Q(("expires_at__gt", models.F("created_at"))),
                name="api_token_expires_after_issue",
            ),
        ),
        migrations.AddConstraint(
            model_name="apitoken",
            constraint=models.CheckConstraint(
                condition=models.Q(("scope__in", ["read"])), name="api_token_scope_known"
            ),
        ),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
