"""Mosquitto's password and ACL files, and its configuration, as pure text (no Django, no I/O).

Who may connect to the broker and what each identity may publish or receive is decided here,
from plain data: plant.broker_access gathers that data from the settings and the database and
writes the files; tests check every function with hypothesis and the real broker.

- `hash_password` makes Mosquitto 2's `$7$` entries: PBKDF2-HMAC-SHA512 with a 12-byte salt,
  written `$7$<iterations>$<base64 salt>$<base64 hash>`, as `mosquitto_passwd` does.
- `acl_text` writes `topic read|write` lines per `user`, and one anonymous section that lets
  an anonymous client read `$SYS` only (the broker's localhost health listener; the plant
  listeners refuse anonymous clients altogether). Every grant is an exact topic or a topic
  filter the broker matches; nothing else is allowed (Mosquitto denies what no line grants).
- `adapt_conf` rewrites the shipped configuration's listeners and paths for another place
  (`manage.py run`, the tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

HASH_ITERATIONS = 1000  # mosquitto_passwd uses 101; the broker reads the count from the entry
SALT_BYTES = 12
# A user name the files can hold: no ':' (passwd's separator), no space or line break (acl).
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HASH_RE = re.compile(r"^\$7\$(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$")
SPARKPLUG = "spBv1.0"
# Control characters (MQTT says topics should hold none) and whatever a reader takes for a line end.
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ANONYMOUS_READS = ("$SYS/#",)
Grants = tuple[tuple[str, ...], tuple[str, ...]]  # the topics an identity writes, and reads


class AuthFileError(ValueError):
    """A name, topic or hash the broker's files cannot hold; the message says which and why."""


def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = HASH_ITERATIONS) -> str:  # fmt: skip
    """The `$7$` entry Mosquitto 2 verifies `password` against."""
    if not password:
        raise AuthFileError("an empty password lets anyone in: give the identity one")
    if iterations < 1:
        raise AuthFileError("PBKDF2 needs at least one iteration")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, entry: str) -> bool:
    """True if `entry` (a `$7$` hash) is the hash of `password`; False for any other entry."""
    match = HASH_RE.match(entry)
    if not match or not password:
        return False
    iterations = int(match[1])
    if not 0 < iterations <= 10_000_000:
        return False
    salt, expected = base64.b64decode(match[2]), base64.b64decode(match[3])
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)


def check_username(username: str) -> str:
    if not USERNAME_RE.match(username):
        raise AuthFileError(
            f"{username[:80]!r} cannot be a broker user name: 1 to 64 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit"
        )
    return username


def check_filter(topic: str) -> str:
    """A topic or topic filter an ACL line may hold: the MQTT rules for wildcards, one line."""
    if not topic or len(topic.encode()) > 65535 or CONTROL_RE.search(topic):
        raise AuthFileError(f"{topic[:80]!r} is not a topic an ACL line can hold")
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise AuthFileError(f"{topic[:80]!r}: '#' only as the whole last level")
        if "+" in level and level != "+":
            raise AuthFileError(f"{topic[:80]!r}: '+' only as a whole level")
    if topic != topic.strip():
        raise AuthFileError(f"{topic[:80]!r}: leading or trailing spaces would be lost")
    return topic


@dataclass(frozen=True)
class Identity:
    """One broker login: its name, its `$7$` hash and the topics it may publish and receive."""

    username: str
    password_hash: str
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    comment: str = ""

    def __post_init__(self) -> None:
        check_username(self.username)
        if not HASH_RE.match(self.password_hash):
            raise AuthFileError(f"{self.username}: the password hash is not a $7$ entry")
        for topic in (*self.write, *self.read):
            check_filter(topic)
        if CONTROL_RE.search(self.comment):
            raise AuthFileError(f"{self.username}: a comment is one line")


def check_unique(identities: Iterable[Identity]) -> list[Identity]:
    identities = list(identities)
    seen: set[str] = set()
    for identity in identities:
        if identity.username in seen:
            raise AuthFileError(f"two identities are called {identity.username!r}")
        seen.add(identity.username)
    return identities


def passwd_text(identities: Iterable[Identity]) -> str:
    """Mosquitto's password_file: `user:$7$…` per line, sorted by name."""
    rows = sorted(check_unique(identities), key=lambda i: i.username)
    return "".join(f"{i.username}:{i.password_hash}\n" for i in rows)


