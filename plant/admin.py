"""Admins configure the asset tree here: plants, lines, machines and their tags.

Each admin sees and changes only the plants they are a member of (plant.admin_scope); only
superusers manage memberships.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html

from plant.admin_base import (
    ModelAdmin,
    ModelForm,
    NeverDeleted,
    ReadOnly,
    SystemWritten,
    admin_user,
)
from plant.admin_scope import (
    OwnSlugForm,
    OwnTopicForm,
    PlantScopedAdmin,
    ScopedInline,
    TopicScopedAdmin,
)
from plant.models import (
    ApiToken,
    ControlLoop,
    DeviceIdentity,
    Line,
    Machine,
    Plant,
    RejectedMessage,
    RejectionTally,
    SetpointWrite,
    Tag,
    UnknownTopic,
)
from plant.token_actions import do_issue_api_token, do_revoke_api_token

OWN = admin.RelatedOnlyFieldListFilter  # a filter offering only the plants (…) on the list


class LineInline(ScopedInline):
    model = Line
    fields = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}
    extra = 0
    show_change_link = True


class MachineInline(ScopedInline):
    model = Machine
    fields = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}
    extra = 0
    show_change_link = True


class TagInline(ScopedInline):
    model = Tag
    form = OwnTopicForm
    fk_name = "machine"
    fields = [
        "key", "description", "data_type", "unit", "range_min", "range_max", "precision",
        "topic", "writable", "setpoint_min", "setpoint_max", "max_step", "deadband",
    ]  # fmt: skip
    extra = 0
    show_change_link = True

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        if issubclass(formset.form, OwnTopicForm):
            formset.form.user = request.user  # a class made for this request
        return formset


@admin.register(Plant)
class PlantAdmin(PlantScopedAdmin):
    list_display = ["name", "slug", "time_zone"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]
    inlines = [LineInline]
    form = OwnSlugForm

    def get_form(
        self, request: HttpRequest, obj: Plant | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Plant]]:
        form = super().get_form(request, obj, change, **kwargs)
        if issubclass(form, OwnSlugForm):
            form.user = request.user  # a class made for this request
        return form

    def get_urls(self) -> list[Any]:
        # Imported here: plant.config_file_admin's views need the admin site to be built.
        from plant import config_file_admin as views

        own = [
            path("config/", self.admin_site.admin_view(views.config_page),
                 name="plant_plant_config"),
            path("config/apply/", self.admin_site.admin_view(views.apply_config),
                 name="plant_plant_config_apply"),
            path("config/<slug:slug>.yaml", self.admin_site.admin_view(views.export_config),
                 name="plant_plant_export"),
        ]  # fmt: skip
        return own + super().get_urls()

    def get_exclude(self, request: HttpRequest, obj: Plant | None = None) -> list[str]:
        # Who may see a plant is the superusers' decision: an admin adding themself to another
        # plant would see it and write its setpoints.
        return [] if request.user.is_superuser else ["members"]

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm[Plant], formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        if not change and not request.user.is_superuser:
            form.instance.members.add(admin_user(request))  # else its maker could no longer see it


@admin.register(Line)
class LineAdmin(PlantScopedAdmin):
    list_display = ["name", "plant", "slug", "position"]
    list_filter = [("plant", OWN)]
    search_fields = ["name", "slug", "plant__name"]
    prepopulated_fields = {"slug": ["name"]}
    list_select_related = ["plant"]
    inlines = [MachineInline]


@admin.register(Machine)
class MachineAdmin(PlantScopedAdmin):
    list_display = ["name", "line", "slug", "position"]
    list_filter = [("line__plant", OWN), ("line", OWN)]
    search_fields = ["name", "slug", "line__name"]
    prepopulated_fields = {"slug": ["name"]}
    list_select_related = ["line__plant"]
    inlines = [TagInline]


@admin.register(Tag)
class TagAdmin(PlantScopedAdmin):
    list_display = ["key", "machine", "data_type", "unit", "topic", "writable"]
    list_filter = ["data_type", "writable", ("machine__line__plant", OWN),
                   ("machine__line", OWN), ("machine", OWN)]  # fmt: skip
    search_fields = ["key", "description", "topic", "machine__name"]
    list_select_related = ["machine__line__plant"]
    autocomplete_fields = ["setpoint_tag"]
    form = OwnTopicForm
    fieldsets = [
        (None, {"fields": ["machine", "key", "description", "data_type", "topic"]}),
        ("Display", {"fields": [
            "unit", "range_min", "range_max", "normal_min", "normal_max", "precision",
            "true_label", "false_label", "expected_interval_s", "setpoint_tag",
        ]}),
        ("Historian", {"fields": ["deadband", "heartbeat_s"]}),
        ("Setpoint writes", {"fields": [
            "writable", "setpoint_min", "setpoint_max", "max_step", "readback_tolerance",
            "echoes_write_id",
        ]}),
    ]  # fmt: skip

    def get_form(
        self, request: HttpRequest, obj: Tag | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Tag]]:
        form = super().get_form(request, obj, change, **kwargs)
        if issubclass(form, OwnTopicForm):
            form.user = request.user  # a class made for this request
        return form


@admin.register(RejectedMessage)
class RejectedMessageAdmin(SystemWritten, TopicScopedAdmin):
    """Messages the ingest worker refused, with the reason: read-only evidence; a plant admin
    sees those on their own plants' topics."""

    list_display = ["received_at", "topic", "reason", "payload_size"]
    list_filter = ["received_at"]
    search_fields = ["topic", "reason"]
    date_hierarchy = "received_at"
    readonly_fields = ["received_at", "topic", "reason", "payload_preview", "payload_size"]
    exclude = ["payload"]


