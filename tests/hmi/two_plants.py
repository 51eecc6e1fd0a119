"""Two demo plants and one person per role, for the permission matrices.

Plant A (slug `kestrel`) and plant B (slug `osprey`) each have a line, machines, tags with
values and history, a standing and a shelved alarm with journal entries, a setpoint write, a
loop in auto, a rejected message and an unknown topic under their slug; a rejected message
and an unknown topic under no plant's slug belong to neither. Every name of a plant's objects
carries the plant's slug, so a page that shows another plant's object shows that slug: the
matrices look for it in every answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from plant import security_events
from plant.actions.alarms import do_set_alarm_condition, do_shelve_alarm
from plant.actions.notifications import do_plan_deliveries
from plant.actions.setpoints import do_request_setpoint
from plant.demo import load_demo_plant
from plant.models import (
    Alarm,
    AlarmDefinition,
    AlarmJournalEntry,
    ApiToken,
    ControlLoop,
    DeviceIdentity,
    DiscoveredSignal,
    EmergencyAction,
    EnergyMeter,
    Line,
    Machine,
    NeuronDevice,
    NeuronGateway,
    NotificationDelivery,
    NotificationRecipient,
    NotificationRoster,
    OeeMachine,
    PlannedDowntime,
    Plant,
    PlantEnergy,
    RejectedMessage,
    RejectionTally,
    Sample,
    SetpointWrite,
    Shift,
    ShiftReport,
    ShiftReportSettings,
    SparkplugGroup,
    SparkplugNode,
    SparkplugPendingBirth,
    SpcSettings,
    SsoGroupMapping,
    SsoIdentity,
    StopReason,
    SystemAlarm,
    Tag,
    UnknownTopic,
    VibrationMonitor,
    WorkerHeartbeat,
)
from plant.notifications.rules import Reason
from plant.report_pdf import pdf_of
from plant.shift_reports import figures, resolve_period
from plant.token_actions import do_revoke_api_token
from tests.builders import demo_tag, record_value

SLUGS = {"A": "kestrel", "B": "osprey"}
# A stop of each plant's filler that an operator may give a reason: 06:10 to 06:40 in Berlin,
# in the Early shift of 2026-12-01.
STOP_AT = datetime(2026, 12, 1, 5, 10, tzinfo=UTC)
STRAY_ROOT = "stray-device/"  # a topic root no plant has: nobody's but the superusers'
# The people of the matrices, in the order of its columns. `token` is no session at all:
# a script sending viewer A's read-only API token.
ROLES = ["anon", "nobody", "viewer", "operator", "supervisor", "admin_a", "admin_b", "super",
         "token"]  # fmt: skip
# The plants each role may see (the slugs that may show in what it is answered).
SEES = {"anon": "", "nobody": "", "viewer": "A", "operator": "A", "supervisor": "A",
        "admin_a": "A", "admin_b": "B", "super": "AB", "token": "A"}  # fmt: skip


@dataclass
class World:
    plants: dict[str, Plant]
    users: dict[str, User]
    ids: dict[str, dict[str, int]]  # plant letter → object kind → pk
    secrets: dict[str, str]  # token kind → secret
    objects: dict[str, dict[str, object]] = field(default_factory=dict)

    def unseen_slugs(self, role: str) -> list[str]:
        """The slugs of the plants the role may not see: none may show in its answers."""
        return [slug for letter, slug in SLUGS.items() if letter not in SEES[role]]


def topic_of(letter: str, rest: str) -> str:
    return f"{settings.MQTT_TOPIC_ROOT}{SLUGS[letter]}/{rest}"


def stray_topic(rest: str) -> str:
    """A topic under the session's root but under no plant's slug."""
    return f"{settings.MQTT_TOPIC_ROOT}{STRAY_ROOT}{rest}"


def _person(name: str, role: str | None, plant: Plant | None, *, staff: bool = False) -> User:
    user = User.objects.create_user(username=name, is_staff=staff)
    if role:
        user.groups.add(Group.objects.get(name=role))
    if plant is not None:
        plant.members.add(user)
    return user


def _name_after(plant: Plant) -> None:
    """Put the plant's slug in the names of its lines, machines, tags, alarms and meters."""
    slug = plant.slug
    for line in Line.objects.filter(plant=plant):
        Line.objects.filter(pk=line.pk).update(name=f"{line.name} {slug}")
    for machine in Machine.objects.filter(line__plant=plant):
        Machine.objects.filter(pk=machine.pk).update(name=f"{machine.name} {slug}")
    for tag in Tag.objects.filter(machine__line__plant=plant):
        Tag.objects.filter(pk=tag.pk).update(description=f"{tag.description} {slug}")
    for definition in AlarmDefinition.objects.filter(tag__machine__line__plant=plant):
        AlarmDefinition.objects.filter(pk=definition.pk).update(
            message=f"{definition.message} {slug}"
        )
    for meter in EnergyMeter.objects.filter(plant=plant):
        EnergyMeter.objects.filter(pk=meter.pk).update(name=f"{meter.name} {slug}")
    ControlLoop.objects.filter(output_tag__machine__line__plant=plant).update(
        name=f"fill-level loop {slug}", mode=ControlLoop.Mode.AUTO
    )


