"""The plant's models, one module per concept."""

from plant.models.alarms import Alarm, AlarmDefinition, AlarmJournalEntry, EmergencyAction
from plant.models.assets import Line, Machine, Plant, Tag
from plant.models.broker import DeviceIdentity
from plant.models.config_history import ConfigChange
from plant.models.derived import DerivedJob, DerivedTag
from plant.models.discovery import DiscoveredSignal
from plant.models.energy import EnergyMeter, PlantEnergy
from plant.models.health import SystemAlarm, WorkerHeartbeat
from plant.models.history import (
    LatestValue,
    RejectedMessage,
    RejectionTally,
    Sample,
    UnknownTopic,
)
from plant.models.neuron import NeuronDevice, NeuronGateway, NeuronTag
from plant.models.notifications import (
    NotificationAttempt,
    NotificationCursor,
    NotificationDelivery,
    NotificationRecipient,
    NotificationRoster,
)
from plant.models.oee import (
    MachineStop,
    MachineStopEntry,
    OeeMachine,
    OeeProduct,
    OeeState,
    StopReason,
)
from plant.models.preferences import UserPreference
from plant.models.reports import ShiftReport, ShiftReportCursor, ShiftReportSettings
from plant.models.rollups import HourRollup, MinuteRollup, PendingRollup
from plant.models.security_log import SecurityEvent
from plant.models.setpoints import ControlLoop, ControlLoopEvent, SetpointWrite
from plant.models.shifts import PlannedDowntime, Shift, ShiftBreak
from plant.models.sparkplug import (
    SparkplugGroup,
    SparkplugMetric,
    SparkplugNode,
    SparkplugPendingBirth,
)
from plant.models.spc_settings import SpcSettings
from plant.models.sso import SsoGroupMapping, SsoIdentity
from plant.models.tokens import ApiToken
from plant.models.vibration import VibrationMonitor
from plant.quality import Quality

__all__ = [
    "Alarm",
    "AlarmDefinition",
    "AlarmJournalEntry",
    "ApiToken",
    "ConfigChange",
    "ControlLoop",
    "ControlLoopEvent",
    "DerivedJob",
    "DerivedTag",
    "DeviceIdentity",
    "DiscoveredSignal",
    "EmergencyAction",
    "EnergyMeter",
    "HourRollup",
    "LatestValue",
    "Line",
    "Machine",
    "MachineStop",
    "MachineStopEntry",
    "MinuteRollup",
    "NeuronDevice",
    "NeuronGateway",
    "NeuronTag",
    "NotificationAttempt",
    "NotificationCursor",
    "NotificationDelivery",
    "NotificationRecipient",
    "NotificationRoster",
    "OeeMachine",
    "OeeProduct",
    "OeeState",
    "PendingRollup",
    "PlannedDowntime",
    "Plant",
    "PlantEnergy",
    "Quality",
    "RejectedMessage",
    "RejectionTally",
    "Sample",
    "SecurityEvent",
    "SetpointWrite",
    "Shift",
    "ShiftBreak",
    "ShiftReport",
    "ShiftReportCursor",
    "ShiftReportSettings",
    "SparkplugGroup",
    "SparkplugMetric",
    "SparkplugNode",
    "SparkplugPendingBirth",
    "SpcSettings",
    "SsoGroupMapping",
    "SsoIdentity",
    "StopReason",
    "SystemAlarm",
    "Tag",
    "UnknownTopic",
    "UserPreference",
    "VibrationMonitor",
    "WorkerHeartbeat",
]
