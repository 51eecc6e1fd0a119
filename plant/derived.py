"""Derived tags: tags whose values the ingest worker computes, not a device.

Analytics that run inside the worker (SPC run rules, energy demand, vibration trends) write
their results as ordinary tag values (ingest.derived stores them through the same path as MQTT
samples), so the historian, the live screens and the alarm engine need nothing new: an alarm
on a result is an ordinary AlarmDefinition on its tag, as a Sparkplug node's comm-loss alarm
is a digital alarm on its status tag (plant.sparkplug).

A derived tag sits on its source's machine, named after the source (`fill_level_spc_rule`), on
the topic such a tag would have; the worker refuses MQTT messages on it, so no device can
forge a result.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from plant.models import DerivedTag, Machine, Sample, Tag


@transaction.atomic
def ensure_derived_tag(
    machine: Machine, key: str, *, job: str, source: Tag | None = None, **fields: Any
) -> Tag:
    """The derived tag `key` of `machine`, written by `job`: created with `fields` if missing.

    An existing tag keeps what an admin configured (limits, description, precision); only its
    mark as derived is made sure of. A device's tag of that key is never taken over.
    """
    tag = Tag.objects.filter(machine=machine, key=key).first()
    if tag is None:
        # Beside its source (so under the same MQTT_TOPIC_ROOT), else the machine's own topic.
        prefix = source.topic.rpartition("/")[0] if source is not None else machine.topic
        topic = f"{prefix}/{key}"
        fields.setdefault("expected_interval_s", 120)
        tag = Tag(machine=machine, key=key, topic=topic, **fields)
        tag.full_clean()
        tag.save()
    elif not is_derived(tag) and Sample.objects.filter(tag=tag).exists():
        raise ValueError(f"{tag} already holds a device's values: not a derived tag")
    DerivedTag.objects.update_or_create(tag=tag, defaults={"job": job, "source": source})
    return tag


def is_derived(tag: Tag) -> bool:
    return DerivedTag.objects.filter(tag=tag).exists()
