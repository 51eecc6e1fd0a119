"""Single sign-on against a real OpenID Connect provider (panva's oidc-provider, tests/oidc.py):
the flow end to end through a real daphne, the groups mapped to roles and plants at every
sign-in, and each way it must refuse."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import User
from playwright.sync_api import Browser, expect

from plant.models import Plant, SecurityEvent, SsoGroupMapping, SsoIdentity
from tests.browser.conftest import PASSWORD, Daphne, make_server_user
from tests.oidc import CLIENT_ID, CLIENT_SECRET, Provider, sign_in

PROVIDER_NAME = "Plant Keycloak"


@dataclass
class Sso:
    provider: Provider
    url: str  # the HMI's, a daphne configured to sign in through the provider


@pytest.fixture
def sso(committed_db: None, tmp_path: Path) -> Iterator[Sso]:
    server = Daphne(tmp_path / "daphne.log")
    idp = Provider(tmp_path, f"{server.url}/accounts/sso/callback/")
    server.env |= {
        "OIDC_ISSUER": idp.issuer, "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET, "OIDC_PROVIDER_NAME": PROVIDER_NAME,
    }  # fmt: skip
    idp.start()
    server.start()
    try:
        yield Sso(idp, server.url)
    finally:
        server.stop()
        idp.stop()


@pytest.fixture
def mapped(demo_plant: Plant) -> Plant:
    operators = SsoGroupMapping.objects.create(group="hmi-operators", role="operator")
    operators.plants.add(demo_plant)
    supervisors = SsoGroupMapping.objects.create(group="/bottling/supervisors", role="supervisor")
    supervisors.plants.add(demo_plant)
    return demo_plant


def role_names(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_a_member_of_a_mapped_group_signs_in_with_its_role_and_plants(
    sso: Sso, mapped: Plant
) -> None:
    sso.provider.add("alice", "hmi-operators", "canteen")
    session = requests.Session()
    page = sign_in(session, sso.url, "alice", next_path="/alarms/")
    assert page.status_code == 200 and page.url == f"{sso.url}/alarms/"
    alice = User.objects.get(username="alice")
    assert role_names(alice) == {"operator"}
    assert list(alice.plants.all()) == [mapped]
    assert not alice.has_usable_password() and not alice.is_staff
    identity = SsoIdentity.objects.get(user=alice)
    assert (identity.issuer, identity.subject) == (sso.provider.issuer, "alice")
    assert identity.groups == ["hmi-operators", "canteen"]
    # The session is an ordinary one: the plant's screen is there, the admin is not.
    assert session.get(f"{sso.url}/plants/{mapped.pk}/", timeout=10).status_code == 200
    assert "/admin/login/" in session.get(f"{sso.url}/admin/", timeout=10).url


def test_a_group_change_at_the_provider_takes_effect_at_the_next_sign_in(
    sso: Sso, mapped: Plant
) -> None:
    sso.provider.add("bob", "hmi-operators")
    sign_in(requests.Session(), sso.url, "bob")
    assert role_names(User.objects.get(username="bob")) == {"operator"}
    sso.provider.add("bob", "/bottling/supervisors")  # Keycloak's full group path
    page = sign_in(requests.Session(), sso.url, "bob")
    assert page.url == f"{sso.url}/"
    bob = User.objects.get(username="bob")
    assert role_names(bob) == {"supervisor"}
    sso.provider.add("bob", "canteen")  # no longer in any mapped group
    page = sign_in(requests.Session(), sso.url, "bob")
    assert page.status_code == 403 and "none of their groups (canteen)" in page.text
    assert role_names(User.objects.get(username="bob")) == {"supervisor"}  # untouched
    assert SecurityEvent.objects.filter(kind="sso_refused", username="bob").count() == 1


def test_groups_that_grant_nothing_are_refused_and_no_user_is_made(sso: Sso, mapped: Plant) -> None:
    sso.provider.add("carol", "canteen")
    page = sign_in(requests.Session(), sso.url, "carol")
    assert page.status_code == 403
    assert "ask an admin to map one of them" in page.text
    assert 'id="sso-error"' in page.text and 'name="password"' in page.text  # local form kept
    assert not User.objects.filter(username="carol").exists()
    event = SecurityEvent.objects.get(kind="sso_refused")
    assert event.username == "carol" and "canteen" in event.detail


def test_a_provider_account_named_like_a_local_user_does_not_become_that_user(
    sso: Sso, mapped: Plant
) -> None:
    local = make_server_user("dave", "viewer", mapped)
    sso.provider.add("dave", "hmi-operators")
    page = sign_in(requests.Session(), sso.url, "dave")
    assert page.status_code == 403
    assert "A local account named 'dave' already exists" in html.unescape(page.text)
    assert role_names(User.objects.get(pk=local.pk)) == {"viewer"}
    assert not SsoIdentity.objects.exists()


def test_a_forged_or_replayed_answer_is_refused_with_a_clear_error(sso: Sso, mapped: Plant) -> None:
    sso.provider.add("erin", "hmi-operators")
    session = requests.Session()
    # An answer this browser never asked for (no state of ours in its session).
    forged = session.get(f"{sso.url}/accounts/sso/callback/?code=abc&state=forged", timeout=10)
    assert forged.status_code == 400 and "answer was refused" in forged.text
    # A real answer, used again after the HMI took it: in another browser, and in this one.
    login = sign_in(session, sso.url, "erin")
    assert login.status_code == 200
    callback = next(r for r in login.history if "/accounts/sso/callback/" in r.url)
    assert requests.Session().get(callback.url, timeout=10).status_code == 400
    assert session.get(callback.url, timeout=10).status_code == 400
    assert SecurityEvent.objects.filter(kind="sso_refused").count() == 3


def test_with_the_provider_down_the_login_page_says_so_and_local_logins_still_work(
    sso: Sso, mapped: Plant
) -> None:
    make_server_user("frank", "operator", mapped)
    sso.provider.stop()
    session = requests.Session()
    page = session.get(f"{sso.url}/accounts/sso/login/", timeout=20)
    assert page.status_code == 503 and "cannot be reached just now" in page.text
    form = session.get(f"{sso.url}/accounts/login/", timeout=10)
    token = session.cookies["csrftoken"]
    done = session.post(
        f"{sso.url}/accounts/login/",
        data={"username": "frank", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": form.url}, timeout=10,
    )  # fmt: skip
    assert done.url == f"{sso.url}/" and "frank" in done.text


def test_the_login_page_offers_the_provider_and_the_browser_signs_in_through_it(
    sso: Sso, mapped: Plant, browser: Browser
) -> None:
    sso.provider.add("grace", "/bottling/supervisors")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{sso.url}/alarms/")
    button = page.locator("#sso-login")
    expect(button).to_have_text(f"Sign in with {PROVIDER_NAME}")
    button.click()
    page.locator('input[name="login"]').fill("grace")
    page.locator('input[name="password"]').fill("anything")
    page.locator('button[type="submit"]').click()
    page.locator('button[type="submit"]').click()  # the provider's consent
    page.wait_for_url(f"{sso.url}/alarms/")
    expect(page.locator("body")).to_contain_text("grace")
    context.close()
