"""What a notification says: its subject and body (Django templates, the roster's own or the
defaults) and the JSON a webhook is sent.

Templates see plain strings only (MESSAGE_VARIABLES), never a model, so a template an admin
writes can read nothing but what is listed here.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.template import Context, Template

from plant import alarming
from plant.models import AlarmJournalEntry, NotificationRoster
from plant.notifications.rules import REASON_LABELS, Reason
from plant.queries import format_value

DEFAULT_SUBJECT = "[{{ priority|upper }}] {{ message }}: {{ event }}"
DEFAULT_BODY = """\
{{ event }}: {{ message }}
{% if escalation_minutes %}Not acknowledged {{ escalation_minutes }} minutes after it activated.
{% endif %}
Priority:  {{ priority }}
Value:     {{ value }}
Tag:       {{ tag }} ({{ tag_key }})
Where:     {{ plant }} / {{ line }} / {{ machine }}
Time:      {{ time }}
State now: {{ state }}
{% if response %}
What to do: {{ response }}
{% endif %}
{{ link }}
"""
MESSAGE_VARIABLES = (
    "event", "reason", "message", "priority", "value", "tag", "tag_key", "plant", "line",
    "machine", "time", "time_utc", "state", "response", "link", "escalation_minutes",
)  # fmt: skip


@dataclass(frozen=True)
class Facts:
    """What a message says of one alarm event, as text."""

    reason: str
    event: str
    message: str
    priority: str
    value: str
    tag: str
    tag_key: str
    plant: str
    line: str
    machine: str
    time: str  # in the plant's zone
    time_utc: str  # ISO 8601
    state: str
    response: str
    link: str
    escalation_minutes: str
    alarm_id: int
    plant_id: int


def facts_of(entry: AlarmJournalEntry, reason: Reason, escalation_minutes: int = 0) -> Facts:
    """The facts of a journal entry (select_related its tag's machine, line and plant)."""
    tag = entry.tag
    line = tag.machine.line
    plant = line.plant
    zone = zoneinfo.ZoneInfo(plant.time_zone)
    unit = f" {tag.unit}" if tag.unit and entry.value is not None else ""
    definition = entry.alarm.definition
    return Facts(
        reason=reason.value, event=REASON_LABELS[reason], message=entry.message,
        priority=entry.priority, value=format_value(tag, entry.value, None) + unit,
        tag=tag.description or tag.key, tag_key=tag.key, plant=plant.name, line=line.name,
        machine=tag.machine.name, time=_local(entry.at, zone), time_utc=entry.at.isoformat(),
        state=alarming.state_label(entry.to_state), response=definition.response,
        link=f"{settings.NOTIFY_SITE_URL}/alarms/?plant={plant.pk}#alarm-{entry.alarm_id}",
        escalation_minutes=str(escalation_minutes or ""), alarm_id=entry.alarm_id,
        plant_id=plant.pk,
    )  # fmt: skip


def _local(at: datetime, zone: zoneinfo.ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def render(roster: NotificationRoster, facts: Facts) -> tuple[str, str]:
    """The subject (one line) and the body of the roster's message about `facts`."""
    context = Context({name: getattr(facts, name) for name in MESSAGE_VARIABLES},
                      autoescape=False)  # fmt: skip
    subject = Template(roster.subject_template or DEFAULT_SUBJECT).render(context)
    body = Template(roster.body_template or DEFAULT_BODY).render(context)
    return " ".join(subject.split())[:300], body


def webhook_payload(facts: Facts, subject: str, body: str) -> dict[str, Any]:
    """The JSON a webhook is sent (README: "Alarm notifications"). `text` is what Slack,
    Mattermost and Teams' incoming webhooks show; the rest is for pager gateways and scripts."""
    alarm = {k: v for k, v in asdict(facts).items()
             if k not in ("reason", "event", "escalation_minutes")}  # fmt: skip
    return {
        "text": f"{subject}\n\n{body}".strip(),
        "event": facts.reason,
        "subject": subject,
        "body": body,
        "escalation_minutes": int(facts.escalation_minutes) if facts.escalation_minutes else None,
        "alarm": alarm,
    }
