"""The only code that changes the notification outbox: deliveries planned from the alarm
journal, claimed by one dispatcher at a time, and every attempt recorded.

A delivery moves pending → sending (claimed) → sent, or back to pending with a later
`next_attempt_at` after a failure, and to failed once plant.notifications.rules gives it up.
Each move is a conditional UPDATE: two dispatchers never both claim a row (SKIP LOCKED), and
an attempt is recorded only by the dispatcher holding the claim.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import F, Max
from django.db.models.functions import Greatest
from django.utils import timezone

from plant import system_health
from plant.models import (
    AlarmJournalEntry,
    NotificationAttempt,
    NotificationCursor,
    NotificationDelivery,
    NotificationRoster,
)
from plant.notifications import rules
from plant.notifications.messages import facts_of, render, webhook_payload

log = logging.getLogger(__name__)

# A claim older than this is taken back: its dispatcher died between claiming and recording.
# (Its delivery may then reach the recipient twice, never not at all.)
STALE_CLAIM = timedelta(minutes=5)
CLAIM_BATCH = 20
State = NotificationDelivery.State


def do_start_following(now: datetime | None = None) -> NotificationCursor:
    """The journal cursor; made on the first start at the journal's end, so history that was
    there before notifications existed is not sent."""
    now = now or timezone.now()
    newest = AlarmJournalEntry.objects.aggregate(newest=Max("id"))["newest"] or 0
    cursor, _ = NotificationCursor.objects.get_or_create(
        pk=1, defaults={"last_entry_id": newest, "started_from_id": newest, "updated_at": now}
    )
    return cursor


def do_advance_cursor(to: int, now: datetime | None = None) -> None:
    """Every journal entry up to `to` is handled (never moves back: dispatchers may race)."""
    NotificationCursor.objects.filter(pk=1).update(
        last_entry_id=Greatest(F("last_entry_id"), to), updated_at=now or timezone.now()
    )


@transaction.atomic
def do_plan_deliveries(
    entry: AlarmJournalEntry, reason: rules.Reason, rosters: list[NotificationRoster],
    *, escalation_minutes: int = 0, now: datetime | None = None,
) -> int:  # fmt: skip
    """A delivery to each enabled recipient of `rosters` about `entry`, rendered now; an event
    already planned for a recipient (by this or another dispatcher) is not planned again.
    Returns how many were asked for."""
    now = now or timezone.now()
    facts = facts_of(entry, reason, escalation_minutes)
    rows = []
    for roster in rosters:
        subject, body = render(roster, facts)
        payload = webhook_payload(facts, subject, body)
        for recipient in roster.recipients.all():
            if recipient.enabled:
                rows.append(NotificationDelivery(
                    plant_id=roster.plant_id, entry=entry, reason=reason.value, roster=roster,
                    recipient=recipient, kind=recipient.kind, address=recipient.address,
                    subject=subject, body=body, payload=payload, created_at=now,
                    next_attempt_at=now,
                ))  # fmt: skip
    NotificationDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def do_claim_deliveries(
    dispatcher: str, now: datetime | None = None, limit: int = CLAIM_BATCH
) -> list[NotificationDelivery]:
    """Claim up to `limit` deliveries that are due, oldest first, for this dispatcher alone.

    FOR UPDATE SKIP LOCKED passes over rows another dispatcher is claiming at this moment, and
    the UPDATE is conditional on the row still being pending, so a row is claimed once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = (
            NotificationDelivery.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        ids = list(due)
        NotificationDelivery.objects.filter(pk__in=ids, state=State.PENDING).update(
            state=State.SENDING, claimed_by=dispatcher[:100], claimed_at=now
        )
    claimed = NotificationDelivery.objects.filter(
        pk__in=ids, state=State.SENDING, claimed_by=dispatcher[:100], claimed_at=now
    )
    return list(claimed.select_related("recipient").order_by("next_attempt_at", "id"))


def do_release_stale_claims(now: datetime | None = None) -> int:
    """Claims whose dispatcher died before recording the attempt become due again."""
    now = now or timezone.now()
    return NotificationDelivery.objects.filter(
        state=State.SENDING, claimed_at__lt=now - STALE_CLAIM
    ).update(state=State.PENDING, claimed_by="", claimed_at=None, next_attempt_at=now)


@transaction.atomic
def do_record_attempt(
    delivery: NotificationDelivery, *, dispatcher: str, error: str | None, duration_ms: int,
    now: datetime | None = None,
) -> bool:  # fmt: skip
    """Record one attempt of a claimed delivery: sent, to be tried again, or given up.

    A failure raises the system alarm of its recipient (every screen shows it); the next
    success to that recipient clears it. False if the claim was no longer ours.
    """
    now = now or timezone.now()
    attempts = delivery.attempts + 1
    fields: dict[str, object] = {"attempts": attempts, "claimed_by": "", "claimed_at": None}
    if error is None:
        fields |= {"state": State.SENT, "sent_at": now, "last_error": ""}
    else:
        retry_s = rules.retry_after_s(attempts)
        fields |= {"last_error": error[:500], "state": State.FAILED if retry_s is None else
                   State.PENDING}  # fmt: skip
        if retry_s is not None:
            fields["next_attempt_at"] = now + timedelta(seconds=retry_s)
    mine = NotificationDelivery.objects.filter(
        pk=delivery.pk, state=State.SENDING, claimed_by=dispatcher[:100]
    )
    if not mine.update(**fields):
        return False
    NotificationAttempt.objects.create(
        delivery=delivery, at=now, ok=error is None, error=(error or "")[:500],
        duration_ms=duration_ms, dispatcher=dispatcher[:100],
    )  # fmt: skip
    key = recipient_alarm_key(delivery)
    if error is None:
        system_health.do_clear_system_alarm(key, now=now)
    else:
        gave_up = fields["state"] == State.FAILED
        what = "given up" if gave_up else f"attempt {attempts}, trying again"
        kind = "Shift reports" if delivery.report_id is not None else "Alarm notifications"
        system_health.do_raise_system_alarm(
            key, f"{kind} to {delivery.address} are failing",
            detail=f"{error} ({what})", now=now,
        )  # fmt: skip
    return True


def recipient_alarm_key(delivery: NotificationDelivery) -> str:
    """The system alarm of a failing recipient (a report's: its plant's address)."""
    if delivery.report_id is not None:
        return f"notify.report.{delivery.plant_id}.{delivery.address}"[:64]
    return f"notify.{delivery.kind}.{delivery.recipient_id or 'removed'}"


def do_resend_delivery(
    delivery: NotificationDelivery, *, by: User | AnonymousUser, now: datetime | None = None
) -> bool:
    """An admin asks for a failed delivery to be tried once more, at once."""
    now = now or timezone.now()
    resent = NotificationDelivery.objects.filter(pk=delivery.pk, state=State.FAILED).update(
        state=State.PENDING, next_attempt_at=now
    )
    if resent:
        log.info("delivery %s sent again at the request of %s", delivery.pk, by.get_username())
    return bool(resent)
