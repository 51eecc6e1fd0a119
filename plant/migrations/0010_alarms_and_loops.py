"""Alarm delay timers that survive a restart, and constraints on everything the worker reads.

Before the constraints, values that only ever meant "none" are repaired (a negative filter
time or deadband becomes 0, a stale time or expected interval of 0 the default), so a plant
whose admin typed one can upgrade; any other bad row stops the migration with PostgreSQL
naming the constraint, for an admin to fix first.
"""

from django.db import migrations, models

REPAIR = """
UPDATE plant_controlloop SET filter_s = 0 WHERE filter_s < 0;
UPDATE plant_controlloop SET write_deadband = 0 WHERE write_deadband < 0;
UPDATE plant_controlloop SET pv_stale_s = 5 WHERE pv_stale_s <= 0;
UPDATE plant_tag SET deadband = 0 WHERE deadband < 0;
UPDATE plant_tag SET readback_tolerance = 0 WHERE readback_tolerance < 0;
UPDATE plant_tag SET expected_interval_s = 30 WHERE expected_interval_s = 0;
"""


class Migration(migrations.Migration):
    dependencies = [("plant", "0009_hostile_input")]

    operations = [
        migrations.RunSQL(REPAIR, migrations.RunSQL.noop),
        migrations.AddField(
            model_name="alarm",
            name="pending_since",
            field=models.DateTimeField(
                help_text="Since when the raw condition has differed from `active` (an on- or off-delay counting); kept here so a worker restart does not restart the delay.",
                null=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="alarmdefinition",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("deadband__lt", float("inf")),
                    ("limit__gt", float("-inf")),
                    ("limit__lt", float("inf")),
                    ("off_delay_s__lt", float("inf")),
                    ("on_delay_s__lt", float("inf")),
                ),
                name="alarm_definition_finite",
            ),
        ),
        migrations.AddConstraint(
            model_name="alarmdefinition",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind__in", ["comm_loss", "rate"]), _negated=True),
                    ("limit__gt", 0),
                    _connector="OR",
                ),
                name="alarm_definition_time_limit_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="controlloop",
            constraint=models.CheckConstraint(
                condition=models.Q(("kp__gt", 0), ("kp__lt", float("inf"))), name="loop_kp_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="controlloop",
            constraint=models.CheckConstraint(
                condition=models.Q(("ti_s__gt", 0), ("ti_s__lt", float("inf"))),
                name="loop_ti_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="controlloop",
            constraint=models.CheckConstraint(
                condition=models.Q(("filter_s__gte", 0), ("filter_s__lt", float("inf"))),
                name="loop_filter_not_negative",
            ),
        ),
        migrations.AddConstraint(
            model_name="controlloop",
            constraint=models.CheckConstraint(
                condition=models.Q(("max_rate__gt", 0), ("max_rate__lt", float("inf"))),
                name="loop_max_rate_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="controlloop",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("write_deadband__gte", 0), ("write_deadband__lt", float("inf"))
                ),
                name="loop_write_deadband_not_negative",
            ),
        ),
        migrations.AddConstraint(
            model_name="controlloop",
            constraint=models.CheckConstraint(
                condition=models.Q(("pv_stale_s__gt", 0), ("pv_stale_s__lt", float("inf"))),
                name="loop_pv_stale_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="controlloop",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("output_min__gt", float("-inf")),
                    ("output_min__lt", models.F("output_max")),
                    ("output_max__lt", float("inf")),
                ),
                name="loop_output_limits_ordered",
            ),
        ),
        migrations.AddConstraint(
            model_name="emergencyaction",
            constraint=models.CheckConstraint(
                condition=models.Q(("value__gt", float("-inf")), ("value__lt", float("inf"))),
                name="emergency_value_finite",
            ),
        ),
        migrations.AddConstraint(
            model_name="tag",
            constraint=models.CheckConstraint(
                condition=models.Q(("deadband__gte", 0), ("deadband__lt", float("inf"))),
                name="tag_deadband_not_negative",
            ),
        ),
        migrations.AddConstraint(
            model_name="tag",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("readback_tolerance__gte", 0), ("readback_tolerance__lt", float("inf"))
                ),
                name="tag_readback_tolerance_not_negative",
            ),
        ),
        migrations.AddConstraint(
            model_name="tag",
            constraint=models.CheckConstraint(
                condition=models.Q(("expected_interval_s__gt", 0)),
                name="tag_expected_interval_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="tag",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("range_max__lt", float("inf")),
                    ("range_min__gt", float("-inf")),
                    ("range_min__lt", models.F("range_max")),
                ),
                name="tag_range_ordered",
            ),
        ),
        migrations.AddConstraint(
            model_name="tag",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("setpoint_max__lt", float("inf")),
                    ("setpoint_min__gt", float("-inf")),
                    ("setpoint_min__lte", models.F("setpoint_max")),
                ),
                name="tag_setpoint_limits_ordered",
            ),
        ),
        migrations.AddConstraint(
            model_name="tag",
            constraint=models.CheckConstraint(
                condition=models.Q(("max_step__gt", 0), ("max_step__lt", float("inf"))),
                name="tag_max_step_positive",
            ),
        ),
    ]
