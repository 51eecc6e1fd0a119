"""The plant's models, one module per concept."""

from plant.models.alarms import Alarm, AlarmDefinition, AlarmJournalEntry, EmergencyAction
from plant.models.assets import Line, Machine, Plant, Tag
from plant.models.broker import DeviceIdentity
from plant.models.config_history import ConfigChange
from plant.models.discovery import DiscoveredSignal
from plant.models.health import SystemAlarm, WorkerHeartbeat
from plant.models.history import (
    LatestValue,
    RejectedMessage,
    RejectionTally,
    Sample,
    UnknownTopic,
)
from plant.models.neuron import NeuronDevice, NeuronGateway, NeuronTag
from plant.models.rollups import HourRollup, MinuteRollup, PendingRollup
from plant.models.security_log import SecurityEvent
from plant.models.setpoints import ControlLoop, ControlLoopEvent, SetpointWrite
from plant.models.sparkplug import (
    SparkplugGroup,
    SparkplugMetric,
    SparkplugNode,
    SparkplugPendingBirth,
)
from plant.models.tokens import ApiToken
from plant.quality import Quality

__all__ = [
    "Alarm",
    "AlarmDefinition",
    "AlarmJournalEntry",
    "ApiToken",
    "ConfigChange",
    "ControlLoop",
    "ControlLoopEvent",
    "DeviceIdentity",
    "DiscoveredSignal",
    "EmergencyAction",
    "HourRollup",
    "LatestValue",
    "Line",
    "Machine",
    "MinuteRollup",
    "NeuronDevice",
    "NeuronGateway",
    "NeuronTag",
    "PendingRollup",
    "Plant",
    "Quality",
    "RejectedMessage",
    "RejectionTally",
    "Sample",
    "SecurityEvent",
    "SetpointWrite",
    "SparkplugGroup",
    "SparkplugMetric",
    "SparkplugNode",
    "SparkplugPendingBirth",
    "SystemAlarm",
    "Tag",
    "UnknownTopic",
    "WorkerHeartbeat",
]
