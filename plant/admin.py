"""Admins configure the asset tree here: plants, lines, machines and their tags."""

from __future__ import annotations

from django.contrib import admin

from plant.models import Line, Machine, Plant, Tag


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