def _plant_objects(plant: Plant, letter: str, root: User) -> dict[str, int]:
    """The objects of one plant the matrices point at, by kind."""
    now = timezone.now()
    level, setpoint, valve = (demo_tag(plant, k) for k in ("fill_level", "fill_level_sp",
                                                           "valve_open"))  # fmt: skip
    record_value(level, 500.0)
    record_value(setpoint, 500.0)
    record_value(valve, 1.0)
    Sample.objects.create(tag=level, time=now - timedelta(minutes=5), value=499.5)
    # A write on another tag than the one the matrix writes, so the rate limit never refuses.
    write = do_request_setpoint(valve, 0.0, by=root, reason=f"closed in {plant.slug}")
    standing = Alarm.objects.get(definition__tag=demo_tag(plant, "methane"),
                                 definition__kind="hh")  # fmt: skip
    do_set_alarm_condition(standing.pk, True, value=45.0, at=now)
    shelved = Alarm.objects.get(definition__tag=demo_tag(plant, "vibration_rms"),
                                definition__kind="h")  # fmt: skip
    do_set_alarm_condition(shelved.pk, True, value=9.0, at=now)
    do_shelve_alarm(shelved, by=root, reason=f"{plant.slug} work", duration_s=3600)
    rejected = RejectedMessage.objects.create(
        received_at=now, topic=topic_of(letter, "filling/filler/fill_level"),
        reason=f"not JSON ({plant.slug})", payload=b"garbage", payload_size=7,
    )  # fmt: skip
    unknown = UnknownTopic.objects.create(
        topic=topic_of(letter, "filling/filler/new_sensor"), first_seen_at=now,
        last_seen_at=now, message_count=3, last_payload=b"1.5",
    )  # fmt: skip
    line = level.machine.line
    device = DeviceIdentity(plant=plant, username=f"filler-{plant.slug}",
                            topic_prefix=topic_of(letter, "filling/filler"))  # fmt: skip
    device.set_password(f"device-password-{plant.slug}")
    device.full_clean()
    device.save()
    gateway = NeuronGateway.objects.create(app=f"gw-{plant.slug}", plant=plant)
    south = NeuronDevice.objects.create(gateway=gateway, node="filler", machine=level.machine)
    signal = DiscoveredSignal.objects.create(
        kind=DiscoveredSignal.Kind.NEURON, key=f"gw-{plant.slug}/filler/grp/new_{plant.slug}",
        plant=plant, first_seen_at=now, last_seen_at=now,
    )  # fmt: skip
    downtime = PlannedDowntime.objects.create(
        plant=plant, line=line, start_at=now, end_at=now + timedelta(hours=2),
        reason=f"filler service {plant.slug}",
    )  # fmt: skip
    roster, delivery = _notification_objects(plant, line, standing)
    state = demo_tag(plant, "state")
    Tag.objects.filter(pk=state.pk).update(expected_interval_s=3600)  # a state sent on change
    for minutes, value in ((-10, "running"), (0, "fault"), (30, "running")):
        Sample.objects.create(tag=state, time=STOP_AT + timedelta(minutes=minutes), text=value)
    return {
        "shift": Shift.objects.filter(plant=plant).first().pk,  # type: ignore[union-attr]
        "oee": OeeMachine.objects.get(machine__line__plant=plant).pk,
        "reason": StopReason.objects.filter(plant=plant).first().pk,  # type: ignore[union-attr]
        "downtime": downtime.pk,
        "roster": roster.pk, "delivery": delivery.pk,
        "gateway": gateway.pk, "south": south.pk, "signal": signal.pk,
        "plant": plant.pk, "line": line.pk, "machine": level.machine_id, "tag": level.pk,
        "sp_tag": setpoint.pk, "write": write.pk, "alarm": standing.pk, "shelved": shelved.pk,
        "loop": ControlLoop.objects.get(output_tag__machine__line__plant=plant).pk,
        "definition": standing.definition_id,
        "emergency": EmergencyAction.objects.filter(line__plant=plant).first().pk,  # type: ignore[union-attr]
        "journal": AlarmJournalEntry.objects.filter(tag__machine__line__plant=plant).first().pk,  # type: ignore[union-attr]
        "rejected": rejected.pk, "unknown": unknown.pk, "device": device.pk,
        "vibration": VibrationMonitor.objects.get(tag__machine__line__plant=plant).pk,
        "pump": demo_tag(plant, "vibration_rms").machine_id,
        "spc": SpcSettings.objects.get(tag=level).pk,  # the demo's (plant.demo._load_quality)
        "plant_energy": PlantEnergy.objects.get(plant=plant).pk,
        "meter": EnergyMeter.objects.get(plant=plant).pk,
        "report": _shift_report(plant).pk,
        "report_settings": ShiftReportSettings.objects.create(
            plant=plant, recipients=f"shift@{plant.slug}.example"
        ).pk,
    }  # fmt: skip


