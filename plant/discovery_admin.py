"""The discovery review list and the Neuron gateways in the Django admin, scoped per plant
(plant.admin_scope): an admin accepts (creates tags, one or many), maps onto an existing tag
(the change form's one field), or ignores; plant.discovery makes and journals each change."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from plant import discovery
from plant.admin_scope import PlantScopedAdmin
from plant.models import DiscoveredSignal, NeuronDevice, NeuronGateway


@admin.register(NeuronGateway)
class NeuronGatewayAdmin(PlantScopedAdmin):
    """An EMQX Neuron north app and the plant it feeds; empty topics: Neuron's defaults."""

    list_display = ["app", "plant", "write_request_topic", "write_response_topic", "status_topic"]
    search_fields = ["app"]


@admin.register(NeuronDevice)
class NeuronDeviceAdmin(PlantScopedAdmin):
    """South nodes of the gateways: the machine each fills, its link as last reported."""

    list_display = ["node", "gateway", "machine", "link_label", "running", "state_at"]
    # Only the gateways of the rows the admin may see (a plain filter lists every plant's).
    list_filter = [("gateway", admin.RelatedOnlyFieldListFilter)]
    readonly_fields = ["gateway", "node", "link", "running", "state_at"]

    @admin.display(description="link")
    def link_label(self, obj: NeuronDevice) -> str:
        return obj.link_label

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(DiscoveredSignal)
class DiscoveredSignalAdmin(PlantScopedAdmin):
    """Signals seen that no tag stores: accept, map onto a tag (edit it), or ignore."""

    list_display = ["key", "kind", "plant", "data_type", "last_value", "count", "first_seen_at",
                    "last_seen_at", "status", "tag"]  # fmt: skip
    list_filter = ["status", "kind"]
    search_fields = ["key"]
    fields = ["kind", "key", "plant", "data_type", "last_value", "count", "status", "tag"]
    readonly_fields = ["kind", "key", "plant", "data_type", "last_value", "count", "status"]
    raw_id_fields = ["tag"]
    actions = ["accept", "ignore"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        discovery.sync_sources()  # pending Sparkplug births and unknown topics join the list
        return super().changelist_view(request, extra_context)

    def save_model(
        self, request: HttpRequest, obj: DiscoveredSignal, form: Any, change: bool
    ) -> None:
        """The change form maps the signal onto the tag chosen."""
        if obj.tag is None:
            return
        tag = obj.tag
        obj.refresh_from_db()
        try:
            discovery.do_map(obj, tag, by=request.user)  # type: ignore[arg-type]
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), messages.ERROR)

    @admin.action(description="Accept: create their tags")
    def accept(self, request: HttpRequest, queryset: QuerySet[DiscoveredSignal]) -> None:
        new = list(queryset.filter(status__in=["new", "ignored"]).order_by("key"))
        try:
            tags = discovery.do_accept(new, by=request.user)  # type: ignore[arg-type]
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), messages.ERROR)
            return
        self.message_user(request, f"Accepted {len(new)} signals ({len(tags)} tags).",
                          messages.SUCCESS)  # fmt: skip

    @admin.action(description="Ignore")
    def ignore(self, request: HttpRequest, queryset: QuerySet[DiscoveredSignal]) -> None:
        count = discovery.do_ignore(list(queryset.filter(status="new")), by=request.user)  # type: ignore[arg-type]
        self.message_user(request, f"Ignored {count} signals.", messages.SUCCESS)