@admin.register(RejectionTally)
class RejectionTallyAdmin(ReadOnly, ModelAdmin):
    """How many messages were refused each day; kept when old rejections are purged."""

    list_display = ["day", "rejected", "unknown_topic"]
    date_hierarchy = "day"


@admin.register(UnknownTopic)
class UnknownTopicAdmin(SystemWritten, TopicScopedAdmin):
    """Topics that carry telemetry but match no tag; one click starts a tag for one. A plant
    admin sees those under their own plants' slugs; the rest only superusers."""

    list_display = ["topic", "message_count", "first_seen_at", "last_seen_at", "make_tag"]
    search_fields = ["topic"]
    readonly_fields = ["topic", "message_count", "first_seen_at", "last_seen_at", "payload"]
    exclude = ["last_payload"]

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
class SetpointWriteAdmin(ReadOnly, PlantScopedAdmin):
    """The audit trail of setpoint writes: readable here, never added, edited or deleted."""

    list_display = ["requested_at", "tag", "value", "old_value", "user", "state", "finished_at"]
    list_filter = ["state", ("tag__machine__line__plant", OWN)]
    search_fields = ["tag__key", "user__username", "reason"]
    date_hierarchy = "requested_at"
    list_select_related = ["tag__machine__line__plant", "user"]


@admin.register(ControlLoop)
class ControlLoopAdmin(NeverDeleted, PlantScopedAdmin):
    """Admins tune loops here; operators switch their mode on the faceplate (plant.actions)."""

    list_display = ["name", "pv_tag", "output_tag", "mode", "output", "note"]
    # Searched among the user's own tags; a raw id field would name any tag whose id is typed.
    autocomplete_fields = ["pv_tag", "sp_tag", "output_tag"]
    # The mode and the output change only through plant.actions, which journal them.
    readonly_fields = ["mode", "output", "output_at", "note", "changed_at", "runner", "lease_until"]


@admin.register(ApiToken)
class ApiTokenAdmin(NeverDeleted, ModelAdmin):
    """Tokens for scripts that read the history API; the secret is shown once, on issue.

    A token is revoked, never deleted: its row keeps who issued and who revoked it. Only a
    superuser issues tokens for others; anyone else allowed here sees and issues their own.
    """

    list_display = ["name", "user", "scope", "prefix", "created_at", "issued_by", "expires_at",
                    "revoked_at", "revoked_by", "last_used_at"]  # fmt: skip
    list_filter = ["scope", ("user", OWN)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user", "issued_by", "revoked_by"]
    fields = ["user", "name", "scope", "expires_at", "prefix", "created_at", "issued_by",
              "revoked_at", "revoked_by", "last_used_at"]  # fmt: skip
    readonly_fields = ["prefix", "created_at", "issued_by", "revoked_at", "revoked_by",
                       "last_used_at"]  # fmt: skip
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        tokens = super().get_queryset(request)
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = User.objects.filter(pk=admin_user(request).pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        # An issued token keeps its user, scope and expiry: a different one is a new token.
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "user", "scope", "expires_at"]

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: forms.ModelForm[ApiToken], change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        secret = do_issue_api_token(obj, by=admin_user(request))
        messages.warning(
            request, f"The token for “{obj.name}” is {secret}  Copy it now: it is not shown again."
        )

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, tokens: QuerySet[ApiToken]) -> None:
        revoked = sum(do_revoke_api_token(token, by=admin_user(request)) for token in tokens)
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)


class DeviceIdentityForm(ModelForm):
    """A device identity's page: a new password is typed (or made) here and never shown again."""

    new_password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        help_text="Empty: keep the present one (a new identity is given a random one, shown "
        "once).",
    )  # fmt: skip

    class Meta:
        model = DeviceIdentity
        fields = ["plant", "username", "topic_prefix", "sparkplug_group", "sparkplug_node",
                  "enabled", "description", "new_password"]  # fmt: skip

    def clean_new_password(self) -> str:
        password: str = self.cleaned_data["new_password"]
        if password and len(password) < 16:
            raise forms.ValidationError("At least 16 characters: devices keep it in a file.")
        return password


@admin.register(DeviceIdentity)
class DeviceIdentityAdmin(PlantScopedAdmin):
    """Devices' logins on the broker, per plant (plant.broker_access turns them into its files).

    Only the password's hash is stored; a new identity is given a random password that is
    shown once, as an API token's secret is.
    """

    form = DeviceIdentityForm
    list_display = ["username", "plant", "topic_prefix", "sparkplug_node", "enabled"]
    list_filter = ["enabled", ("plant", OWN)]
    search_fields = ["username", "topic_prefix", "description"]
    list_select_related = ["plant"]

    def save_model(
        self, request: HttpRequest, obj: DeviceIdentity, form: forms.ModelForm[DeviceIdentity],
        change: bool,
    ) -> None:  # fmt: skip
        password = form.cleaned_data.get("new_password")
        made = ""
        if password:
            obj.set_password(password)
        elif not change:
            made = obj.set_new_password()
        super().save_model(request, obj, form, change)
        if made:
            messages.warning(request, f"The password of “{obj.username}” is {made}  Copy it "
                             "now: it is not shown again.")  # fmt: skip


# Register the other modules' models (health, Sparkplug, discovery, shift calendar, OEE,
# sign-on).
from plant import (  # noqa: E402, F401
    discovery_admin,
    energy_admin,
    health_admin,
    oee_admin,
    report_admin,
    shift_admin,
    sparkplug_admin,
    sso_admin,
)
