"""OEE in the Django admin, scoped per plant (plant.admin_scope): each machine's OEE
configuration with its state mapping and product cycle times inline, and the plant's stop
reasons. The reasons given to stops are the OEE screens' (plant.actions.oee journals them)."""

from __future__ import annotations

from django.contrib import admin

from plant.admin_base import NeverDeleted
from plant.admin_scope import PlantScopedAdmin, ScopedInline
from plant.models import OeeMachine, OeeProduct, OeeState, StopReason

OWN = admin.RelatedOnlyFieldListFilter


class OeeStateInline(ScopedInline):
    model = OeeState
    fields = ["state", "category"]
    extra = 1


class OeeProductInline(ScopedInline):
    model = OeeProduct
    fields = ["product", "ideal_cycle_s"]
    extra = 0


@admin.register(OeeMachine)
class OeeMachineAdmin(PlantScopedAdmin):
    """How a machine's OEE is measured: its state and counters, its ideal speed, and what each
    state value means (running, a breakdown, a planned stop …)."""

    list_display = ["machine", "state_tag", "produced_tag", "rejected_tag", "ideal_cycle_s",
                    "rated_per_min", "microstop_s", "is_bottleneck"]  # fmt: skip
    list_filter = [("machine__line__plant", OWN), ("machine__line", OWN)]
    list_select_related = ["machine__line__plant", "state_tag", "produced_tag", "rejected_tag"]
    autocomplete_fields = ["state_tag", "produced_tag", "rejected_tag", "product_tag"]
    search_fields = ["machine__name"]
    inlines = [OeeStateInline, OeeProductInline]


@admin.register(StopReason)
class StopReasonAdmin(NeverDeleted, PlantScopedAdmin):
    """The reasons operators may give stops; given ones are kept: withdraw one instead."""

    list_display = ["name", "plant", "category", "active"]
    list_filter = ["active", "category", ("plant", OWN)]
    search_fields = ["name"]