def _shift_report(plant: Plant) -> ShiftReport:
    """A kept report of the plant's first shift on the stop's day (plant.report_job's kind)."""
    first = Shift.objects.filter(plant=plant).order_by("start_time").first()
    assert first is not None
    period = resolve_period(plant, STOP_AT.date(), first.name)
    found = figures(plant, period)
    return ShiftReport.objects.create(
        plant=plant, name=period.name, start_at=period.start, end_at=period.end,
        figures=found, pdf=pdf_of(found), created_at=timezone.now(),
    )  # fmt: skip


def _notification_objects(
    plant: Plant, line: Line, standing: Alarm
) -> tuple[NotificationRoster, NotificationDelivery]:
    """A roster of the plant's line with a recipient, and the delivery of its standing alarm."""
    roster = NotificationRoster.objects.create(name=f"shift {plant.slug}", plant=plant, line=line)
    NotificationRecipient.objects.create(roster=roster, address=f"shift@{plant.slug}.example")
    entry = AlarmJournalEntry.objects.filter(alarm=standing).select_related(
        "tag__machine__line__plant", "alarm__definition"
    ).first()  # fmt: skip
    assert entry is not None
    do_plan_deliveries(entry, Reason.ACTIVATION, [roster])
    return roster, NotificationDelivery.objects.get(roster=roster)


