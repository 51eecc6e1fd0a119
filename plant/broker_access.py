"""The broker's logins and rights, from the settings and the database, written as Mosquitto's files.

Three kinds of identity (their rights: plant.mosquitto_auth):
- **ingest** (the user name of MQTT_URL, its password MQTT_PASSWORD): the worker and the
  setpoint writer. It receives everything under MQTT_TOPIC_ROOT, `$SYS` and Sparkplug, and is
  the only identity that publishes writes (`<tag topic>/set`, only of writable tags) and
  Sparkplug commands.
- **the simulator** (SIMULATOR_MQTT_URL, SIMULATOR_MQTT_PASSWORD), when set: a device of the
  demo plant, with a device's rights on the demo plant's topics, and its control topics
  `<MQTT_TOPIC_ROOT>_sim/#`; and, for `simulate --protocol sparkplug`, an edge node's rights
  for each line of the demo plant (group: the plant's slug, edge node: the line's slug); for
  `--protocol neuron`, the Neuron north app named after the plant's slug, each machine a node.
- **each enabled DeviceIdentity**: its own tags' telemetry and its own writable tags' `…/set`;
  as a Neuron north app (`neuron_app`), its south nodes' uploads, its write responses and
  driver status, and it receives its write requests (plant.mosquitto_auth.neuron_gateway_grants).

Grants name tags one by one (a device's prefix holds no wildcard that would let it publish a
`…/set`), so a new tag changes the files: `manage.py run` rewrites them every few seconds and
reloads its broker (SIGHUP) when they changed; compose's broker does the same.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import QuerySet

from plant.demo import PLANT_SLUG
from plant.models import DeviceIdentity, Line, Machine, NeuronGateway, Tag
from plant.mosquitto_auth import (
    AuthFileError,
    Grants,
    Identity,
    acl_text,
    check_password,
    device_grants,
    hash_password,
    ingest_grants,
    neuron_gateway_grants,
    passwd_text,
    sparkplug_gateway_grants,
)

log = logging.getLogger(__name__)

PASSWD, ACL = "passwd", "acl"
SIMULATOR_CONTROL = "_sim/#"  # ingest.sim.faults' fault topics, under the topic root


@dataclass(frozen=True)
class Login:
    username: str
    password: str


def login_of(url: str, setting: str) -> Login | None:
    """The user name and password in a broker URL; None without a user name."""
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.username:
        return None
    if not parts.password:
        raise ImproperlyConfigured(
            f"{setting} names the broker user {unquote(parts.username)!r} without a password: "
            f"set {setting.removesuffix('_URL')}_PASSWORD_FILE (or _PASSWORD)"
        )
    return Login(unquote(parts.username), unquote(parts.password))


def read_passwd(path: Path) -> dict[str, str]:
    """The entries of an existing password file (user → hash); none if there is no file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    entries = {}
    for line in text.splitlines():
        user, colon, entry = line.partition(":")
        if colon:
            entries[user] = entry
    return entries


def hashed(login: Login, existing: dict[str, str]) -> str:
    """The login's hash: the one already written if it still verifies (the same files then),
    else a new one with a new salt (a changed password)."""
    old = existing.get(login.username, "")
    return old if check_password(login.password, old) else hash_password(login.password)


def device_tags() -> QuerySet[Tag]:
    """The tags devices publish: all but the derived ones, which the worker computes."""
    return Tag.objects.filter(derived__isnull=True)


def plant_tags(slug: str) -> list[tuple[str, bool]]:
    return list(
        device_tags().filter(machine__line__plant__slug=slug).values_list("topic", "writable")
    )


class TopicIndex:
    """A plant's tags by every topic prefix they lie under, read once per pass: each device's
    tags are then one lookup, not a scan of the plant (500 devices over 10,000 tags)."""

    def __init__(self) -> None:
        self.plants: dict[int, dict[str, list[tuple[str, bool]]]] = {}

    def under(self, plant_id: int, prefix: str) -> list[tuple[str, bool]]:
        if plant_id not in self.plants:
            index: dict[str, list[tuple[str, bool]]] = {}
            rows = device_tags().filter(machine__line__plant_id=plant_id)
            for topic, writable in rows.values_list("topic", "writable"):
                levels = topic.split("/")
                for depth in range(1, len(levels) + 1):
                    index.setdefault("/".join(levels[:depth]), []).append((topic, writable))
            self.plants[plant_id] = index
        return self.plants[plant_id].get(prefix, [])


def under(topic: str, prefix: str) -> bool:
    return topic == prefix or topic.startswith(prefix + "/")


