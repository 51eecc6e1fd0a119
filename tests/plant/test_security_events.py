"""Security events: recorded through plant.security_events.record, never raising into the
caller, append-only, and a system alarm while they cluster."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from plant import security_events
from plant.models import Plant, SecurityEvent, SystemAlarm
from plant.system_health import read_health

pytestmark = pytest.mark.django_db


def alarm() -> SystemAlarm | None:
    return SystemAlarm.objects.filter(key=security_events.ALARM_KEY, active=True).first()


def test_an_event_records_who_from_where_and_what() -> None:
    user = User.objects.create_user("op")
    plant = Plant.objects.create(name="P", slug="p")
    event = security_events.record("socket_forbidden", user=user, source="10.0.0.9",
                                   plant=plant, detail="line 3")  # fmt: skip
    assert event is not None
    stored = SecurityEvent.objects.get()
    assert (stored.kind, stored.username, stored.user_id, stored.source, stored.plant_id,
            stored.detail) == ("socket_forbidden", "op", user.pk, "10.0.0.9", plant.pk,
                               "line 3")  # fmt: skip


def test_an_unknown_kind_is_logged_and_stores_nothing(caplog: pytest.LogCaptureFixture) -> None:
    assert security_events.record("made_up") is None
    assert not SecurityEvent.objects.exists()
    assert "unknown security event kind 'made_up'" in caplog.text


def test_a_failure_to_store_never_raises_and_leaves_the_callers_transaction_usable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with transaction.atomic():
        user = User.objects.create_user("kept")
        # A check this insert breaks: a real INSERT the database refuses, inside a transaction.
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE plant_securityevent ADD CONSTRAINT t_no_x "
                           "CHECK (username <> 'x')")  # fmt: skip
        assert security_events.record("login_failed", username="x") is None
        assert User.objects.filter(pk=user.pk).exists()  # the transaction goes on
    assert "could not record a security event" in caplog.text


def test_long_values_are_cut_to_their_columns() -> None:
    event = security_events.record("token_refused", username="u" * 400, source="s" * 400,
                                   detail="d" * 900)  # fmt: skip
    assert event is not None
    assert (len(event.username), len(event.source), len(event.detail)) == (150, 200, 500)


def test_the_model_refuses_to_edit_or_delete_an_event() -> None:
    event = security_events.record("login_failed", username="x")
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


def test_clustered_events_raise_a_system_alarm_every_screen_shows(settings: object) -> None:
    settings.SECURITY_ALARM_EVENTS = 3  # type: ignore[attr-defined]
    for _ in range(2):
        security_events.record("login_failed", username="op", source="192.0.2.1")
    assert alarm() is None
    security_events.record("login_locked_out", username="op", source="192.0.2.1")
    raised = alarm()
    assert raised is not None
    assert raised.message.startswith("3 security events in 10 min")
    assert "login locked out op" in raised.detail
    assert [a.key for a in read_health().alarms] == [security_events.ALARM_KEY]


def test_events_spread_wider_than_the_window_raise_nothing(settings: object) -> None:
    settings.SECURITY_ALARM_EVENTS = 3  # type: ignore[attr-defined]
    now = timezone.now()
    for minutes_ago in (25, 15, 0):
        security_events.record("login_failed", username="op",
                               now=now - timedelta(minutes=minutes_ago))  # fmt: skip
    assert alarm() is None


def test_the_alarm_clears_once_the_window_is_quiet_again(settings: object) -> None:
    settings.SECURITY_ALARM_EVENTS = 2  # type: ignore[attr-defined]
    then = timezone.now() - timedelta(minutes=5)
    for _ in range(2):
        security_events.record("token_refused", source="192.0.2.1", now=then)
    assert alarm() is not None
    assert security_events.settle_alarm(then + timedelta(minutes=1)) is False  # still busy
    assert security_events.settle_alarm(then + timedelta(minutes=11)) is True
    assert alarm() is None


def test_plant_admins_see_their_plants_events_and_their_peoples_not_others() -> None:
    a, b = Plant.objects.create(name="A", slug="a"), Plant.objects.create(name="B", slug="b")
    admin_a = User.objects.create_user("admin_a")
    op_a, op_b = User.objects.create_user("op_a"), User.objects.create_user("op_b")
    a.members.add(admin_a, op_a)
    b.members.add(op_b)
    record = security_events.record
    mine = [record("socket_forbidden", plant=a).pk,
            record("login_failed", user=op_a, username="op_a").pk]  # fmt: skip
    record("socket_forbidden", plant=b)
    record("login_failed", user=op_b, username="op_b")
    record("login_failed", username="nobody")  # no user: superusers only
    seen = security_events.visible_events(admin_a, [a.pk])
    assert sorted(seen.values_list("pk", flat=True)) == sorted(mine)
    root = User.objects.create_superuser("root")
    assert security_events.visible_events(root, []).count() == 5
