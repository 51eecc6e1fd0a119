"""Single sign-on: the one door that creates a signed-in user and sets their role and plants."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from plant import sso
from plant.models import Plant, SsoGroupMapping, SsoIdentity
from plant.roles import ROLES


class SignInRefused(Exception):
    """A sign-in the HMI will not accept, with the reason a person can act on."""


@dataclass(frozen=True)
class Claims:
    """What the provider said about the person (from the ID token and the userinfo endpoint)."""

    issuer: str
    subject: str
    username: str
    email: str
    name: str
    groups: list[str]


def mappings() -> list[sso.Mapping]:
    rows = SsoGroupMapping.objects.prefetch_related("plants")
    return [sso.Mapping(m.group, m.role, frozenset(p.pk for p in m.plants.all())) for m in rows]


@transaction.atomic
def do_sso_sign_in(claims: Claims) -> User:
    """The user the provider's account stands for, with the role and plants its groups grant.

    First sign-in creates the user (no usable password: they only come in through the
    provider). Every sign-in sets the role and plant memberships from the groups again, so the
    provider stays the source of truth; an admin role also gives the Django admin (staff),
    never superuser. Raises SignInRefused when the groups grant nothing, or when the account
    would take over a local user of the same name.
    """
    grant = sso.resolve(claims.groups, mappings())
    if grant.refused:
        raise SignInRefused(
            f"{claims.username!r} signed in at the identity provider, but none of their groups "
            f"({', '.join(claims.groups) or 'none'}) gives a role in a plant here: ask an admin "
            "to map one of them (Admin → Single sign-on group mappings)."
        )
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=claims.issuer, subject=claims.subject)
        .first()
    )
    if identity is None:
        if User.objects.filter(username__iexact=claims.username).exists():
            raise SignInRefused(
                f"A local account named {claims.username!r} already exists, so the provider's "
                "account of that name is not let in as it: an admin must rename one of them."
            )
        user = User.objects.create_user(
            claims.username, email=claims.email, first_name=claims.name[:150]
        )  # no password: create_user makes it unusable
        identity = SsoIdentity(user=user, issuer=claims.issuer, subject=claims.subject)
    user = identity.user
    if not user.is_active:
        raise SignInRefused(f"The account {user.get_username()!r} is switched off here.")
    user.email, user.first_name = claims.email, claims.name[:150]
    user.is_staff = grant.role == "admin" or user.is_superuser
    user.save(update_fields=["email", "first_name", "is_staff"])
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    user.groups.add(Group.objects.get(name=grant.role))
    user.plants.set(Plant.objects.filter(pk__in=grant.plant_ids))
    identity.groups, identity.last_sign_in = claims.groups, timezone.now()
    identity.save()
    return user
