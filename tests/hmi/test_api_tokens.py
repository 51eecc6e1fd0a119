"""API tokens expire, can be revoked, only read, and keep who issued and revoked them; a token
reaches the JSON API's GET endpoints and no other page or action."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import URLPattern, get_resolver
from django.utils import timezone

from plant.models import ApiToken, ConfigChange, Plant, SetpointWrite, Tag
from plant.token_actions import do_revoke_api_token
from tests.builders import demo_tag, record_value

pytestmark = pytest.mark.django_db


@pytest.fixture
def level(demo_plant: Plant) -> Tag:
    return demo_tag(demo_plant, "tank_level")


def read(client: Client, tag: Tag, secret: str) -> tuple[int, dict[str, object]]:
    response = client.get(
        f"/api/current/?tag={tag.pk}", headers={"Authorization": f"Bearer {secret}"}
    )
    return response.status_code, response.json()


def test_a_token_issued_without_a_lifetime_lives_90_days_and_reads(
    client: Client, users_by_role: dict[str, User], level: Tag
) -> None:
    token, secret = ApiToken.issue(users_by_role["viewer"], "report")
    assert token.expires_at - token.created_at == timedelta(days=90)
    assert token.scope == "read"
    assert read(client, level, secret)[0] == 200


def test_an_expired_token_is_refused_with_the_reason(
    client: Client, users_by_role: dict[str, User], level: Tag
) -> None:
    token, secret = ApiToken.issue(users_by_role["viewer"], "report", lifetime=timedelta(days=1))
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=timezone.now() - timedelta(days=2), expires_at=timezone.now() - timedelta(days=1)
    )
    status, body = read(client, level, secret)
    assert status == 401
    assert str(body["error"]).startswith("the bearer token expired at ")


def test_a_revoked_token_is_refused_and_the_revocation_says_who_and_when(
    client: Client, users_by_role: dict[str, User], level: Tag
) -> None:
    token, secret = ApiToken.issue(users_by_role["viewer"], "report")
    root = User.objects.create_superuser("root", password="pw")
    assert do_revoke_api_token(token, by=root)
    assert not do_revoke_api_token(token, by=users_by_role["admin"])  # the first one stands
    token.refresh_from_db()
    assert token.revoked_by == root and token.revoked_at is not None
    status, body = read(client, level, secret)
    assert status == 401
    assert "revoked" in str(body["error"])


def issue_in_admin(client: Client, **form: object) -> tuple[int, str]:
    response = client.post("/admin/plant/apitoken/add/", form, follow=True)
    return response.status_code, response.content.decode()


def expiry(moment: datetime) -> dict[str, str]:
    """The admin's two inputs of a date and time, in UTC (the site's time zone)."""
    utc = moment.astimezone(UTC)
    return {"expires_at_0": utc.strftime("%Y-%m-%d"), "expires_at_1": utc.strftime("%H:%M:%S")}


def test_the_admin_issues_with_a_chosen_lifetime_of_at_most_a_year_and_records_the_issuer(
    client: Client, users_by_role: dict[str, User]
) -> None:
    root = User.objects.create_superuser("root", password="pw")
    client.force_login(root)
    viewer = users_by_role["viewer"]
    status, page = issue_in_admin(
        client, user=viewer.pk, name="too long", **expiry(timezone.now() + timedelta(days=366))
    )
    assert status == 200 and "A token lives a year at most." in page
    assert not ApiToken.objects.exists()
    soon = timezone.now() + timedelta(days=30)
    _, page = issue_in_admin(client, user=viewer.pk, name="month", scope="read", **expiry(soon))
    assert re.search(r"scada_[A-Za-z0-9_-]{20,}", page)
    token = ApiToken.objects.get()
    assert (token.issued_by, token.user) == (root, viewer)
    assert abs(token.expires_at - soon) < timedelta(seconds=1)
    # The configuration history holds the issue too (who: plant.config_history's business).
    assert ConfigChange.objects.filter(
        model="plant.apitoken", object_id=str(token.pk), action="create"
    ).exists()


def test_revoking_in_the_admin_records_who_and_no_one_deletes_a_token(
    client: Client, users_by_role: dict[str, User]
) -> None:
    token, _ = ApiToken.issue(users_by_role["viewer"], "report")
    root = User.objects.create_superuser("root", password="pw")
    client.force_login(root)
    data = {"action": "revoke", "_selected_action": [token.pk]}
    assert client.post("/admin/plant/apitoken/", data).status_code == 302
    token.refresh_from_db()
    assert token.revoked_by == root
    assert ConfigChange.objects.filter(model="plant.apitoken", action="update").exists()
    assert client.post(f"/admin/plant/apitoken/{token.pk}/delete/").status_code == 403
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_an_admin_allowed_to_handle_tokens_sees_and_issues_only_their_own(
    client: Client, users_by_role: dict[str, User]
) -> None:
    admin = users_by_role["admin"]
    admin.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_apitoken", "add_apitoken"])
    )
    mine, _ = ApiToken.issue(admin, "mine")
    ApiToken.issue(users_by_role["viewer"], "theirs")
    client.force_login(admin)
    assert list(client.get("/admin/plant/apitoken/").context["cl"].queryset) == [mine]
    issue_in_admin(client, user=users_by_role["viewer"].pk, name="for someone else")
    assert not ApiToken.objects.filter(name="for someone else").exists()


def is_read_api(url: str) -> bool:
    """The JSON API and the CSV exports: the one place a token is for."""
    return url.startswith("/api/") or url.endswith("export.csv")


def every_url(patterns: list[object], prefix: str = "") -> list[str]:
    """Every route of the product with 1 for each number in it, e.g. /tags/1/setpoint/write/."""
    urls = []
    for entry in patterns:
        route = prefix + str(entry.pattern)  # type: ignore[attr-defined]
        if isinstance(entry, URLPattern):
            urls.append("/" + re.sub(r"<int:\w+>", "1", route).replace("^", "").replace("$", ""))
        elif not route.startswith(("admin", "static")):
            urls += every_url(entry.url_patterns, route)  # type: ignore[attr-defined]
    return urls


def test_a_token_reaches_no_page_and_no_action_outside_the_read_api(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    sp = demo_tag(demo_plant, "fill_level_sp")
    record_value(sp, 500.0)
    _, secret = ApiToken.issue(User.objects.create_superuser("root", password="pw"), "all")
    bearer = {"Authorization": f"Bearer {secret}"}
    urls = [url for url in every_url(get_resolver().url_patterns) if "<" not in url]
    # Logging in is for all, and so is the icon (a redirect to a static file).
    urls = [url for url in urls if not url.startswith("/accounts/") and url != "/favicon.ico"]
    assert "/tags/1/setpoint/write/" in urls and "/alarms/acknowledge-all/" in urls
    for url in [*urls, "/admin/", "/admin/plant/tag/", "/admin/plant/tag/add/"]:
        url = url.replace("/1/", f"/{sp.pk}/")
        for method in ("get", "post"):
            if is_read_api(url) and method == "get":
                continue  # the one place a token is for
            send = getattr(client, method)
            response = send(url, {"value": "501", "reason": "", "tag": sp.pk}, headers=bearer)
            assert response.status_code in (302, 401, 403, 405), (method, url)
            if response.status_code == 302:
                assert "login" in response["Location"], (method, url)
    assert not SetpointWrite.objects.exists()
