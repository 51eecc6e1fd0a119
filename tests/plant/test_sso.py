"""The single sign-on grant (plant.sso): which role and plants a provider's groups give."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from plant import sso
from plant.sso import Grant, Mapping, group_names, resolve

ROLES = st.sampled_from([*sso.ROLE_ORDER, ""])
NAMES = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=8)
MAPPINGS = st.lists(
    st.builds(Mapping, NAMES, ROLES, st.frozensets(st.integers(1, 5), max_size=3)), max_size=6
)


def test_the_highest_mapped_role_and_every_mapped_plant() -> None:
    rules = [
        Mapping("ops", "operator", frozenset({1})), Mapping("sup", "supervisor", frozenset({2})),
        Mapping("plant3", "", frozenset({3})), Mapping("adm", "admin", frozenset({4})),
    ]  # fmt: skip
    assert resolve(["ops", "SUP", "plant3"], rules) == Grant("supervisor", frozenset({1, 2, 3}))
    assert resolve(["plant3"], rules).refused  # plants, but no role
    assert resolve(["ops"], [Mapping("ops", "operator", frozenset())]).refused  # no plant
    assert resolve([], rules) == Grant(None, frozenset())


def test_group_claims_as_providers_send_them() -> None:
    assert group_names(["a", " b ", "", 3, None]) == ["a", "b"]
    assert group_names("ops") == ["ops"]
    assert group_names("/plant/ops") == ["/plant/ops", "ops"]  # Keycloak's full paths
    assert group_names({"ops": True}) == [] and group_names(None) == []


@given(st.lists(NAMES, max_size=6), MAPPINGS)
def test_a_grant_never_exceeds_what_the_users_groups_are_mapped_to(
    groups: list[str], rules: list[Mapping]
) -> None:
    grant = resolve(groups, rules)
    mine = [m for m in rules if m.group.casefold() in {g.casefold() for g in groups}]
    assert grant.plant_ids == frozenset().union(*(m.plant_ids for m in mine))
    roles = [sso.ROLE_ORDER.index(m.role) for m in mine if m.role]
    assert grant.role == (sso.ROLE_ORDER[max(roles)] if roles else None)
    # Leaving a group never gives more.
    for left in groups:
        rest = resolve([g for g in groups if g != left], rules)
        assert rest.plant_ids <= grant.plant_ids
        rank = sso.ROLE_ORDER.index
        assert rest.role is None or (grant.role is not None and rank(rest.role) <= rank(grant.role))