def acl_text(identities: Iterable[Identity], *, header: str = "") -> str:
    """Mosquitto's acl_file: the anonymous section first, then each identity's grants.

    A topic both read and written is one `readwrite` line. The lines of a user are sorted, so
    the same rights make the same file (the broker is reloaded only when it changes).
    """
    rows = sorted(check_unique(identities), key=lambda i: i.username)
    out = [f"# {line}".rstrip() + "\n" for line in header.splitlines()]
    out.append("# Anonymous clients (the localhost health listener only): $SYS, read.\n")
    out += [f"topic read {topic}\n" for topic in ANONYMOUS_READS]
    for identity in rows:
        out.append("\n")
        if identity.comment:
            out.append(f"# {identity.comment}\n")
        out.append(f"user {identity.username}\n")
        access: dict[str, set[str]] = {}
        for topic in identity.write:
            access.setdefault(topic, set()).add("write")
        for topic in identity.read:
            access.setdefault(topic, set()).add("read")
        for topic in sorted(access):
            kind = "readwrite" if len(access[topic]) == 2 else next(iter(access[topic]))
            out.append(f"topic {kind} {topic}\n")
    return "".join(out)


# --- the grants of each kind of identity ---------------------------------------------------


def set_topic(tag_topic: str) -> str:
    return f"{tag_topic}/set"


def device_grants(telemetry: Iterable[str], writable: Iterable[str]) -> Grants:
    """A device publishes its own telemetry topics (its tags', its machines' batch topics) and
    receives the writes to its own writable tags; nothing else."""
    return tuple(sorted(set(telemetry))), tuple(sorted({set_topic(t) for t in writable}))


def sparkplug_gateway_grants(group: str, node: str) -> Grants:
    """An edge node of Sparkplug B: its own births, deaths and data (node and devices), and
    the commands to it and the host application's STATE; never a command to anyone."""
    for name, value in (("group", group), ("edge node", node)):
        if not value or any(c in value for c in "/+#") or value != value.strip():
            raise AuthFileError(f"Sparkplug {name} {value[:40]!r}: one topic level, no wildcard")
    base = f"{SPARKPLUG}/{group}"
    write = tuple(f"{base}/{kind}/{node}" for kind in ("NBIRTH", "NDEATH", "NDATA")) + tuple(
        f"{base}/{kind}/{node}/+" for kind in ("DBIRTH", "DDEATH", "DDATA")
    )
    read = (f"{base}/NCMD/{node}", f"{base}/DCMD/{node}/+", f"{SPARKPLUG}/STATE/+")
    return write, read


def neuron_gateway_grants(
    app: str, nodes: Iterable[str] = (), *, write_request: str = "", write_response: str = "",
    status: str = "",
) -> Grants:  # fmt: skip
    """An EMQX Neuron north app (plant.neuron): the uploads of its south nodes (each node's
    /neuron/{app}/{node}/+, the nodes its driver status reports named), its write responses
    and driver status; it receives its write requests only. A node whose upload level would
    cover the app's own request topic ("write") gets no upload grant: a gateway never
    publishes a write request."""
    if not app or any(c in app for c in "/+#") or app != app.strip():
        raise AuthFileError(f"Neuron app {app[:40]!r}: one topic level, no wildcard")
    base = f"/neuron/{app}"
    request = write_request or f"{base}/write/req"
    own = {request, write_response or f"{base}/write/resp", status or f"{base}/state/update"}
    uploads = []
    for node in nodes:
        if not node or any(c in node for c in "/+#"):
            continue
        upload = f"{base}/{node}/+"
        if not any(_covers(upload, topic) for topic in (request,)):
            uploads.append(upload)
    write = (*sorted(uploads), *sorted(own - {request}))
    return write, (request,)


def _covers(pattern: str, topic: str) -> bool:
    """Whether the one-level wildcards of `pattern` match `topic`."""
    levels, parts = pattern.split("/"), topic.split("/")
    if len(levels) != len(parts):
        return False
    return all(a in ("+", b) for a, b in zip(levels, parts, strict=True))