def telemetry_of(
    tags: list[tuple[str, bool]], prefix: str | None = None
) -> tuple[list[str], list[str]]:
    """The topics a device owning `tags` publishes (theirs, and their machines' batch topics,
    the parent of a tag's topic) and the writable ones among them."""
    owned = [(t, w) for t, w in tags if prefix is None or under(t, prefix)]
    batches = {t.rpartition("/")[0] for t, _ in owned}
    batches = {b for b in batches if b and (prefix is None or under(b, prefix))}
    return [t for t, _ in owned] + sorted(batches), [t for t, w in owned if w]


def identities(
    existing: dict[str, str] | None = None, *, with_database: bool = True
) -> tuple[list[Identity], list[str]]:
    """Every identity the broker should know, and a warning for each device left out.

    Without the database (before `manage.py run` has migrated it) only the product's own
    logins, with no tag's topics: ingest reads, nobody writes to a tag.
    """
    existing = existing or {}
    root = settings.MQTT_TOPIC_ROOT
    ingest = login_of(settings.MQTT_URL, "MQTT_URL")
    if ingest is None:
        raise ImproperlyConfigured(
            "MQTT_URL has no user name: the product's worker logs in as that user, e.g. "
            "MQTT_URL=mqtts://ingest@broker:8883 with MQTT_PASSWORD_FILE"
        )
    writable = Tag.objects.filter(writable=True).values_list("topic", flat=True)
    # A queryset is lazy, this list is not: read the gateways only when the database is there.
    requests = (
        [g.topic("write_request") for g in NeuronGateway.objects.all()] if with_database else []
    )
    write, read = ingest_grants(root, writable if with_database else [], requests)
    result = [Identity(ingest.username, hashed(ingest, existing), write, read,
                       "the product: ingest worker and setpoint writer")]  # fmt: skip
    taken = {ingest.username}
    simulator = login_of(settings.SIMULATOR_MQTT_URL, "SIMULATOR_MQTT_URL")
    if simulator is not None and simulator.username not in taken:
        telemetry, own_writable = telemetry_of(plant_tags(PLANT_SLUG) if with_database else [])
        write, read = device_grants(telemetry, own_writable)
        control = f"{root}{SIMULATOR_CONTROL}"
        sp_write, sp_read = simulator_sparkplug_grants(with_database)
        ne_write, ne_read = simulator_neuron_grants(with_database)
        result.append(Identity(simulator.username, hashed(simulator, existing),
                               (*write, *sp_write, *ne_write, control),
                               (*read, *sp_read, *ne_read, control),
                               f"the simulated devices of plant {PLANT_SLUG}"))  # fmt: skip
        taken.add(simulator.username)
    warnings: list[str] = []
    if not with_database:
        return result, warnings
    devices = DeviceIdentity.objects.filter(enabled=True).select_related("plant")
    topics = TopicIndex()
    for device in devices.order_by("username"):
        if device.username in taken:
            warnings.append(f"device identity {device.username!r} left out: the product's name")
            continue
        try:
            result.append(device_identity(device, topics))
        except AuthFileError as error:
            warnings.append(f"device identity {device.username!r} left out: {error}")
            continue
        taken.add(device.username)
    return result, warnings


def simulator_sparkplug_grants(with_database: bool) -> Grants:
    """The demo plant's lines as Sparkplug edge nodes of group PLANT_SLUG (ingest.sim's
    sparkplug_device): each line's births, deaths and data, its NCMD/DCMD, and STATE."""
    slugs = Line.objects.filter(plant__slug=PLANT_SLUG) if with_database else Line.objects.none()
    write: list[str] = []
    read: set[str] = set()
    for slug in slugs.order_by("slug").values_list("slug", flat=True):
        try:
            line_write, line_read = sparkplug_gateway_grants(PLANT_SLUG, slug)
        except AuthFileError as error:  # a line slug is a slug: only an odd PLANT_SLUG
            log.warning("the simulator gets no Sparkplug rights for line %r: %s", slug, error)
            continue
        write.extend(line_write)
        read.update(line_read)
    return tuple(write), tuple(sorted(read))


def simulator_neuron_grants(with_database: bool) -> Grants:
    """The demo plant as the Neuron north app PLANT_SLUG (ingest.sim's neuron_device): each
    machine a south node's uploads, the app's write responses and status; its write requests."""
    machines = (
        Machine.objects.filter(line__plant__slug=PLANT_SLUG).order_by("slug")
        if with_database
        else Machine.objects.none()
    )
    return neuron_gateway_grants(PLANT_SLUG, machines.values_list("slug", flat=True))


