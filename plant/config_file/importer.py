"""Compare a configuration file with the database, and apply it in one transaction.

A dry run and an apply run the same code: every create and change is validated with the
model's full_clean() (and the database's constraints), saved, and recorded in the
configuration history by plant.config_history's signals; then a dry run, or any error, rolls
the whole transaction back. So a dry run reports exactly what an apply would do, and writes
nothing (it only advances id sequences).

Removal of what the file no longer names happens only with `prune`, and never of anything
with history: a tag with samples, setpoint writes or alarm journal entries, an alarm
definition whose alarm has a journal, a loop with mode changes. Take those out of service
instead (an alarm's `enabled: false`); the history stays readable.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Model, ProtectedError

from plant import config_history
from plant.actions.alarms import do_drop_alarm_state
from plant.actions.vibration import do_apply_vibration_class
from plant.admin_scope import in_own_plants, topic_prefix
from plant.config_file.located import FileError, load
from plant.config_file.reader import Entry, Reader
from plant.config_file.schema import tag_ref
from plant.models import (
    AlarmDefinition,
    AlarmJournalEntry,
    ControlLoop,
    EmergencyAction,
    Line,
    Machine,
    OeeMachine,
    OeeProduct,
    OeeState,
    Plant,
    Sample,
    SetpointWrite,
    SparkplugGroup,
    SpcSettings,
    Tag,
    VibrationMonitor,
)
from plant.spc_tags import ensure_spc_tags


@dataclass
class Change:
    """One object the file creates, changes or removes (or, without prune, leaves alone)."""

    action: str  # "create" | "change" | "remove" | "unlisted"
    what: str
    line: int | None
    fields: list[str] = field(default_factory=list)


@dataclass
class Result:
    """What an import found: its changes, its errors (file:line: ...), and whether it applied."""

    filename: str
    changes: list[Change] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    applied: bool = False

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "change": 0, "remove": 0, "unlisted": 0}
        for change in self.changes:
            out[change.action] += 1
        return out

    def lines(self) -> list[str]:
        """The changes as text, one per line, file:line first."""
        out = []
        for c in self.changes:
            where = f"{self.filename}:{c.line}: " if c.line else f"{self.filename}: "
            detail = f": {', '.join(c.fields)}" if c.fields else ""
            out.append(f"{where}{c.action} {c.what}{detail}")
        return out


class _Rollback(Exception):
    """Leaves the transaction of a dry run, or of a file with errors."""


def import_text(
    text: str, *, filename: str = "<file>", by: User | None = None,
    apply: bool = False, prune: bool = False,
) -> Result:  # fmt: skip
    """Compare `text` with the database; with `apply` (and no error) make it so.

    `by` is the person importing (None: a management command, which may do anything); a
    person imports only into plants they administer, with their admin permissions.
    """
    result = Result(filename)
    try:
        located, problems = load(text)
    except FileError as error:
        result.errors.append(f"{filename}:{error.line}: {error.message}")
        return result
    reader = Reader(located)
    plant_entry, loops, groups = reader.read()
    for line, message in sorted(problems + reader.errors):
        result.errors.append(f"{filename}:{line}: {message}")
    if result.errors or plant_entry is None:
        return result
    run = _Import(result, located.line, by, prune)
    try:
        with transaction.atomic(), config_history.acting_as(by) if by else nullcontext():
            run.run(plant_entry, loops, groups, reader.analytics)
            if result.errors or not apply:
                raise _Rollback
    except _Rollback:
        return result
    except DatabaseError as error:
        result.errors.append(f"{filename}: the database refused the change: {error}")
        return result
    result.applied = True
    return result


class _Import:
    """One run over the entries, inside the transaction."""

    def __init__(self, result: Result, line_of: Any, by: User | None,
                 prune: bool) -> None:  # fmt: skip
        self.result = result
        self.line_of = line_of
        self.by = by
        self.prune = prune
        self.changes: dict[str, Change] = {}
        self.tags: dict[str, Tag] = {}  # by line/machine/key: the plant's tags, then the file's
        self.failed: set[str] = set()  # refs of tags the file names but that failed
        self.seen: dict[type[Model], set[int]] = {}

    # --- the plant and its tree -------------------------------------------------------------

    def run(
        self, plant_entry: Entry, loops: list[Entry], groups: list[Entry],
        analytics: dict[str, list[Entry]] | None = None,
    ) -> None:  # fmt: skip
        plant = self._plant(plant_entry)
        if plant is None:
            return
        self.plant = plant
        self._load_tags(plant)
        tag_entries: list[tuple[Entry, Tag]] = []
        for line_entry in plant_entry.children["lines"]:
            tag_entries += self._line(plant, line_entry)
        for entry, tag in tag_entries:
            self._setpoint_tag(entry, tag)
        for entry, tag in tag_entries:
            for alarm in entry.children["alarms"]:
                self._upsert(AlarmDefinition, {"tag": tag, "kind": alarm.values["kind"]}, alarm,
                             f"alarm {self._ref(tag)} {alarm.values['kind']}")  # fmt: skip
        for line_entry in plant_entry.children["lines"]:
            self._emergency_actions(plant, line_entry)
        for loop in loops:
            self._loop(loop)
        for group in groups:
            self._group(plant, group)
        for entry in (analytics or {}).get("vibration_monitors", []):
            self._vibration_monitor(entry)
        for entry in (analytics or {}).get("spc", []):
            self._spc(entry)
        for entry in (analytics or {}).get("oee_machines", []):
            self._oee_machine(plant, entry)
        self._unlisted(plant)

    def _plant(self, entry: Entry) -> Plant | None:
        slug = entry.values["slug"]
        existing = Plant.objects.filter(slug=slug).first()
        if self.by is not None and not self.by.is_superuser:
            mine = existing and in_own_plants(Plant.objects.filter(pk=existing.pk), self.by)
            if not mine or not mine.exists():
                self._error(entry, None, f"you administer no plant {slug!r}: only a superuser "
                                         "imports a new plant, or another's")  # fmt: skip
                return None
        plant: Plant | None = self._upsert(Plant, {"slug": slug}, entry, f"plant {slug}")
        return plant

    def _line(self, plant: Plant, entry: Entry) -> list[tuple[Entry, Tag]]:
        line = self._upsert(Line, {"plant": plant, "slug": entry.values["slug"]}, entry,
                            f"line {entry.values['slug']}")  # fmt: skip
        out: list[tuple[Entry, Tag]] = []
        if line is None:
            return out
        for machine_entry in entry.children["machines"]:
            slug = machine_entry.values["slug"]
            machine = self._upsert(Machine, {"line": line, "slug": slug}, machine_entry,
                                   f"machine {line.slug}/{slug}")  # fmt: skip
            for tag_entry in machine_entry.children["tags"]:
                ref = tag_ref(line.slug, slug, tag_entry.values["key"])
                tag = None
                if machine is not None:
                    self._check_topic(tag_entry, ref)
                    tag = self._upsert(Tag, {"machine": machine, "key": tag_entry.values["key"]},
                                       tag_entry, f"tag {ref}", skip={"setpoint_tag"})  # fmt: skip
                if tag is None:
                    self.failed.add(ref)
                    continue
                self.tags[ref] = tag
                out.append((tag_entry, tag))
        return out

    def _setpoint_tag(self, entry: Entry, tag: Tag) -> None:
        ref = entry.values["setpoint_tag"]
        target = None if ref is None else self._resolve(entry, "setpoint_tag", ref)
        if (ref is not None and target is None) or tag.setpoint_tag_id == (target and target.pk):
            return  # a missing tag (its error is reported), or no change
        old = tag.setpoint_tag
        tag.setpoint_tag = target
        if self._clean(tag, entry, f"tag {self._ref(tag)}"):
            tag.save(update_fields=["setpoint_tag"])
            self._note("change", f"tag {self._ref(tag)}", entry,
                       f"setpoint_tag {self._ref(old)} → {ref}")  # fmt: skip

    def _emergency_actions(self, plant: Plant, entry: Entry) -> None:
        line = Line.objects.filter(plant=plant, slug=entry.values["slug"]).first()
        if line is None:
            return  # the line failed: its own error says why
        for action in entry.children["emergency_actions"]:
            tag = self._resolve(action, "tag", action.values["tag"])
            if tag:
                self._upsert(EmergencyAction, {"line": line, "tag": tag}, action,
                             f"emergency action {line.slug} {action.values['tag']}",
                             values={"tag": tag})  # fmt: skip

    def _loop(self, entry: Entry) -> None:
        refs = {name: self._resolve(entry, name, entry.values[name])
                for name in ("output_tag", "pv_tag", "sp_tag")}  # fmt: skip
        if all(refs.values()):
            self._upsert(ControlLoop, {"output_tag": refs["output_tag"]}, entry,
                         f"loop {entry.values['output_tag']}", values=refs)  # fmt: skip

    def _group(self, plant: Plant, entry: Entry) -> None:
        group_id = entry.values["group_id"]
        existing = SparkplugGroup.objects.filter(group_id=group_id).first()
        if existing and existing.plant_id not in (None, plant.pk):
            self._error(entry, "group_id", f"Sparkplug group {group_id!r} fills another plant")
            return
        self._upsert(SparkplugGroup, {"group_id": group_id}, entry,
                     f"sparkplug group {group_id}", values={"plant": plant})  # fmt: skip

    # --- the tags' analytics: saved, then made effective by the code the admin's save runs ---

    def _vibration_monitor(self, entry: Entry) -> None:
        """A monitor, then its class's zone C and D alarms (do_apply_vibration_class, as the
        admin and the demo make them): the class owns their limits, on-delay and priority."""
        tag = self._resolve(entry, "tag", entry.values["tag"])
        bearing_ref = entry.values["bearing_temperature_tag"]
        bearing = (
            None
            if bearing_ref is None
            else self._resolve(entry, "bearing_temperature_tag", bearing_ref)
        )
        if tag is None or (bearing_ref is not None and bearing is None):
            return
        ref = self._ref(tag)
        monitor = self._upsert(VibrationMonitor, {"tag": tag}, entry,
                               f"vibration monitor {ref}",
                               values={"tag": tag, "bearing_temperature_tag": bearing})  # fmt: skip
        if monitor is None:
            return
        for definition in do_apply_vibration_class(monitor):
            key = (tag.pk, definition.kind)
            if key not in self.existing_alarms and definition.pk not in self.seen.get(
                AlarmDefinition, set()
            ):
                self._note("create", f"alarm {ref} {definition.kind}", entry,
                           "from the vibration class")  # fmt: skip
            self.seen.setdefault(AlarmDefinition, set()).add(definition.pk)

    def _spc(self, entry: Entry) -> None:
        """SPC settings, then their derived run-rule tags (ensure_spc_tags, as the admin's
        save makes them)."""
        tag = self._resolve(entry, "tag", entry.values["tag"])
        if tag is None:
            return
        ref = self._ref(tag)
        spc = self._upsert(SpcSettings, {"tag": tag}, entry, f"spc {ref}", values={"tag": tag})
        if spc is None:
            return
        for derived in ensure_spc_tags(spc):
            derived_ref = self._ref(derived)
            if derived_ref not in self.tags:
                self._note("create", f"tag {derived_ref}", entry, "derived from the SPC")
                self.tags[derived_ref] = derived
            self.seen.setdefault(Tag, set()).add(derived.pk)

    def _oee_machine(self, plant: Plant, entry: Entry) -> None:
        """A machine's OEE: its counters and state tag, the state map and the products."""
        where = str(entry.values["machine"])
        line_slug, _, machine_slug = where.partition("/")
        machine = Machine.objects.filter(line__plant=plant, line__slug=line_slug,
                                         slug=machine_slug).first()  # fmt: skip
        if machine is None:
            self._error(entry, "machine", f"machine: no machine {where!r} in this file or plant "
                                          "(machines are named line/machine)")  # fmt: skip
            return
        refs: dict[str, Tag | None] = {}
        for name in ("state_tag", "produced_tag", "rejected_tag", "product_tag"):
            ref = entry.values[name]
            refs[name] = None if ref is None else self._resolve(entry, name, ref)
            if ref is not None and refs[name] is None:
                return
        oee = self._upsert(OeeMachine, {"machine": machine}, entry, f"oee machine {where}",
                           values={"machine": machine, **refs})  # fmt: skip
        if oee is None:
            return
        for state in entry.children["states"]:
            self._upsert(OeeState, {"oee_machine": oee, "state": state.values["state"]}, state,
                         f"oee state {where} {state.values['state']!r}",
                         values={"oee_machine": oee})  # fmt: skip
        for product in entry.children["products"]:
            self._upsert(OeeProduct, {"oee_machine": oee, "product": product.values["product"]},
                         product, f"oee product {where} {product.values['product']!r}",
                         values={"oee_machine": oee})  # fmt: skip

    # --- one object ---------------------------------------------------------------------

    def _upsert(
        self, model: type[Model], identity: dict[str, Any], entry: Entry, what: str, *,
        skip: frozenset[str] | set[str] = frozenset(), values: dict[str, Any] | None = None,
    ) -> Any:  # fmt: skip
        """Create or change the object `identity` names to hold the entry's values."""
        wanted = {k: v for k, v in entry.values.items() if k not in skip} | (values or {})
        obj = self._existing(model, identity)
        created = obj is None
        if obj is None:
            obj = model(**identity)
        changed = []
        for name, value in wanted.items():
            # A tag is compared by id: reading the old one would cost a query per field.
            old = getattr(obj, f"{name}_id" if isinstance(value, Model) else name)
            if created or old != (value.pk if isinstance(value, Model) else value):
                setattr(obj, name, value)
                if not created:
                    changed.append(f"{name} {_show(old)} → {_show(value)}")
        if created or changed:
            action = "add" if created else "change"
            if not self._allowed(action, model, entry) or not self._clean(obj, entry, what):
                return None
            obj.save()
            self._note("create" if created else "change", what, entry, *changed)
        self.seen.setdefault(model, set()).add(obj.pk)
        return obj

    def _existing(self, model: type[Model], identity: dict[str, Any]) -> Any:
        if model is Tag:
            machine = identity["machine"]
            return self.existing_tags.get(tag_ref(machine.line.slug, machine.slug, identity["key"]))
        if model is AlarmDefinition:
            return self.existing_alarms.get((identity["tag"].pk, identity["kind"]))
        if model is Machine and identity["line"].pk is not None:
            return self.existing_machines.get((identity["line"].pk, identity["slug"]))
        if any(isinstance(v, Model) and v.pk is None for v in identity.values()):
            return None
        return model._default_manager.filter(**identity).first()

    def _allowed(self, action: str, model: type[Model], entry: Entry | None) -> bool:
        by = self.by
        if by is None or by.is_superuser:
            return True
        name = model._meta.model_name
        if by.has_perm(f"plant.{action}_{name}"):
            return True
        message = f"you may not {action} a {model._meta.verbose_name} (plant.{action}_{name})"
        if entry is None:
            self.result.errors.append(f"{self.result.filename}: {message}")
        else:
            self._error(entry, None, message)
        return False

    def _clean(self, obj: Model, entry: Entry, what: str = "") -> bool:
        try:
            # The models' clean() checks what their CheckConstraints check, in Python; Django's
            # validate_constraints would ask the database once per constraint and row (seven
            # queries a tag). A row that slipped past is still refused by the database itself.
            obj.full_clean(validate_constraints=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                field = None if name == "__all__" else name
                for message in messages:
                    self._error(entry, field, f"{what}: {message}" if what else message)
            return False
        return True

    def _resolve(self, entry: Entry, name: str, ref: str) -> Tag | None:
        """The plant's tag `ref` names; None (with an error unless it failed itself) if none."""
        if ref in self.tags:
            return self.tags[ref]
        if ref not in self.failed:
            self._error(entry, name, f"{name}: no tag {ref!r} in this file or plant "
                                     "(tags are named line/machine/key)")  # fmt: skip
        return None

    def _check_topic(self, entry: Entry, ref: str) -> None:
        if self.by is None or self.by.is_superuser:
            return
        prefix = topic_prefix(self.plant)
        topic = entry.values["topic"]
        old = self.existing_tags.get(ref)
        if not topic.startswith(prefix) and (old is None or old.topic != topic):
            where = f"a tag of {self.plant} publishes under {prefix}"
            self._error(entry, "topic", f"{where}: other topics are other plants' or a superuser's")

    # --- what the file no longer names --------------------------------------------------

    def _load_tags(self, plant: Plant) -> None:
        tags = Tag.objects.filter(machine__line__plant=plant).select_related("machine__line")
        self.existing_tags = {self._ref(t): t for t in tags}
        self.tags = dict(self.existing_tags)
        machines = Machine.objects.filter(line__plant=plant).select_related("line")
        self.existing_machines = {(m.line_id, m.slug): m for m in machines}
        definitions = AlarmDefinition.objects.filter(tag__machine__line__plant=plant)
        self.existing_alarms = {(d.tag_id, d.kind): d for d in definitions}

    def _unlisted(self, plant: Plant) -> None:
        tags = Tag.objects.filter(machine__line__plant=plant)
        groups: list[tuple[type[Model], Any, Any]] = [
            (VibrationMonitor, VibrationMonitor.objects.filter(tag__in=tags),
             lambda o: f"vibration monitor {self._ref(o.tag)}"),
            (SpcSettings, SpcSettings.objects.filter(tag__in=tags),
             lambda o: f"spc {self._ref(o.tag)}"),
            (OeeState, OeeState.objects.filter(oee_machine__machine__line__plant=plant)
             .select_related("oee_machine__machine__line"),
             lambda o: f"oee state {self._where(o.oee_machine)} {o.state!r}"),
            (OeeProduct, OeeProduct.objects.filter(oee_machine__machine__line__plant=plant)
             .select_related("oee_machine__machine__line"),
             lambda o: f"oee product {self._where(o.oee_machine)} {o.product!r}"),
            (OeeMachine, OeeMachine.objects.filter(machine__line__plant=plant)
             .select_related("machine__line"), lambda o: f"oee machine {self._where(o)}"),
            (ControlLoop, ControlLoop.objects.filter(output_tag__in=tags),
             lambda o: f"loop {self._ref(o.output_tag)}"),
            (EmergencyAction, EmergencyAction.objects.filter(line__plant=plant),
             lambda o: f"emergency action {o.line.slug} {self._ref(o.tag)}"),
            (AlarmDefinition, AlarmDefinition.objects.filter(tag__in=tags),
             lambda o: f"alarm {self._ref(o.tag)} {o.kind}"),
            (Tag, tags.select_related("machine__line"), lambda o: f"tag {self._ref(o)}"),
            (Machine, Machine.objects.filter(line__plant=plant),
             lambda o: f"machine {o.line.slug}/{o.slug}"),
            (Line, Line.objects.filter(plant=plant), lambda o: f"line {o.slug}"),
        ]  # fmt: skip
        for model, queryset, name in groups:
            for obj in queryset.exclude(pk__in=self.seen.get(model, set())):
                if not self.prune:
                    self._note("unlisted", name(obj), None, "not in the file; prune removes it")
                elif self._allowed("delete", model, None) and self._removable(obj, name(obj)):
                    self._remove(obj, name(obj))

    def _removable(self, obj: Model, what: str) -> bool:
        history = ""
        if isinstance(obj, Tag):
            if Sample.objects.filter(tag_id=obj.pk).exists():
                history = "stored samples"
            elif SetpointWrite.objects.filter(tag=obj).exists():
                history = "setpoint writes"
            elif AlarmJournalEntry.objects.filter(tag=obj).exists():
                history = "alarm journal entries"
        elif isinstance(obj, AlarmDefinition):
            if AlarmJournalEntry.objects.filter(alarm__definition=obj).exists():
                history = "alarm journal entries (set enabled: false to take it out of service)"
        elif isinstance(obj, ControlLoop) and obj.events.exists():
            history = "mode changes in its journal"
        if history:
            self.result.errors.append(f"{self.result.filename}: cannot remove {what}: it has "
                                      f"{history}, which are kept")  # fmt: skip
        return not history

    def _remove(self, obj: Model, what: str) -> None:
        try:
            with transaction.atomic():
                if isinstance(obj, AlarmDefinition):
                    do_drop_alarm_state(obj)  # its current state only
                obj.delete()
        except ProtectedError as error:
            users = ", ".join(sorted({str(o) for o in error.protected_objects})[:3])
            self.result.errors.append(f"{self.result.filename}: cannot remove {what}: "
                                      f"still used by {users}")  # fmt: skip
            return
        self._note("remove", what, None)

    # --- reporting ----------------------------------------------------------------------

    def _where(self, oee: OeeMachine) -> str:
        return f"{oee.machine.line.slug}/{oee.machine.slug}"

    def _ref(self, tag: Tag | None) -> str:
        if tag is None:
            return "none"
        return tag_ref(tag.machine.line.slug, tag.machine.slug, tag.key)

    def _note(self, action: str, what: str, entry: Entry | None, *fields: str) -> None:
        if what in self.changes:  # a tag's setpoint tag is set in a second pass
            if self.changes[what].action != "create":
                self.changes[what].fields += fields
            return
        line = self.line_of(entry.path) if entry is not None else None
        change = Change(action, what, line, list(fields))
        self.changes[what] = change
        self.result.changes.append(change)

    def _error(self, entry: Entry, field: str | None, message: str) -> None:
        path = (*entry.path, field) if field else entry.path
        self.result.errors.append(f"{self.result.filename}:{self.line_of(path)}: {message}")


def _show(value: Any) -> str:
    if isinstance(value, Model):
        return str(value.pk)
    return repr(value)
