"""A person's theme: chosen through plant.actions.preferences, one row per person, an unknown
choice refused with the choices named and nothing stored."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from plant.actions.preferences import do_set_theme
from plant.models import UserPreference

pytestmark = pytest.mark.django_db


def test_a_chosen_theme_is_kept_and_a_new_choice_replaces_it(
    users_by_role: dict[str, User],
) -> None:
    operator = users_by_role["operator"]
    assert do_set_theme("dark", by=operator) == "dark"
    assert do_set_theme("light", by=operator) == "light"
    assert list(UserPreference.objects.values_list("user__username", "theme")) == [
        ("operator-user", "light")
    ]


def test_an_unknown_theme_is_refused_with_the_choices_and_stores_nothing(
    users_by_role: dict[str, User],
) -> None:
    viewer = users_by_role["viewer"]
    do_set_theme("dark", by=viewer)
    with pytest.raises(ValidationError, match="auto, light, dark") as refused:
        do_set_theme("black", by=viewer)
    assert "'black'" in refused.value.messages[0]
    assert UserPreference.objects.get(user=viewer).theme == "dark"