def device_identity(device: DeviceIdentity, topics: TopicIndex | None = None) -> Identity:
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    if device.topic_prefix:
        tags = (topics or TopicIndex()).under(device.plant_id, device.topic_prefix)
        telemetry, own_writable = telemetry_of(tags, device.topic_prefix)
        write, read = device_grants(telemetry, own_writable)
    if device.sparkplug_group:
        sp_write, sp_read = sparkplug_gateway_grants(device.sparkplug_group, device.sparkplug_node)
        write, read = (*write, *sp_write), (*read, *sp_read)
    if device.neuron_app:
        ne_write, ne_read = neuron_identity_grants(device.neuron_app)
        write, read = (*write, *ne_write), (*read, *ne_read)
    owns = device.topic_prefix or ("Sparkplug" if device.sparkplug_group else "Neuron")
    comment = f"device of plant {device.plant.slug}: {owns}"
    return Identity(device.username, device.password_hash, write, read, comment)


def neuron_identity_grants(app: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A Neuron north app's grants: the south nodes its gateway's status reports named."""
    gateway = NeuronGateway.objects.filter(app=app).first()
    if gateway is None:
        return neuron_gateway_grants(app)
    nodes = gateway.devices.values_list("node", flat=True)
    return neuron_gateway_grants(
        app, nodes, write_request=gateway.write_request_topic,
        write_response=gateway.write_response_topic, status=gateway.status_topic,
    )  # fmt: skip


def write_file(path: Path, text: str, owner: str | None = None) -> bool:
    """Replace `path` by `text` atomically, mode 0600; False if it already held exactly that."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    fd, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if owner:
            shutil.chown(scratch, owner)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return True


# What the files are made from, summed up by PostgreSQL in one pass over the rows: a pass whose
# summary is that of the last one writes nothing and builds nothing (10,000 tags: milliseconds
# instead of half a second of Python every few seconds).
SIGNATURE_SQL = """
SELECT (SELECT md5(coalesce(string_agg(concat_ws('|', t.id, t.topic, t.writable, l.plant_id),
                                       ',' ORDER BY t.id), ''))
        FROM plant_tag t JOIN plant_machine m ON m.id = t.machine_id
        JOIN plant_line l ON l.id = m.line_id),
       (SELECT md5(coalesce(string_agg(concat_ws('|', d.id, d.username, d.password_hash,
                                                 d.topic_prefix, d.sparkplug_group,
                                                 d.sparkplug_node, d.neuron_app, d.enabled,
                                                 d.plant_id, p.slug),
                                       ',' ORDER BY d.id), ''))
        FROM plant_deviceidentity d JOIN plant_plant p ON p.id = d.plant_id),
       (SELECT md5(coalesce(string_agg(concat_ws('|', id, slug), ',' ORDER BY id), ''))
        FROM plant_plant),
       (SELECT md5(coalesce(string_agg(concat_ws('|', g.id, g.app, g.write_request_topic,
                                                 g.write_response_topic, g.status_topic, d.node),
                                       ',' ORDER BY g.id, d.node), ''))
        FROM plant_neurongateway g LEFT JOIN plant_neurondevice d ON d.gateway_id = g.id)
"""
_written: dict[Path, tuple[object, ...]] = {}  # folder → the signature its files were made from


def signature(with_database: bool) -> tuple[object, ...]:
    rows: tuple[object, ...] = ()
    if with_database:
        with connection.cursor() as cursor:
            cursor.execute(SIGNATURE_SQL)
            rows = tuple(cursor.fetchone())
    return (settings.MQTT_URL, settings.SIMULATOR_MQTT_URL, settings.MQTT_TOPIC_ROOT,
            with_database, *rows)  # fmt: skip


def write_broker_files(
    folder: Path, *, owner: str | None = None, with_database: bool = True
) -> tuple[bool, list[str]]:
    """Write `passwd` and `acl` into `folder`; whether either changed, and the warnings.

    `owner` (a user name) is for a broker started as root, which reads them as that user.
    """
    folder.mkdir(parents=True, exist_ok=True)
    made_from = signature(with_database)
    files = [folder / PASSWD, folder / ACL]
    if _written.get(folder) == made_from and all(path.exists() for path in files):
        return False, []
    found, warnings = identities(read_passwd(folder / PASSWD), with_database=with_database)
    header = (
        "Written by `manage.py broker_access`; edits are overwritten. See plant/broker_access.py."
    )
    changed = write_file(folder / PASSWD, passwd_text(found), owner)
    changed |= write_file(folder / ACL, acl_text(found, header=header), owner)
    _written[folder] = made_from
    return changed, warnings
