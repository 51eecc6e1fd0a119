"""The loop of `manage.py notify`: follow the alarm journal, plan deliveries, escalate, make
the shift reports due (plant.report_job), send.

It runs as a process of its own, so the alarm engine never waits for a mail server or a
webhook: the engine only journals (as it always has), and this follows the journal by id.
Several dispatchers may run at once; the outbox's unique key and claims keep every message
single. Each part of a turn fails alone: an exception is logged and raised as the system alarm
`notify.dispatcher`, and the other parts go on.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import InterfaceError, OperationalError, connection
from django.db.models import Prefetch
from django.utils import timezone

from plant import system_health
from plant.actions.notifications import (
    do_advance_cursor,
    do_claim_deliveries,
    do_plan_deliveries,
    do_record_attempt,
    do_release_stale_claims,
    do_start_following,
)
from plant.models import (
    Alarm,
    AlarmJournalEntry,
    NotificationDelivery,
    NotificationRecipient,
    NotificationRoster,
)
from plant.notifications import rules
from plant.notifications.senders import SendError, Senders
from plant.report_job import report_due_shifts

log = logging.getLogger(__name__)

READ_BATCH = 500  # journal entries read per turn
ENTRY_RELATED = ("tag__machine__line__plant", "alarm__definition")
GUARD_KEY = "notify.dispatcher"
PLAN_KEY = "notify.plan"  # an entry whose messages could not be made (a roster's template)


def rule_of(roster: NotificationRoster) -> rules.Roster:
    return rules.Roster(roster.pk, roster.plant_id, roster.line_id, roster.min_priority,
                        roster.delay_minutes, roster.on_return)  # fmt: skip


def place_of(entry: AlarmJournalEntry) -> rules.Place:
    line = entry.tag.machine.line
    return rules.Place(line.plant_id, line.pk, entry.priority)


def enabled_rosters() -> dict[int, NotificationRoster]:
    """Every enabled roster with its enabled recipients (two queries), by id."""
    recipients = NotificationRecipient.objects.filter(enabled=True)
    rosters = NotificationRoster.objects.filter(enabled=True).prefetch_related(
        Prefetch("recipients", queryset=recipients)
    )
    return {roster.pk: roster for roster in rosters}


class Dispatcher:
    """Plans, escalates and sends notifications; `run_once` is one turn (tests call it)."""

    def __init__(self, name: str = "") -> None:
        self.name = name or f"notify@{socket.gethostname()}:{os.getpid()}"
        self.handled: set[int] = set()  # journal ids above the cursor already planned
        self.first_seen: dict[int, float] = {}  # when each was first read (monotonic)
        self.failing: set[str] = set()
        self.stopping = False

    def run(self, poll_s: float = 1.0) -> None:
        """Turn until stop(); a turn that sent or planned something is followed at once."""
        while not self.stopping:
            if not self.run_once():
                time.sleep(poll_s)  # nothing to do: the journal and outbox are polled

    def stop(self) -> None:
        self.stopping = True

    def run_once(self, now: datetime | None = None) -> int:
        """Follow the journal, escalate, send what is due; return how much was done."""
        done = 0
        for part in (self.follow, self.escalate, self.report, self.deliver):
            done += self._guarded(part, now or timezone.now())
        return done

    def _guarded(self, part: Callable[[datetime], int], now: datetime) -> int:
        try:
            result = part(now)
        except (OperationalError, InterfaceError) as error:
            log.warning("notify: database unavailable (%s)", error)
            connection.close()
            return 0
        except Exception as error:
            name = part.__name__
            if name not in self.failing:
                log.exception("notify: %s failed", name)
            self.failing.add(name)
            system_health.do_raise_system_alarm(
                GUARD_KEY, "The alarm notification dispatcher is failing",
                detail=f"{name}: {error!r}", now=now,
            )  # fmt: skip
            return 0
        if part.__name__ in self.failing:
            self.failing.discard(part.__name__)
            if not self.failing:
                system_health.do_clear_system_alarm(GUARD_KEY, now=now)
        return result

    # --- following the journal -----------------------------------------------------------

    def follow(self, now: datetime) -> int:
        """Plan the deliveries of every journal entry past the cursor; move the cursor."""
        cursor = do_start_following(now).last_entry_id
        entries = list(
            AlarmJournalEntry.objects.filter(pk__gt=cursor)
            .select_related(*ENTRY_RELATED).order_by("pk")[:READ_BATCH]
        )  # fmt: skip
        rosters = enabled_rosters() if entries else {}
        clock = time.monotonic()
        planned = 0
        for entry in entries:
            self.first_seen.setdefault(entry.pk, clock)
            if entry.pk not in self.handled:
                planned += self.plan_alone(entry, rosters, now)
                self.handled.add(entry.pk)
        moved = rules.advance_cursor(cursor, self.handled, self.first_seen, clock)
        if moved > cursor:
            do_advance_cursor(moved, now)
        # What lies at or below the cursor (this dispatcher's move, or another's) is done.
        self.handled = {i for i in self.handled if i > moved}
        self.first_seen = {i: t for i, t in self.first_seen.items() if i > moved}
        return planned

    def plan_alone(
        self, entry: AlarmJournalEntry, rosters: dict[int, NotificationRoster], now: datetime
    ) -> int:
        """Plan one entry; one that fails (say, a roster's template) is raised as a system
        alarm and passed over, so it cannot hold back the notifications after it."""
        try:
            planned = self.plan(entry, rosters, now)
        except (OperationalError, InterfaceError):
            raise
        except Exception as error:
            log.exception("notify: journal entry %s could not be planned", entry.pk)
            system_health.do_raise_system_alarm(
                PLAN_KEY, "Alarm notifications could not be made for an alarm",
                detail=f"journal entry {entry.pk}: {error!r}", now=now,
            )  # fmt: skip
            return 0
        if planned:
            system_health.do_clear_system_alarm(PLAN_KEY, now=now)
        return planned

    def plan(
        self, entry: AlarmJournalEntry, rosters: dict[int, NotificationRoster], now: datetime
    ) -> int:
        reason = rules.reason_of(entry.event, entry.to_state)
        if reason is None or not rosters:
            return 0
        escalated: frozenset[int] = frozenset()
        if reason == rules.Reason.RETURN:
            escalated = self.escalated_for(entry)
        chosen = rules.rosters_for(reason, place_of(entry), map(rule_of, rosters.values()),
                                   escalated)  # fmt: skip
        return do_plan_deliveries(entry, reason, [rosters[r.id] for r in chosen], now=now)

    def escalated_for(self, clear: AlarmJournalEntry) -> frozenset[int]:
        """The rosters an escalation told of the activation this entry ends."""
        earlier = AlarmJournalEntry.objects.filter(
            alarm_id=clear.alarm_id, to_state="unack", pk__lt=clear.pk
        )
        activation = earlier.order_by("-pk").first()
        if activation is None:
            return frozenset()
        told = NotificationDelivery.objects.filter(
            entry=activation, reason=rules.Reason.ESCALATION, roster__isnull=False
        ).values_list("roster_id", flat=True)
        return frozenset(i for i in told if i is not None)

    # --- escalation ----------------------------------------------------------------------

    def escalate(self, now: datetime) -> int:
        """Alarms still unacknowledged past an escalation roster's delay go to that roster."""
        rosters = {pk: r for pk, r in enabled_rosters().items() if r.delay_minutes > 0}
        if not rosters:
            return 0
        started_from = do_start_following(now).started_from_id
        shortest = min(r.delay_minutes for r in rosters.values())
        waiting = Alarm.objects.filter(
            state="unack", activated_at__lte=now - timedelta(minutes=shortest)
        ).values_list("pk", flat=True)
        planned = 0
        for alarm_id in waiting:
            activations = AlarmJournalEntry.objects.filter(
                alarm_id=alarm_id, to_state="unack", pk__gt=started_from
            )
            activation = activations.select_related(*ENTRY_RELATED).order_by("-pk").first()
            if activation is not None:
                planned += self.escalate_one(activation, rosters, now)
        return planned

    def escalate_one(
        self, activation: AlarmJournalEntry, rosters: dict[int, NotificationRoster],
        now: datetime,
    ) -> int:  # fmt: skip
        told = set(
            NotificationDelivery.objects.filter(entry=activation, reason=rules.Reason.ESCALATION)
            .values_list("roster_id", flat=True)
        )  # fmt: skip
        due = rules.escalations_due(place_of(activation), activation.at.timestamp(),
                                    now.timestamp(), map(rule_of, rosters.values()))  # fmt: skip
        planned = 0
        for roster in due:
            if roster.id not in told:
                planned += do_plan_deliveries(
                    activation, rules.Reason.ESCALATION, [rosters[roster.id]],
                    escalation_minutes=roster.delay_min, now=now,
                )  # fmt: skip
        return planned

    # --- shift reports --------------------------------------------------------------------

    def report(self, now: datetime) -> int:
        """Make, keep and plan the mails of every shift report due (plant.report_job)."""
        return report_due_shifts(now)

    # --- sending -------------------------------------------------------------------------

    def deliver(self, now: datetime) -> int:
        """Send every delivery that is due (claimed first), and record each attempt."""
        do_release_stale_claims(now)
        claimed = do_claim_deliveries(self.name, now)
        senders = Senders()
        try:
            for delivery in claimed:
                self.deliver_one(delivery, senders, now)
        finally:
            senders.close()
        return len(claimed)

    def deliver_one(self, delivery: NotificationDelivery, senders: Senders, now: datetime) -> None:
        started = time.monotonic()
        error: str | None = None
        try:
            senders.send(delivery)
        except SendError as failure:
            error = str(failure)
        except Exception as failure:  # a bug of ours fails this attempt alone, on the record
            log.exception("notify: delivery %s", delivery.pk)
            error = f"internal error: {failure!r}"
        duration_ms = int((time.monotonic() - started) * 1000)
        if error:
            log.warning("notify: delivery %s to %s failed: %s", delivery.pk, delivery.address,
                        error)  # fmt: skip
        do_record_attempt(delivery, dispatcher=self.name, error=error, duration_ms=duration_ms,
                          now=now)  # fmt: skip