def ingest_grants(
    topic_root: str, writable: Iterable[str], neuron_requests: Iterable[str] = ()
) -> Grants:
    """The product's worker and writer: it receives every message under the topic root, the
    broker's $SYS counters and Sparkplug; it alone publishes writes (`…/set`) to writable
    tags, Sparkplug commands and its host application's STATE, and Neuron gateways' write
    requests (`neuron_requests`); it receives their uploads, responses and status."""
    read = (f"{topic_root}#", "$SYS/#", f"{SPARKPLUG}/#", "/neuron/#")
    write = (
        *sorted({set_topic(t) for t in writable}),
        f"{SPARKPLUG}/STATE/+",
        f"{SPARKPLUG}/+/NCMD/+",
        f"{SPARKPLUG}/+/DCMD/+/+",
        *sorted(set(neuron_requests)),
    )
    return write, read


# --- the broker's configuration ------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    """Where a shipped listener goes: its new port and address, and whether it keeps TLS."""

    port: int
    host: str = "127.0.0.1"
    tls: bool = True


TLS_OPTIONS = ("certfile", "keyfile", "cafile", "capath", "tls_version", "ciphers")
PATH_OPTIONS = (
    "password_file",
    "acl_file",
    "certfile",
    "keyfile",
    "cafile",
    "persistence_location",
)


def adapt_conf(shipped: str, listeners: Mapping[int, Listener | None],
               paths: Mapping[str, str], *, head: str = "",
               log_file: str | None = None) -> str:  # fmt: skip
    """The shipped configuration with each `listener <port>` block moved (or dropped: None)
    and the named path options (`password_file`, `certfile`, …) pointing elsewhere.

    The shipped `log_dest file …` line (compose's broker-access follows that file) names
    `log_file` instead, or is dropped when it is None: `manage.py run` reads the broker's
    output, and a file nobody follows or rotates would only grow.

    A block runs from its `listener` line to the next one or the end: the shipped file puts
    every global option before its listeners. A listener moved without TLS loses its TLS lines.
    Every shipped listener must be named, and every path option given must be found.
    """
    out, block, found = [], None, set()
    shipped_ports = []
    for line in shipped.splitlines():
        words = line.split()
        option = words[0] if words and not line.startswith("#") else ""
        if option == "listener":
            port = int(words[1])
            shipped_ports.append(port)
            if port not in listeners:
                raise AuthFileError(f"the shipped listener {port} is not named")
            block = listeners[port]
            if block is not None:
                out.append(f"listener {block.port} {block.host}")
            continue
        if shipped_ports and block is None:
            continue  # a dropped listener's lines
        if block is not None and not block.tls and option in TLS_OPTIONS:
            continue
        if option == "log_dest" and words[1:2] == ["file"]:
            found.add("log_dest file")
            if log_file is not None:
                out.append(f"log_dest file {log_file}")
            continue
        if option in paths:
            found.add(option)
            suffix = "/" if option == "persistence_location" else ""
            out.append(f"{option} {paths[option].rstrip('/')}{suffix}")
            continue
        out.append(line)
    missing = set(listeners) - set(shipped_ports)
    if missing:
        raise AuthFileError(f"no shipped listener {', '.join(map(str, sorted(missing)))}")
    if set(paths) - found:
        raise AuthFileError(f"no {', '.join(sorted(set(paths) - found))} line to adapt")
    if log_file is not None and "log_dest file" not in found:
        raise AuthFileError("no log_dest file line to adapt")
    return head + "\n".join(out) + "\n"


# --- what the broker logs about refused clients ---------------------------------------------

REFUSED_RE = re.compile(
    r"Client (?P<client>\S+) (?:\[(?P<address>[^\]]+)\] )?disconnected, not authori[sz]ed\."
)
DENIED_RE = re.compile(r"Denied PUBLISH from (?P<client>\S+) \(.*?'(?P<topic>[^']*)'")


@dataclass(frozen=True)
class BrokerRefusal:
    """One refusal the broker logged: a login (bad or unknown name or password) or a publish."""

    kind: str  # "login" or "publish"
    client_id: str
    topic: str = ""


def parse_refusal(line: str) -> BrokerRefusal | None:
    """The refusal a line of Mosquitto's log reports, or None (most lines report none).

    Logins are logged at the notice level ("Client … disconnected, not authorised."); a
    refused publish only at the debug level ("Denied PUBLISH from …").
    """
    if match := REFUSED_RE.search(line):
        return BrokerRefusal("login", match["client"])
    if match := DENIED_RE.search(line):
        return BrokerRefusal("publish", match["client"], match["topic"])
    return None
