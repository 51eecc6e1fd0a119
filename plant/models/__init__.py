"""The plant's models, one module per concept."""

from plant.models.assets import Line, Machine, Plant, Tag
from plant.models.history import LatestValue, Quality, RejectedMessage, Sample, UnknownTopic

__all__ = [
    "LatestValue",
    "Line",
    "Machine",
    "Plant",
    "Quality",
    "RejectedMessage",
    "Sample",
    "Tag",
    "UnknownTopic",
]
