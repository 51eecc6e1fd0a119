"""EMQX Neuron gateways: the documented MQTT topics, payload shapes and error codes.

Everything here is what Neuron's MQTT north app documents; nothing is ours. Sources:
- Topics and payloads (upload tags-/values-format, write request/response, driver status):
  https://docs.emqx.com/en/neuron/v2.10/configuration/north-apps/mqtt/api.html
  (the same text as en_US/configuration/north-apps/mqtt/api.md in github.com/emqx/neuron-docs)
- Error codes: https://docs.emqx.com/en/neuron/latest/api/error-code.html

Since Neuron 2.4.0 the upload topic is set per group subscription, default
`/neuron/{node_name}/{driver_name}/{group_name}`; since 2.4.5 the write request and response
topics are parameters of the north app (the dashboard offers `/neuron/{node_name}/write/req`
and `.../write/resp`), and the driver status report goes to a parameter too (the doc's
default `/neuron/{random_str}/state/update`; we use the app's name where it says random_str).
Neuron's topics start with '/', so their first MQTT level is the empty string.

A gateway here is one Neuron MQTT north app, named `app` ({node_name} in Neuron's text);
a south node is Neuron's "driver" (one device link), a group a set of tags polled together.
"""

from __future__ import annotations

# Topic templates, filled with str.format(app=..., driver=..., group=...).
UPLOAD_TOPIC = "/neuron/{app}/{driver}/{group}"
WRITE_REQUEST_TOPIC = "/neuron/{app}/write/req"
WRITE_RESPONSE_TOPIC = "/neuron/{app}/write/resp"
STATUS_TOPIC = "/neuron/{app}/state/update"
# What the worker subscribes for every gateway on the default topics (one '+' per level).
UPLOAD_FILTER = "/neuron/{app}/+/+"

# Upload formats (the north app's "Upload Format" parameter); we detect them per message.
TAGS_FORMAT = "tags"  # {"timestamp", "node", "group", "tags": [{"name", "value" | "error"}]}
VALUES_FORMAT = "values"  # {"timestamp", "node", "group", "values": {...}, "errors": {...}}

# Driver status report: "link" of each south node (neu_node_link_state_e in Neuron's source).
LINK_DISCONNECTED = 0
LINK_CONNECTED = 1
LINK_STATES = {LINK_DISCONNECTED: "disconnected", LINK_CONNECTED: "connected"}
# "running" (neu_node_running_state_e): 1 init, 2 ready, 3 running, 4 stopped.
RUNNING_STATES = {1: "init", 2: "ready", 3: "running", 4: "stopped"}

# Write response "error": 0 is success, anything else a Neuron error code.
WRITE_OK = 0

# Neuron's error codes a tag, a write or a node may carry (the "plugin common" 3000 range
# and the others the documented examples show). Unknown codes keep their number.
ERROR_CODES: dict[int, str] = {
    2014: "node not allow map",  # the documented upload example's error
    3000: "plugin read failure",
    3001: "plugin write failure",
    3002: "plugin disconnected",
    3003: "plugin tag not allow read",
    3004: "plugin tag not allow write",
    3007: "plugin tag type mismatch",
    3008: "plugin tag value expired",
    3009: "plugin protocol decode failure",
    3010: "plugin not running",
    3011: "plugin tag not ready",
    3012: "plugin packet out of order",
    3013: "plugin name too long",
    3014: "plugin not found",
    3015: "plugin device not responding",
    3016: "plugin does not support template",
    3017: "plugin does not support write tags",
}


def error_name(code: int) -> str:
    """'3002 plugin disconnected', or 'Neuron error 12345' for a code the docs do not list."""
    name = ERROR_CODES.get(code)
    return f"{code} {name}" if name else f"Neuron error {code}"


def topics(app: str) -> dict[str, str]:
    """The documented default topics of the north app `app` (upload as a filter)."""
    return {
        "upload": UPLOAD_FILTER.format(app=app),
        "write_request": WRITE_REQUEST_TOPIC.format(app=app),
        "write_response": WRITE_RESPONSE_TOPIC.format(app=app),
        "status": STATUS_TOPIC.format(app=app),
    }


def refusal_detail(error: int) -> str:
    """A failed write's detail when the gateway answered with an error code."""
    return f"the Neuron gateway refused it: {error_name(error)}"
