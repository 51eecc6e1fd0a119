"""Forms of the HMI: setpoint writes, the loop mode switch and the audit trail's filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django import forms
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from plant.models import ControlLoop, LatestValue, SetpointWrite, Tag
from plant.setpoints import check_setpoint, parse_value

SYSTEM = "system"


class SetpointForm(forms.Form):
    """A new value for one writable tag; every rule is checked as the write itself checks it."""

    value = forms.CharField(max_length=40, label="New value")
    reason = forms.CharField(max_length=200, required=False, label="Reason (optional)")

    def __init__(self, *args: Any, tag: Tag, user: User | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tag = tag
        self.user = user
        self.current = LatestValue.objects.filter(tag=tag).first()
        attrs = {
            "id": f"setpoint-value-{tag.pk}",
            "autocomplete": "off",
            "aria-describedby": f"setpoint-limits-{tag.pk} setpoint-error-{tag.pk}",
        }
        if tag.data_type == Tag.DataType.BOOL:  # a switch: on or off, no limits to describe
            choices = [("1", tag.true_label or "on"), ("0", tag.false_label or "off")]
            self.fields["value"].widget = forms.Select(choices=choices)
            attrs["aria-describedby"] = f"setpoint-error-{tag.pk}"
        else:
            attrs["inputmode"] = "decimal"
        self.fields["value"].widget.attrs.update(attrs)
        self.fields["reason"].widget.attrs["id"] = f"setpoint-reason-{tag.pk}"

    def clean_value(self) -> float:
        value = parse_value(self.tag, self.cleaned_data["value"])
        last_at = (
            SetpointWrite.objects.filter(tag=self.tag).order_by("-requested_at")
            .values_list("requested_at", flat=True).first()
        )  # fmt: skip
        check_setpoint(self.tag, value, current=self.current, last_at=last_at, by=self.user,
                       now=timezone.now())  # fmt: skip
        return value


class LoopModeForm(forms.Form):
    """Switch a control loop between auto and manual."""

    mode = forms.ChoiceField(choices=ControlLoop.Mode.choices)


class TagChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]  # not subscriptable at runtime
    """A choice of tag, named by its machine and description."""

    def label_from_instance(self, obj: Tag) -> str:
        return _tag_label(obj)


class AuditFilterForm(forms.Form):
    """Filters of the setpoint audit trail; every field is optional."""

    tag = TagChoiceField(queryset=Tag.objects.none(), required=False, empty_label="any")
    user = forms.ChoiceField(required=False, label="By")
    state = forms.ChoiceField(required=False, choices=[("", "any"), *SetpointWrite.State.choices])
    since = forms.DateTimeField(
        required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args: Any, tags: QuerySet[Tag], users: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The fields declared above, as the classes they are.
        cast(TagChoiceField, self.fields["tag"]).queryset = tags
        cast(forms.ChoiceField, self.fields["user"]).choices = [
            ("", "anyone"),
            (SYSTEM, "the system"),
            *((name, name) for name in users),
        ]

    def filter(self, writes: QuerySet[SetpointWrite]) -> QuerySet[SetpointWrite]:
        """The writes that pass the filters (all of them if the form is not valid)."""
        if not self.is_valid():
            return writes
        data = self.cleaned_data
        if data["tag"]:
            writes = writes.filter(tag=data["tag"])
        if data["user"] == SYSTEM:
            writes = writes.filter(user=None)
        elif data["user"]:
            writes = writes.filter(user__username=data["user"])
        if data["state"]:
            writes = writes.filter(state=data["state"])
        return _in_range(writes, data["since"], data["until"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise ValidationError({"until": "Must not be before the start."})
        return data


def _in_range(
    writes: QuerySet[SetpointWrite], since: datetime | None, until: datetime | None
) -> QuerySet[SetpointWrite]:
    if since:
        writes = writes.filter(requested_at__gte=since)
    if until:
        writes = writes.filter(requested_at__lte=until)
    return writes


def _tag_label(tag: Tag) -> str:
    return f"{tag.machine.name} · {tag.description or tag.key}"
