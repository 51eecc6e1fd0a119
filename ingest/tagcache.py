"""Topic → tag resolution, held in memory and refreshed when an admin changes the tag table."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

# One cheap query tells whether anything the worker relies on has changed.
FINGERPRINT_SQL = """
    SELECT md5(coalesce(string_agg(
        concat_ws('|', t.id, t.topic, t.key, t.data_type, t.deadband, t.heartbeat_s,
                  t.machine_id, m.slug, l.slug, p.slug, d.id),
        ',' ORDER BY t.id), ''))
    FROM plant_tag t JOIN plant_machine m ON m.id = t.machine_id
    JOIN plant_line l ON l.id = m.line_id JOIN plant_plant p ON p.id = l.plant_id
    LEFT JOIN plant_derivedtag d ON d.tag_id = t.id
"""
LOAD_SQL = """
    SELECT t.id, t.topic, t.key, t.data_type, t.deadband, t.heartbeat_s,
           t.machine_id, m.line_id, l.plant_id, d.id IS NOT NULL
    FROM plant_tag t JOIN plant_machine m ON m.id = t.machine_id
    JOIN plant_line l ON l.id = m.line_id
    LEFT JOIN plant_derivedtag d ON d.tag_id = t.id
"""


@dataclass(frozen=True, slots=True)
class TagInfo:
    """What the worker needs to know of a tag, read once per refresh."""

    id: int
    topic: str
    key: str
    data_type: str
    deadband: float
    heartbeat_s: int
    machine_id: int
    line_id: int
    plant_id: int
    derived: bool = False  # computed by the worker (plant.derived): no device may publish it


class TagCache:
    """Maps tag topics to tags and machine topics (`<tag topic>` minus its last level) to
    their tags by key, for the batched gateway messages.

    Derived tags (plant.derived) are known by id, for the live push and the derived jobs, but
    not by topic: a message on a derived tag's topic is refused (`derived_topics`).
    """

    def __init__(self) -> None:
        self.by_topic: dict[str, TagInfo] = {}
        self.by_machine_topic: dict[str, dict[str, TagInfo]] = {}
        self.by_id: dict[int, TagInfo] = {}
        self.derived_topics: dict[str, TagInfo] = {}
        self.fingerprint = ""

    def refresh(self) -> bool:
        """Reload if the tag table changed; return True when it did."""
        with connection.cursor() as cursor:
            cursor.execute(FINGERPRINT_SQL)
            (fingerprint,) = cursor.fetchone()
            if fingerprint == self.fingerprint:
                return False
            cursor.execute(LOAD_SQL)
            tags = [TagInfo(*row) for row in cursor.fetchall()]
        self.by_id = {tag.id: tag for tag in tags}
        self.derived_topics = {tag.topic: tag for tag in tags if tag.derived}
        tags = [tag for tag in tags if not tag.derived]
        self.by_topic = {tag.topic: tag for tag in tags}
        machines: dict[str, dict[str, TagInfo]] = {}
        for tag in tags:
            machine_topic, _, _ = tag.topic.rpartition("/")
            machines.setdefault(machine_topic, {})[tag.key] = tag
        self.by_machine_topic = machines
        self.fingerprint = fingerprint
        return True
