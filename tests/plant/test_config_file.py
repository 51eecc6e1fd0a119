"""The plant's configuration as a file (plant.config_file): export, dry run, apply, prune."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from plant.config_file.exporter import export_text
from plant.config_file.importer import import_text
from plant.demo import load_demo_plant
from plant.models import (
    Alarm,
    AlarmDefinition,
    ConfigChange,
    ControlLoop,
    DerivedTag,
    EmergencyAction,
    Line,
    Machine,
    OeeMachine,
    OeeProduct,
    OeeState,
    Plant,
    Sample,
    SpcSettings,
    Tag,
    VibrationMonitor,
)

MODELS = [Plant, Line, Machine, Tag, AlarmDefinition, EmergencyAction, ControlLoop, ConfigChange]


def counts() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in MODELS}


def wipe(plant: Plant) -> None:
    """Remove the plant and everything of it, children first (alarms and loops protect tags)."""
    Alarm.objects.filter(definition__tag__machine__line__plant=plant).delete()
    AlarmDefinition.objects.filter(tag__machine__line__plant=plant).delete()
    ControlLoop.objects.filter(output_tag__machine__line__plant=plant).delete()
    EmergencyAction.objects.filter(line__plant=plant).delete()
    plant.delete()


def edit(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) >= count, f"{old!r} not in the export"
    return text.replace(old, new, count)


@pytest.mark.django_db
def test_demo_plant_exported_wiped_and_imported_exports_byte_for_byte(demo_plant: Plant) -> None:
    text = export_text(demo_plant)
    wipe(demo_plant)
    assert not Tag.objects.filter(topic__contains="/filling/").exists()
    result = import_text(text, filename="demo.yaml", apply=True)
    assert result.errors == []
    assert result.applied
    plant = Plant.objects.get(slug="bottling")
    tags = Tag.objects.filter(machine__line__plant=plant)
    rows = [Line.objects.filter(plant=plant), Machine.objects.filter(line__plant=plant), tags,
            AlarmDefinition.objects.filter(tag__in=tags), ControlLoop.objects.filter(
            output_tag__in=tags), EmergencyAction.objects.filter(line__plant=plant),
            VibrationMonitor.objects.filter(tag__in=tags),
            SpcSettings.objects.filter(tag__in=tags),
            OeeMachine.objects.filter(machine__line__plant=plant),
            OeeState.objects.filter(oee_machine__machine__line__plant=plant),
            OeeProduct.objects.filter(oee_machine__machine__line__plant=plant)]  # fmt: skip
    assert result.counts()["create"] == len(result.changes) == 1 + sum(q.count() for q in rows)
    assert all(c.fields == [] for c in result.changes)
    assert export_text(plant) == text
    # The analytics work as the admin's save makes them: the SPC's run-rule tags are derived
    # again (the worker's SPC job writes them), the vibration class owns its zone alarms.
    derived = DerivedTag.objects.filter(tag__in=tags, job="spc").values_list("tag__key", flat=True)
    assert sorted(derived) == ["fill_level_spc_rule", "fill_level_spc_rules"]
    zones = AlarmDefinition.objects.filter(tag__key="vibration_rms", tag__in=tags)
    assert sorted(zones.values_list("kind", "limit")) == [("h", 2.8), ("hh", 4.5)]


@pytest.mark.django_db
def test_an_unchanged_export_imports_as_no_change(demo_plant: Plant) -> None:
    before = counts()
    result = import_text(export_text(demo_plant), apply=True)
    assert (result.errors, result.changes, result.applied) == ([], [], True)
    assert counts() == before


@pytest.mark.django_db
def test_a_dry_run_reports_the_change_with_its_line_and_writes_nothing(demo_plant: Plant) -> None:
    text = edit(export_text(demo_plant), "range_max: 550.0", "range_max: 560.0")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "560.0" in row)
    before = counts()
    result = import_text(text, filename="plant.yaml")
    assert result.errors == []
    assert not result.applied
    assert result.lines() == [
        f"plant.yaml:{line - 6}: change tag filling/filler/fill_level: range_max 550.0 → 560.0"
    ]  # the line of the tag's entry; the field is six lines below its key
    assert counts() == before
    assert Tag.objects.get(machine__line__plant=demo_plant, key="fill_level").range_max == 550


@pytest.mark.django_db
def test_apply_changes_only_what_differs_and_records_who_changed_what(demo_plant: Plant) -> None:
    text = export_text(demo_plant)
    text = edit(text, "range_max: 550.0", "range_max: 560.0")
    text = edit(text, "message: Methane high\n", "message: Methane above 10 %LEL\n")
    admin = User.objects.create_superuser("root", password="pw")
    before = ConfigChange.objects.count()
    result = import_text(text, by=admin, apply=True)
    assert result.errors == []
    assert [c.what for c in result.changes] == [
        "tag filling/filler/fill_level", "alarm gas/detector/methane h",
    ]  # fmt: skip
    changes = list(ConfigChange.objects.order_by("id")[before:])
    assert [(c.model, c.actor, c.changes) for c in changes] == [
        ("plant.tag", "root", {"range_max": {"old": 550.0, "new": 560.0}}),
        ("plant.alarmdefinition", "root",
         {"message": {"old": "Methane high", "new": "Methane above 10 %LEL"}}),
    ]  # fmt: skip
    assert export_text(demo_plant) == text


MALFORMED = [
    ("not YAML", "lines:\n- slug: [unclosed\n", [r"<file>:\d+: not valid YAML"]),
    ("unknown field", ("      unit: ml\n", "      unit: ml\n      colour: red\n"),
     [r"<file>:(\d+): unknown field 'colour' of a tag"]),
    ("wrong type", ("precision: 1\n", "precision: one\n"),
     [r"<file>:(\d+): precision must be a whole number, not 'one'"]),
    ("missing tag", ("tag: gas/ventilation/fan", "tag: gas/ventilation/fun"),
     [r"<file>:(\d+): tag: no tag 'gas/ventilation/fun' in this file or plant"]),
    ("limits in wrong order", ("range_min: 450.0", "range_min: 600.0"),
     [r"<file>:(\d+): tag filling/filler/\w+: Must be above the range minimum\."]),
    ("a key twice", ("      unit: ml\n", "      unit: ml\n      unit: l\n"),
     [r"<file>:(\d+): 'unit' is given twice"]),
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("problem", "change", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_file_is_refused_with_its_lines_and_changes_nothing(
    demo_plant: Plant, problem: str, change: str | tuple[str, str], expected: list[str]
) -> None:
    text = export_text(demo_plant)
    text = change if isinstance(change, str) else edit(text, *change)
    before = counts()
    result = import_text(text, apply=True)
    assert not result.applied
    assert len(result.errors) == len(expected), result.errors
    for error, pattern in zip(result.errors, expected, strict=True):
        match = re.match(pattern, error)
        assert match, error
        if match.groups():  # the line named holds what is wrong
            row = text.splitlines()[int(match.group(1)) - 1]
            assert any(word in row for word in ("colour", "one", "fun", "unit", "range_max")), row
    assert counts() == before


@pytest.mark.django_db
def test_every_error_of_a_file_is_reported_not_only_the_first(demo_plant: Plant) -> None:
    text = export_text(demo_plant).replace("precision: 1\n", "precision: one\n")
    result = import_text(text)
    assert len(result.errors) == export_text(demo_plant).count("precision: 1\n") > 3


@pytest.mark.django_db
def test_what_the_file_no_longer_names_is_removed_only_with_prune(demo_plant: Plant) -> None:
    # The tank level: no analytics refer to it (the OEE counters' tags cannot be removed).
    text = export_text(demo_plant)
    entry = re.search(r"    - key: tank_level\n(      .*\n)+", text)
    assert entry
    text = text.replace(entry.group(0), "")
    dry = import_text(text, apply=True)
    assert [(c.action, c.what) for c in dry.changes] == [
        ("unlisted", "tag filling/filler/tank_level")
    ]
    assert Tag.objects.filter(key="tank_level").exists()
    pruned = import_text(text, apply=True, prune=True)
    assert [(c.action, c.what) for c in pruned.changes] == [
        ("remove", "tag filling/filler/tank_level")
    ]
    assert not Tag.objects.filter(key="tank_level").exists()
    assert export_text(demo_plant) == text


@pytest.mark.django_db
def test_prune_never_removes_a_tag_with_history(demo_plant: Plant) -> None:
    tag = Tag.objects.get(machine__line__plant=demo_plant, key="bottles_rejected")
    Sample.objects.create(tag=tag, time="2026-01-01T00:00:00Z", value=1.0)
    text = export_text(demo_plant)
    entry = re.search(r"    - key: bottles_rejected\n(      .*\n)+", text)
    assert entry
    result = import_text(text.replace(entry.group(0), ""), apply=True, prune=True)
    assert result.errors == [
        "<file>: cannot remove tag filling/filler/bottles_rejected: it has stored samples, "
        "which are kept"
    ]
    assert not result.applied
    assert Tag.objects.filter(pk=tag.pk).exists()


@pytest.fixture
def plant_admin(demo_plant: Plant) -> User:
    user = User.objects.create_user("plant-admin", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="admin"))
    demo_plant.members.add(user)
    return user


@pytest.mark.django_db
def test_a_plant_admin_imports_into_their_plant_only(
    demo_plant: Plant, plant_admin: User, topic_root: str
) -> None:
    other = load_demo_plant(topic_root=f"{topic_root}b/", slug="other")
    own = edit(export_text(demo_plant), "range_max: 550.0", "range_max: 560.0")
    assert import_text(own, by=plant_admin, apply=True).applied
    foreign = edit(export_text(other), "range_max: 550.0", "range_max: 560.0")
    before = counts()
    result = import_text(foreign, by=plant_admin, apply=True)
    assert result.errors == [
        "<file>:5: you administer no plant 'other': only a superuser imports a new plant, "
        "or another's"
    ]
    assert counts() == before


@pytest.mark.django_db
def test_a_plant_admin_gives_tags_topics_only_under_their_plant(
    demo_plant: Plant, plant_admin: User
) -> None:
    tag = Tag.objects.get(machine__line__plant=demo_plant, key="fill_level")
    text = edit(export_text(demo_plant), f"topic: {tag.topic}\n", "topic: elsewhere/fill\n")
    result = import_text(text, by=plant_admin, apply=True)
    assert len(result.errors) == 1
    assert "publishes under" in result.errors[0]
    assert Tag.objects.get(pk=tag.pk).topic == tag.topic


@pytest.mark.django_db
def test_the_command_exports_and_applies(demo_plant: Plant, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "plant.yaml"
    call_command("plant_config", "export", "bottling", "-o", str(path))
    path.write_text(edit(path.read_text(), "range_max: 550.0", "range_max: 560.0"))
    call_command("plant_config", "import", str(path))
    assert "Dry run: 0 to create, 1 to change" in capsys.readouterr().out
    call_command("plant_config", "import", str(path), "--apply")
    assert Tag.objects.get(machine__line__plant=demo_plant, key="fill_level").range_max == 560
    path.write_text(path.read_text().replace("precision: 1\n", "precision: x\n"))
    with pytest.raises(CommandError, match="errors: nothing changed"):
        call_command("plant_config", "import", str(path), "--apply")
    assert f"{path}:" in capsys.readouterr().err


@pytest.mark.django_db
def test_loops_and_emergency_actions_are_changed_and_checked_like_the_admin(
    demo_plant: Plant,
) -> None:
    text = edit(export_text(demo_plant), "kp: 0.05\n", "kp: 0.08\n")
    result = import_text(text, apply=True)
    line = text.splitlines().index("- output_tag: filling/filler/flow_rate_sp") + 1
    assert result.lines() == [
        f"<file>:{line}: change loop filling/filler/flow_rate_sp: kp 0.05 → 0.08"
    ]
    assert ControlLoop.objects.get(output_tag__machine__line__plant=demo_plant).kp == 0.08
    bad = edit(text, "  - tag: gas/ventilation/fan\n    value: 1.0\n",
               "  - tag: gas/ventilation/fan\n    value: 0.5\n")  # fmt: skip
    before = counts()
    result = import_text(bad, apply=True)
    assert len(result.errors) == 1
    assert "A switch is either on (1) or off (0)." in result.errors[0]
    assert counts() == before
    assert EmergencyAction.objects.get(tag__key="fan", line__plant=demo_plant).value == 1.0


@pytest.mark.django_db
def test_a_vibration_class_changed_in_the_file_moves_its_zone_alarms(demo_plant: Plant) -> None:
    text = export_text(demo_plant)
    changed = edit(text, "  machine_group: 2\n  foundation: rigid\n",
                   "  machine_group: 1\n  foundation: flexible\n")  # fmt: skip
    zones = AlarmDefinition.objects.filter(tag__key="vibration_rms").order_by("kind")
    dry = import_text(changed)
    assert dry.errors == [] and not dry.applied
    (change,) = [c for c in dry.changes if c.what.startswith("vibration monitor")]
    assert change.fields == ["machine_group 2 → 1", "foundation 'rigid' → 'flexible'"]
    assert list(zones.values_list("limit", flat=True)) == [2.8, 4.5]  # a dry run writes nothing
    assert import_text(changed, apply=True).applied
    # Group 1 on a flexible foundation: B/C 7.1, C/D 11.0 mm/s (ISO 10816-3).
    assert list(zones.values_list("kind", "limit")) == [("h", 7.1), ("hh", 11.0)]
    assert VibrationMonitor.objects.get(tag__key="vibration_rms").foundation == "flexible"
    assert "  machine_group: 1\n  foundation: flexible\n" in export_text(demo_plant)


@pytest.mark.django_db
def test_spc_settings_change_from_the_file_and_a_new_one_gets_its_run_rule_tags(
    demo_plant: Plant,
) -> None:
    text = export_text(demo_plant)
    changed = edit(text, "  subgroup_size: 5\n  rules:\n  - 1\n  - 2\n  - 3\n",
                   "  subgroup_size: 4\n  rules:\n  - 1\n  - 5\n")  # fmt: skip
    # A second SPC, on the tank level, which has none yet: the fill level's, copied.
    block = text[text.index("spc:\n") + len("spc:\n") : text.index("oee_machines:")]
    tank = block.replace("tag: filling/filler/fill_level", "tag: filling/filler/tank_level")
    changed = edit(changed, "spc:\n", "spc:\n" + tank)
    result = import_text(changed, apply=True)
    assert result.errors == [] and result.applied
    fill = SpcSettings.objects.get(tag__key="fill_level")
    assert (fill.subgroup_size, fill.rules) == (4, [1, 5])
    assert SpcSettings.objects.filter(tag__key="tank_level").exists()
    created = {c.what for c in result.changes if c.action == "create"}
    assert {"spc filling/filler/tank_level", "tag filling/filler/tank_level_spc_rule",
            "tag filling/filler/tank_level_spc_rules"} <= created  # fmt: skip
    derived = DerivedTag.objects.filter(job="spc", tag__key__startswith="tank_level")
    assert derived.count() == 2
    # Exported again, then imported: nothing left to do.
    again = import_text(export_text(demo_plant), apply=True)
    assert (again.errors, again.changes) == ([], [])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("  machine_group: 2\n", "  machine_group: 3\n", "vibration_rms: Value 3 is not a valid"),
        ("  foundation: rigid\n", "  foundation: wobbly\n", "'wobbly' is not a valid choice"),
        ("  rules:\n  - 1\n", "  rules:\n  - 9\n", "Value 9 is not a valid choice"),
        ("  rules:\n  - 1\n  - 2\n  - 3\n", "  rules: 1, 2\n", "rules must be a list of whole"),
        ("- tag: filling/filler/fill_level\n  lsl:", "- tag: filling/filler/nope\n  lsl:",
         "no tag 'filling/filler/nope' in this file or plant"),
        ("  lsl: 490.0\n", "  lsl: 520.0\n", ""),  # above the USL: the model refuses it
    ],
)  # fmt: skip
def test_bad_analytics_in_a_file_are_refused_with_their_line_and_change_nothing(
    demo_plant: Plant, old: str, new: str, says: str
) -> None:
    assert_refused(demo_plant, old, new, says)


@pytest.mark.django_db
def test_prune_removes_a_vibration_monitor_the_file_no_longer_names(demo_plant: Plant) -> None:
    text = export_text(demo_plant)
    start = text.index("vibration_monitors:\n")
    without = text[:start] + "vibration_monitors: []\n" + text[text.index("spc:\n") :]
    kept = import_text(without, apply=True)
    assert [c.action for c in kept.changes] == ["unlisted"]
    assert VibrationMonitor.objects.exists()
    pruned = import_text(without, apply=True, prune=True)
    assert pruned.errors == [] and pruned.applied
    assert [(c.action, c.what) for c in pruned.changes] == [
        ("remove", "vibration monitor utilities/pump/vibration_rms")
    ]
    assert not VibrationMonitor.objects.exists()


@pytest.mark.django_db
def test_an_oee_machines_state_map_and_products_change_from_the_file(demo_plant: Plant) -> None:
    text = export_text(demo_plant)
    assert "oee_machines:\n- machine: filling/filler\n  state_tag: filling/filler/state\n" in text
    changed = edit(text, "  - state: jammed\n    category: breakdown\n",
                   "  - state: jammed\n    category: blocked\n")  # fmt: skip
    changed = edit(changed, "  - state: slow\n    category: slow_running\n", "")
    changed = edit(changed, "  products: []\n",
                   "  products:\n  - product: 0.5l\n    ideal_cycle_s: 0.3\n"
                   "  - product: 1.0l\n    ideal_cycle_s: 0.5\n")  # fmt: skip
    dry = import_text(changed)
    assert dry.errors == []
    actions = {(c.action, c.what): c.fields for c in dry.changes}
    assert actions == {
        ("change", "oee state filling/filler 'jammed'"): ["category 'breakdown' → 'blocked'"],
        ("unlisted", "oee state filling/filler 'slow'"): ["not in the file; prune removes it"],
        ("create", "oee product filling/filler '0.5l'"): [],
        ("create", "oee product filling/filler '1.0l'"): [],
    }
    result = import_text(changed, apply=True, prune=True)
    assert result.errors == [] and result.applied
    oee = OeeMachine.objects.get(machine__line__plant=demo_plant)
    states = dict(oee.states.values_list("state", "category"))
    assert states["jammed"] == "blocked" and "slow" not in states
    assert dict(oee.products.values_list("product", "ideal_cycle_s")) == {"0.5l": 0.3, "1.0l": 0.5}
    assert export_text(demo_plant) == changed


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("    category: breakdown\n", "    category: coffee\n", "'coffee' is not a valid choice"),
        ("- machine: filling/filler\n", "- machine: filling/nope\n",
         "no machine 'filling/nope' in this file or plant"),
        ("  produced_tag: filling/filler/bottles_filled\n",
         "  produced_tag: filling/filler/nope\n", "no tag 'filling/filler/nope'"),
        ("  microstop_s: 120.0\n", "  microstop_s: -1.0\n", ""),  # the model refuses it
        ("  - state: jammed\n", "  - state: running\n", "oee_state 'running' is listed twice"),
    ],
)  # fmt: skip
def test_bad_oee_settings_are_refused_with_their_line_and_change_nothing(
    demo_plant: Plant, old: str, new: str, says: str
) -> None:
    assert_refused(demo_plant, old, new, says)


def assert_refused(plant: Plant, old: str, new: str, says: str) -> None:
    """The export with `old` made `new` is refused, each error with its line, saying `says`,
    and the plant is as it was."""
    before = export_text(plant)
    result = import_text(edit(before, old, new), filename="plant.yaml", apply=True)
    assert not result.applied
    assert result.errors, "the file was taken"
    assert all(re.match(r"plant\.yaml:\d+: ", e) for e in result.errors), result.errors
    assert says in " ".join(result.errors)
    assert export_text(plant) == before
