"""Sparkplug B in the Django admin: each group's discovery switch, the births waiting for
approval, and the edge nodes' sessions. Superusers only: a group's births may create a
plant, and an unknown group belongs to no plant yet."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from plant import sparkplug
from plant.admin_base import ModelAdmin, NeverDeleted, ReadOnly, SuperusersOnly
from plant.models import SparkplugGroup, SparkplugNode, SparkplugPendingBirth


@admin.register(SparkplugGroup)
class SparkplugGroupAdmin(NeverDeleted, SuperusersOnly, ModelAdmin):
    """A Sparkplug group: the plant its births fill, and whether they may create tags. Never
    deleted: its nodes' sessions and metric mappings hang on it."""

    list_display = ["group_id", "plant", "discovery"]
    list_editable = ["discovery"]
    search_fields = ["group_id"]


@admin.register(SparkplugPendingBirth)
class SparkplugPendingBirthAdmin(ReadOnly, SuperusersOnly, ModelAdmin):
    """Births of groups with discovery off: approve creates what they describe."""

    list_display = ["__str__", "received_at", "state", "metric_count"]
    list_filter = ["state", "group"]
    readonly_fields = ["group", "edge_node_id", "device_id", "received_at", "state", "metrics"]
    actions = ["approve", "ignore"]

    @admin.display(description="metrics")
    def metric_count(self, obj: SparkplugPendingBirth) -> int:
        return len(obj.metrics)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_superuser and obj is None  # the list's actions, no edit form

    @admin.action(description="Approve: create their lines, machines and tags")
    def approve(self, request: HttpRequest, queryset: QuerySet[SparkplugPendingBirth]) -> None:
        # Edge nodes first, so a device's machine finds its node's line.
        pending = queryset.filter(state=SparkplugPendingBirth.State.PENDING).order_by("device_id")
        done = [sparkplug.do_approve(p, request.user) for p in pending]  # type: ignore[arg-type]
        tags = sum(1 for mapped in done for m in mapped if m.tag_id is not None)
        self.message_user(request, f"Approved {len(done)} births ({tags} tags).", messages.SUCCESS)

    @admin.action(description="Ignore")
    def ignore(self, request: HttpRequest, queryset: QuerySet[SparkplugPendingBirth]) -> None:
        ignored = queryset.filter(state=SparkplugPendingBirth.State.PENDING).update(
            state=SparkplugPendingBirth.State.IGNORED
        )
        self.message_user(request, f"Ignored {ignored} births.", messages.SUCCESS)


# After its name:
NODE_COLUMNS = ("machine", "online", "status_tag", "bd_seq", "birth_at", "death_at")


@admin.register(SparkplugNode)
class SparkplugNodeAdmin(ReadOnly, SuperusersOnly, ModelAdmin):
    """Edge nodes and devices: online since their birth, or offline since their death."""

    list_display = ("__str__", *NODE_COLUMNS)
    list_filter = ["online", "group"]
    readonly_fields = (*NODE_COLUMNS, "group", "edge_node_id", "device_id")
