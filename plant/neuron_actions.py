"""The state changes a Neuron gateway's messages cause, each one door (plant.neuron)."""

from __future__ import annotations

from plant import neuron
from plant.models import SetpointWrite

OPEN = [SetpointWrite.State.PENDING, SetpointWrite.State.SENT]


def do_accept_neuron_write(write_id: int) -> bool:
    """The gateway answered the write request with error 0: it took the write. The write
    stays open until the next uploaded value confirms it."""
    return bool(
        SetpointWrite.objects.filter(pk=write_id, state__in=OPEN).update(
            detail="accepted by the Neuron gateway; awaiting its next upload"
        )
    )


def refusal_detail(error: int) -> str:
    return f"the Neuron gateway refused it: {neuron.error_name(error)}"
