"""Security events of API tokens, and the admins' page and CSV of security events."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from plant import security_events
from plant.models import ApiToken, Plant, SecurityEvent, SetpointWrite, Tag
from plant.token_actions import do_revoke_api_token
from tests.builders import demo_tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def level(demo_plant: Plant) -> Tag:
    return demo_tag(demo_plant, "fill_level")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_an_unknown_token_is_a_security_event_naming_no_one(client: Client, level: Tag) -> None:
    response = client.get(f"/api/current/?tag={level.pk}", headers=bearer("scada_guessed"),
                          REMOTE_ADDR="192.0.2.9")  # fmt: skip
    assert response.status_code == 401
    event = SecurityEvent.objects.get()
    assert (event.kind, event.user_id, event.source) == ("token_refused", None, "192.0.2.9")
    assert "/api/current/: the bearer token is not valid" in event.detail


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_a_dead_token_is_a_security_event_naming_its_owner(
    client: Client, level: Tag, users_by_role: dict[str, User], state: str
) -> None:
    viewer = users_by_role["viewer"]
    token, secret = ApiToken.issue(viewer, "report")
    if state == "revoked":
        do_revoke_api_token(token, by=users_by_role["admin"])
    else:
        ApiToken.objects.filter(pk=token.pk).update(
            created_at=timezone.now() - timedelta(days=2),
            expires_at=timezone.now() - timedelta(days=1),
        )
    assert client.get(f"/api/history/?tag={level.pk}", headers=bearer(secret)).status_code == 401
    event = SecurityEvent.objects.get()
    assert (event.kind, event.user_id, event.username) == ("token_refused", viewer.pk,
                                                           viewer.username)  # fmt: skip
    assert f"token {token.prefix}… (report)" in event.detail and state in event.detail


def test_a_live_token_reading_is_no_event(client: Client, level: Tag,
                                          users_by_role: dict[str, User]) -> None:  # fmt: skip
    _, secret = ApiToken.issue(users_by_role["viewer"], "report")
    assert client.get(f"/api/current/?tag={level.pk}", headers=bearer(secret)).status_code == 200
    assert not SecurityEvent.objects.exists()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_token_used_to_write_is_refused_and_recorded(
    client: Client, demo_plant: Plant, users_by_role: dict[str, User], method: str
) -> None:
    sp = demo_tag(demo_plant, "fill_level_sp")
    _, secret = ApiToken.issue(users_by_role["operator"], "robot")
    send = getattr(client, method)
    response = send(f"/tags/{sp.pk}/setpoint/write/", {"value": "501"}, headers=bearer(secret))
    assert response.status_code == 403
    assert "only reads" in response.json()["error"]
    assert not SetpointWrite.objects.exists()
    event = SecurityEvent.objects.get()
    assert (event.kind, event.user_id) == ("token_misused", users_by_role["operator"].pk)
    assert event.detail.endswith(f"{method.upper()} /tags/{sp.pk}/setpoint/write/")


# --- the page and its CSV ------------------------------------------------------------------


@pytest.fixture
def events(demo_plant: Plant, users_by_role: dict[str, User]) -> dict[str, SecurityEvent]:
    other = Plant.objects.create(name="Other works", slug="otherworks")
    stranger = User.objects.create_user("stranger-otherworks")
    other.members.add(stranger)
    record = security_events.record
    return {
        "ours": record("socket_forbidden", plant=demo_plant, detail="our line"),
        "our_person": record("login_failed", user=users_by_role["operator"], source="10.1.1.1"),
        "theirs": record("socket_forbidden", plant=other, detail="otherworks line"),
        "their_person": record("login_failed", user=stranger, source="10.2.2.2"),
        "no_one": record("login_failed", username='=HYPERLINK("http://x")', source="10.3.3.3"),
    }  # type: ignore[dict-item]


def shown_ids(response: object) -> set[int]:
    return {event.pk for event, _ in response.context["rows"]}  # type: ignore[attr-defined]


def test_a_plant_admin_sees_their_plants_and_peoples_events_only(
    client: Client, users_by_role: dict[str, User], events: dict[str, SecurityEvent]
) -> None:
    client.force_login(users_by_role["admin"])
    response = client.get("/audit/security/")
    assert response.status_code == 200
    assert shown_ids(response) == {events["ours"].pk, events["our_person"].pk}
    assert "otherworks" not in response.content.decode()


def test_a_superuser_sees_every_event(client: Client, events: dict[str, SecurityEvent]) -> None:
    client.force_login(User.objects.create_superuser("root"))
    assert shown_ids(client.get("/audit/security/")) == {e.pk for e in events.values()}


@pytest.mark.parametrize("role", ["viewer", "operator", "supervisor"])
def test_no_one_below_an_admin_sees_the_page_or_its_csv(
    client: Client, users_by_role: dict[str, User], role: str
) -> None:
    client.force_login(users_by_role[role])
    assert client.get("/audit/security/").status_code == 403
    assert client.get("/audit/security.csv").status_code == 403


def test_the_filters_narrow_by_kind_user_name_and_address(
    client: Client, events: dict[str, SecurityEvent]
) -> None:
    client.force_login(User.objects.create_superuser("root"))
    assert shown_ids(client.get("/audit/security/", {"kind": "socket_forbidden"})) == {
        events["ours"].pk, events["theirs"].pk}  # fmt: skip
    name = events["our_person"].username.upper()  # any case
    assert shown_ids(client.get("/audit/security/", {"username": name})) == {
        events["our_person"].pk}  # fmt: skip
    assert shown_ids(client.get("/audit/security/", {"source": "10.2."})) == {
        events["their_person"].pk}  # fmt: skip


def test_a_bad_filter_says_so_and_hides_nothing(
    client: Client, events: dict[str, SecurityEvent]
) -> None:
    client.force_login(User.objects.create_superuser("root"))
    response = client.get("/audit/security/", {"kind": "made_up", "since": "yesterday-ish"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"kind", "since"}
    assert len(shown_ids(response)) == len(events)


def test_the_csv_neutralises_every_text_cell(
    client: Client, events: dict[str, SecurityEvent]
) -> None:
    client.force_login(User.objects.create_superuser("root"))
    response = client.get("/audit/security.csv", {"username": '=HYPERLINK("http://x")'})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["at", "kind", "username", "source", "plant", "detail", "kind_code"]
    assert rows[1][1:4] == ["login failed", '\'=HYPERLINK("http://x")', "10.3.3.3"]
    assert rows[1][6] == "login_failed"
    assert len(rows) == 2


def test_the_admins_see_a_security_button_and_others_do_not(
    client: Client, users_by_role: dict[str, User]
) -> None:
    client.force_login(users_by_role["admin"])
    assert 'href="/audit/security/"' in client.get("/alarms/").content.decode()
    client.force_login(users_by_role["supervisor"])
    assert 'href="/audit/security/"' not in client.get("/alarms/").content.decode()


def test_a_plant_admin_role_holds_the_right_to_see_security_events() -> None:
    assert (
        Group.objects.get(name="admin").permissions.filter(codename="view_securityevent").exists()
    )
    assert (
        not Group.objects.get(name="supervisor")
        .permissions.filter(codename="view_securityevent")
        .exists()
    )