def build_world() -> World:
    """Create the two plants, their people and their objects (inside the caller's transaction)."""
    plants = {
        letter: load_demo_plant(topic_root=settings.MQTT_TOPIC_ROOT, slug=slug)
        for letter, slug in SLUGS.items()
    }
    for plant in plants.values():
        _name_after(plant)
    a, b = plants["A"], plants["B"]
    users = {
        "nobody": _person("nobody", None, None),
        "viewer": _person("viewer-kestrel", "viewer", a),
        "operator": _person("operator-kestrel", "operator", a),
        "supervisor": _person("supervisor-kestrel", "supervisor", a),
        "admin_a": _person("admin-kestrel", "admin", a, staff=True),
        "admin_b": _person("admin-osprey", "admin", b, staff=True),
        "super": User.objects.create_superuser("root"),
    }
    ids = {
        letter: _plant_objects(plant, letter, users["super"]) for letter, plant in plants.items()
    }
    now = timezone.now()
    ids["X"] = {
        "rejected": RejectedMessage.objects.create(
            received_at=now, topic=stray_topic("x/y/z"), reason="no such tag", payload=b"1",
            payload_size=1,
        ).pk,
        "unknown": UnknownTopic.objects.create(
            topic=stray_topic("x/y/new"), first_seen_at=now, last_seen_at=now,
            message_count=1, last_payload=b"1",
        ).pk,
        "systemalarm": SystemAlarm.objects.create(key="ingest.test", message="a fault").pk,
        "heartbeat": WorkerHeartbeat.objects.create(name="w1", started_at=now, beat_at=now).pk,
        "tally": RejectionTally.objects.create(day=now.date(), rejected=2).pk,  # type: ignore[dict-item]
        "group": Group.objects.get(name="viewer").pk,
        **_sparkplug_objects(now),
        **_sso_objects(users["operator"], plants["A"], now),
    }  # fmt: skip
    ids["A"]["user"] = users["viewer"].pk
    ids["B"]["user"] = users["admin_b"].pk
    secrets = {}
    for kind, owner in [("read", "viewer"), ("expired", "viewer"), ("revoked", "viewer"),
                        ("admin_a", "admin_a"), ("admin_b", "admin_b")]:  # fmt: skip
        token, secrets[kind] = ApiToken.issue(users[owner], f"{kind} script")
        if kind == "expired":
            ApiToken.objects.filter(pk=token.pk).update(
                created_at=now - timedelta(days=2), expires_at=now - timedelta(days=1)
            )
        if kind == "revoked":
            do_revoke_api_token(token, by=users["super"])
        if kind in ("admin_a", "admin_b"):
            ids[kind[-1].upper()]["token"] = token.pk
    # Security events: one of each plant's screens, one naming each plant's person, and one
    # naming no one (superusers only).
    for letter, person in (("A", "viewer"), ("B", "admin_b")):
        security_events.record("socket_forbidden", plant=plants[letter],
                               detail=f"/ws/line/0/ of {SLUGS[letter]}")  # fmt: skip
        security_events.record("login_failed", user=users[person], source="192.0.2.1")
    ids["X"]["security"] = security_events.record(
        "login_failed", username="stray-nobody", source="192.0.2.2"
    ).pk
    assert SetpointWrite.objects.count() == 2
    return World(plants, users, ids, secrets)


def built_once(django_db_blocker: object) -> Iterator[World]:
    """The body of a module's `world` fixture: the two plants, built once for the module and
    rolled back after it; each test runs in a savepoint of its own inside it."""
    with django_db_blocker.unblock(), transaction.atomic():  # type: ignore[attr-defined]
        yield build_world()
        transaction.set_rollback(True)


def _sso_objects(person: User, plant: Plant, now: Any) -> dict[str, int]:
    """A single sign-on group mapping (it may grant roles in any plant) and a signed-in identity."""
    mapping = SsoGroupMapping.objects.create(group="idp-operators", role="operator")
    mapping.plants.add(plant)
    identity = SsoIdentity.objects.create(
        user=person,
        issuer="https://idp.example",
        subject="s-1",
        groups=["idp-operators"],
        last_sign_in=now,
    )
    return {"ssomap": mapping.pk, "ssoid": identity.pk}


def _sparkplug_objects(now: Any) -> dict[str, int]:
    """A Sparkplug group of no plant yet, an edge node's session and a birth held for approval."""
    group = SparkplugGroup.objects.create(group_id="stray-group", discovery=False)
    node = SparkplugNode.objects.create(group=group, edge_node_id="edge", online=True)
    pending = SparkplugPendingBirth.objects.create(
        group=group, edge_node_id="edge", received_at=now, metrics=[]
    )
    return {"spgroup": group.pk, "spnode": node.pk, "sppending": pending.pk}
