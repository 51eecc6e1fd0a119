"""The four roles exist after migrations and grant exactly what each may do."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from plant.roles import ROLES

# (role, permission, allowed): each role can do what the one before it can, and a bit more.
MATRIX = [
    ("viewer", "plant.view_tag", True),
    ("viewer", "plant.view_plant", True),
    ("viewer", "plant.write_setpoint", False),
    ("viewer", "plant.acknowledge_alarm", False),
    ("viewer", "plant.change_tag", False),
    ("operator", "plant.view_tag", True),
    ("operator", "plant.write_setpoint", True),
    ("operator", "plant.acknowledge_alarm", False),
    ("operator", "plant.shelve_alarm", False),
    ("operator", "plant.change_tag", False),
    ("supervisor", "plant.write_setpoint", True),
    ("supervisor", "plant.acknowledge_alarm", True),
    ("supervisor", "plant.shelve_alarm", True),
    ("supervisor", "plant.change_tag", False),
    ("supervisor", "plant.add_machine", False),
    ("admin", "plant.acknowledge_alarm", True),
    ("admin", "plant.change_tag", True),
    ("admin", "plant.add_machine", True),
    ("admin", "plant.delete_plant", True),
    ("admin", "auth.change_user", False),
    ("viewer", "plant.tag_stop", False),
    ("operator", "plant.tag_stop", True),
    ("operator", "plant.retag_stop", False),
    ("supervisor", "plant.retag_stop", True),
    ("supervisor", "plant.change_oeemachine", False),
    ("admin", "plant.change_oeemachine", True),
    ("admin", "plant.change_shift", True),
    ("viewer", "plant.view_shift", True),
]


@pytest.mark.django_db
def test_the_four_role_groups_exist_after_migrations() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "viewer",
        "operator",
        "supervisor",
        "admin",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(ROLES))
def test_each_group_holds_exactly_its_roles_permissions(role: str) -> None:
    granted = {
        f"{app_label}.{codename}"
        for app_label, codename in Group.objects.get(name=role).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }
    assert granted == set(ROLES[role])


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "permission", "allowed"), MATRIX)
def test_each_role_may_do_exactly_what_the_matrix_grants(
    users_by_role: dict[str, User], role: str, permission: str, allowed: bool
) -> None:
    assert users_by_role[role].has_perm(permission) is allowed
