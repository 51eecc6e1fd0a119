"""Admin pages for alarm notifications: rosters with their recipients, configured by each
plant's admins, and the outbox of deliveries with every attempt, read-only (only the
dispatcher writes it), where a failed delivery can be sent again. Each admin sees only their
own plants' (plant.admin_scope)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from plant.actions.notifications import do_resend_delivery
from plant.admin_base import ReadOnly, TabularInline, admin_user
from plant.admin_scope import PlantScopedAdmin, ScopedInline
from plant.models import (
    NotificationAttempt,
    NotificationDelivery,
    NotificationRecipient,
    NotificationRoster,
)

OWN = admin.RelatedOnlyFieldListFilter


class RecipientInline(ScopedInline):
    model = NotificationRecipient
    fields = ["kind", "address", "secret", "enabled"]
    extra = 1


@admin.register(NotificationRoster)
class NotificationRosterAdmin(PlantScopedAdmin):
    """Who is told about which alarms, and when (README: "Alarm notifications")."""

    list_display = ["name", "plant", "line", "min_priority", "delay_minutes", "on_return",
                    "enabled"]  # fmt: skip
    list_filter = ["min_priority", "enabled", ("plant", OWN)]
    search_fields = ["name"]
    inlines = [RecipientInline]
    fieldsets = [
        (None, {"fields": ["name", "plant", "line", "min_priority", "delay_minutes",
                           "on_return", "enabled"]}),
        ("Message (Django templates; empty: the default)",
         {"fields": ["subject_template", "body_template"]}),
    ]  # fmt: skip


ATTEMPT_COLUMNS = ("at", "ok", "error", "duration_ms", "dispatcher")


class AttemptInline(TabularInline):
    """Every attempt of a delivery: only the dispatcher records them."""

    model = NotificationAttempt
    fields = ATTEMPT_COLUMNS
    readonly_fields = ATTEMPT_COLUMNS
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(ReadOnly, PlantScopedAdmin):
    """The outbox: each message to each recipient, its state, attempts and last error."""

    list_display = ["created_at", "reason", "address", "state", "attempts", "last_error"]
    list_filter = ["state", "reason", "kind", ("plant", OWN)]
    search_fields = ["subject", "address", "last_error"]
    date_hierarchy = "created_at"
    readonly_fields = ["plant", "entry", "report", "reason", "roster", "recipient", "kind",
                       "address", "subject", "body", "payload", "state", "attempts", "created_at",
                       "next_attempt_at", "claimed_by", "claimed_at", "sent_at",
                       "last_error"]  # fmt: skip
    inlines = [AttemptInline]
    actions = ["send_again"]

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("plant.view_notificationdelivery")

    @admin.action(description="Send the failed deliveries again", permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[NotificationDelivery]) -> None:
        user = admin_user(request)
        resent = sum(do_resend_delivery(delivery, by=user) for delivery in queryset)
        messages.info(request, f"{resent} failed deliveries will be sent again.")
