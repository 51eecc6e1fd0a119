"""The theme switch: a person's choice is remembered (read into the session at login, so a
page costs no query for it) and every page, the admin too, is drawn in it; without a choice,
pages follow the device (dark.css only under prefers-color-scheme: dark)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from plant.actions.preferences import do_set_theme
from plant.models import UserPreference

pytestmark = pytest.mark.django_db
DARK_ALWAYS = 'href="/static/hmi/dark.css">'
DARK_IF_DEVICE = 'href="/static/hmi/dark.css" media="(prefers-color-scheme: dark)"'


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_person_who_never_chose_follows_the_device(users_by_role: dict[str, User]) -> None:
    html = logged_in(users_by_role["viewer"]).get("/").content.decode()
    assert 'data-theme="auto"' in html and DARK_IF_DEVICE in html
    login_page = Client().get("/accounts/login/").content.decode()
    assert 'data-theme="auto"' in login_page and DARK_IF_DEVICE in login_page


def test_choosing_dark_draws_every_page_dark_and_goes_back_where_it_was_chosen(
    users_by_role: dict[str, User], demo_plant: object
) -> None:
    client = logged_in(users_by_role["operator"])
    response = client.post("/preferences/theme/", {"theme": "dark", "next": "/alarms/"})
    assert (response.status_code, response["Location"]) == (302, "/alarms/")
    html = client.get("/alarms/").content.decode()
    assert 'data-theme="dark"' in html and DARK_ALWAYS in html
    assert '<option value="dark" selected>' in html
    client.post("/preferences/theme/", {"theme": "light"})
    html = client.get("/").content.decode()
    assert 'data-theme="light"' in html and "dark.css" not in html


def test_the_choice_is_remembered_at_the_next_login(users_by_role: dict[str, User]) -> None:
    operator = users_by_role["operator"]
    do_set_theme("dark", by=operator)
    client = Client()
    response = client.post("/accounts/login/", {"username": "operator-user", "password": "pw"})
    assert response.status_code == 302  # logged in through the login form, as a person does
    assert 'data-theme="dark"' in client.get("/").content.decode()


def test_the_admin_follows_the_chosen_theme_instead_of_its_own_toggle(
    users_by_role: dict[str, User],
) -> None:
    admin = users_by_role["admin"]
    do_set_theme("dark", by=admin)
    html = logged_in(admin).get("/admin/").content.decode()
    assert 'src="/static/hmi/admin-theme.js" data-theme="dark"' in html
    assert 'class="theme-toggle"' not in html


@pytest.mark.parametrize("theme", ["", "black", "DARK"])
def test_an_unknown_theme_is_refused_with_a_reason_and_changes_nothing(
    users_by_role: dict[str, User], theme: str
) -> None:
    client = logged_in(users_by_role["viewer"])
    response = client.post("/preferences/theme/", {"theme": theme})
    assert response.status_code == 400
    assert "Choose a theme: auto, light, dark" in response.content.decode()
    assert not UserPreference.objects.exists()
    assert 'data-theme="auto"' in client.get("/").content.decode()


def test_a_next_page_on_another_site_is_not_followed(users_by_role: dict[str, User]) -> None:
    client = logged_in(users_by_role["viewer"])
    response = client.post("/preferences/theme/", {"theme": "dark", "next": "https://evil.test/"})
    assert response["Location"] == "/"
