"""Single sign-on: what the identity provider's groups grant in the HMI (pure, no Django).

An admin maps the provider's group names to a role and to plants (plant.models.sso). At every
sign-in the user's groups are read again, so the grant follows the provider: someone moved to
another group has the other role from their next sign-in on. Roles include the roles before
them (plant.roles), so several mapped groups give the highest of their roles, and the plants
of all of them. A sign-in whose groups grant no role, or no plant, is refused: a person the
plant's provider knows is not thereby an operator of this plant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ROLE_ORDER = ("viewer", "operator", "supervisor", "admin")  # plant.roles.ROLES, lowest first


@dataclass(frozen=True)
class Mapping:
    """One admin-made rule: members of `group` get `role` (may be empty) in `plant_ids`."""

    group: str
    role: str
    plant_ids: frozenset[int]


@dataclass(frozen=True)
class Grant:
    """What a sign-in gives: one role (or none) and the plants it holds in."""

    role: str | None
    plant_ids: frozenset[int]

    @property
    def refused(self) -> bool:
        return self.role is None or not self.plant_ids


def group_names(claim: object) -> list[str]:
    """The groups of a claim as the providers send them: a list of names, or one name.

    Keycloak sends full paths ("/plant/operators") when told to; both spellings are kept so a
    mapping may use either. Anything that is not text is ignored, never guessed at.
    """
    if isinstance(claim, str):
        items: list[object] = [claim]
    elif isinstance(claim, list | tuple):
        items = list(claim)
    else:
        return []
    names: list[str] = []
    for item in items:
        if isinstance(item, str) and item.strip():
            name = item.strip()
            names.append(name)
            if name.startswith("/") and name.strip("/"):
                names.append(name.rsplit("/", 1)[-1])
    return names


def resolve(groups: Iterable[str], mappings: Iterable[Mapping]) -> Grant:
    """The grant of a user in these groups: the highest mapped role, the union of the plants."""
    member_of = {name.casefold() for name in groups}
    rank = -1
    plants: set[int] = set()
    for mapping in mappings:
        if mapping.group.casefold() not in member_of:
            continue
        plants |= mapping.plant_ids
        if mapping.role in ROLE_ORDER:
            rank = max(rank, ROLE_ORDER.index(mapping.role))
    return Grant(ROLE_ORDER[rank] if rank >= 0 else None, frozenset(plants))
