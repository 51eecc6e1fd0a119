"""Admins configure the asset tree here: plants, lines, machines and their tags."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from plant.models import (
    ApiToken,
    ControlLoop,
    Line,
    Machine,
    Plant,
    RejectedMessage,
    RejectionTally,
    SetpointWrite,
    Tag,
    UnknownTopic,
)


class LineInline(admin.TabularInline):
    model = Line
    fields = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}
    extra = 0
    show_change_link = True


class MachineInline(admin.TabularInline):
    model = Machine
    fields = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}
    extra = 0
    show_change_link = True


class TagInline(admin.TabularInline):
    model = Tag
    fk_name = "machine"
    fields = [
        "key", "description", "data_type", "unit", "range_min", "range_max", "precision",
        "topic", "writable", "setpoint_min", "setpoint_max", "max_step", "deadband",
    ]  # fmt: skip
    extra = 0
    show_change_link = True


@admin.register(Plant)
class PlantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]
    inlines = [LineInline]


@admin.register(Line)
class LineAdmin(admin.ModelAdmin):
    list_display = ["name", "plant", "slug", "position"]
    list_filter = ["plant"]
    search_fields = ["name", "slug", "plant__name"]
    prepopulated_fields = {"slug": ["name"]}
    list_select_related = ["plant"]
    inlines = [MachineInline]


@admin.register(Machine)
class MachineAdmin(admin.ModelAdmin):
    list_display = ["name", "line", "slug", "position"]
    list_filter = ["line__plant", "line"]
    search_fields = ["name", "slug", "line__name"]
    prepopulated_fields = {"slug": ["name"]}
    list_select_related = ["line__plant"]
    inlines = [TagInline]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["key", "machine", "data_type", "unit", "topic", "writable"]
    list_filter = ["data_type", "writable", "machine__line__plant", "machine__line", "machine"]
    search_fields = ["key", "description", "topic", "machine__name"]
    list_select_related = ["machine__line__plant"]
    autocomplete_fields = ["setpoint_tag"]
    fieldsets = [
        (None, {"fields": ["machine", "key", "description", "data_type", "topic"]}),
        ("Display", {"fields": [
            "unit", "range_min", "range_max", "normal_min", "normal_max", "precision",
            "true_label", "false_label", "expected_interval_s", "setpoint_tag",
        ]}),
        ("Historian", {"fields": ["deadband", "heartbeat_s"]}),
        ("Setpoint writes", {"fields": [
            "writable", "setpoint_min", "setpoint_max", "max_step", "readback_tolerance",
        ]}),
    ]  # fmt: skip


@admin.register(RejectedMessage)
class RejectedMessageAdmin(admin.ModelAdmin):
    """Messages the ingest worker refused, with the reason: read-only evidence."""

    list_display = ["received_at", "topic", "reason", "payload_size"]
    list_filter = ["received_at"]
    search_fields = ["topic", "reason"]
    date_hierarchy = "received_at"
    readonly_fields = ["received_at", "topic", "reason", "payload_preview", "payload_size"]
    exclude = ["payload"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(RejectionTally)
class RejectionTallyAdmin(admin.ModelAdmin):
    """How many messages were refused each day; kept when old rejections are purged."""

    list_display = ["day", "rejected", "unknown_topic"]
    date_hierarchy = "day"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(UnknownTopic)
class UnknownTopicAdmin(admin.ModelAdmin):
    """Topics that carry telemetry but match no tag; one click starts a tag for one."""

    list_display = ["topic", "message_count", "first_seen_at", "last_seen_at", "make_tag"]
    search_fields = ["topic"]
    readonly_fields = ["topic", "message_count", "first_seen_at", "last_seen_at", "payload"]
    exclude = ["last_payload"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Last payload")
    def payload(self, obj: UnknownTopic) -> str:
        return bytes(obj.last_payload).decode("utf-8", errors="backslashreplace")

    @admin.display(description="")
    def make_tag(self, obj: UnknownTopic) -> str:
        url = (
            reverse("admin:plant_tag_add")
            + "?"
            + urlencode({"topic": obj.topic, "key": obj.topic.rpartition("/")[2][:64]})
        )
        return format_html('<a class="button" href="{}">Create tag</a>', url)


@admin.register(SetpointWrite)
class SetpointWriteAdmin(admin.ModelAdmin):
    """The audit trail of setpoint writes: readable here, never added, edited or deleted."""

    list_display = ["requested_at", "tag", "value", "old_value", "user", "state", "finished_at"]
    list_filter = ["state", "tag__machine__line__plant"]
    search_fields = ["tag__key", "user__username", "reason"]
    date_hierarchy = "requested_at"
    list_select_related = ["tag__machine__line__plant", "user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ControlLoop)
class ControlLoopAdmin(admin.ModelAdmin):
    """Admins tune loops here; operators switch their mode on the faceplate (plant.actions)."""

    list_display = ["name", "pv_tag", "output_tag", "mode", "output", "note"]
    raw_id_fields = ["pv_tag", "sp_tag", "output_tag"]
    # The mode and the output change only through plant.actions, which journal them.
    readonly_fields = ["mode", "output", "output_at", "note", "changed_at", "runner", "lease_until"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens for scripts that read the history API; the secret is shown once, on creation."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at"]
    list_filter = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        # A token keeps its user: handing an existing secret to someone else is a new token.
        return [*self.readonly_fields, "user"] if obj else self.readonly_fields

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: ModelForm[ApiToken], change: bool
    ) -> None:
        secret = None if change else obj.set_new_secret()
        super().save_model(request, obj, form, change)
        if secret:
            messages.warning(
                request,
                f"The token for “{obj.name}” is {secret}  Copy it now: it is not shown again.",
            )


from plant import health_admin  # noqa: E402, F401 (registers the health models)
