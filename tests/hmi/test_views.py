"""The plant overview: who sees which plant, and how each tag's latest value reads."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from plant.models import LatestValue, Line, Machine, Plant, Quality, Tag

ROLES = ["viewer", "operator", "supervisor", "admin"]


class _ElementText(HTMLParser):
    """Collects the text inside the element with one id (including its children)."""

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id = element_id
        self.depth = 0
        self.found = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.element_id:
            self.depth, self.found = 1, True

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def element_text(html: str, element_id: str) -> str:
    """The whitespace-normalised text of the element with `element_id`; fails if absent."""
    parser = _ElementText(element_id)
    parser.feed(html)
    assert parser.found, f"no element with id {element_id!r}"
    return " ".join("".join(parser.parts).split())


def overview_html(client: Client, user: User) -> str:
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def set_latest(tag: Tag, value: float | None = None, *, age_s: float = 0, **fields: object) -> None:
    LatestValue.objects.update_or_create(
        tag=tag,
        defaults={"time": timezone.now() - timedelta(seconds=age_s), "value": value, **fields},
    )


def tag(plant: Plant, key: str) -> Tag:
    return Tag.objects.get(machine__line__plant=plant, key=key)


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login_page(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


@pytest.mark.django_db
def test_the_login_page_shows_a_login_form(client: Client) -> None:
    response = client.get("/accounts/login/?next=/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert 'name="next" value="/"' in html


@pytest.mark.django_db
def test_logging_in_through_the_form_leads_to_the_overview(
    client: Client, users_by_role: dict[str, User]
) -> None:
    response = client.post(
        "/accounts/login/", {"username": "operator-user", "password": "pw", "next": "/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_a_wrong_password_is_refused_with_a_message(
    client: Client, users_by_role: dict[str, User]
) -> None:
    response = client.post("/accounts/login/", {"username": "operator-user", "password": "no"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_demo_plant_with_its_lines_and_machines(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, role: str
) -> None:
    html = overview_html(client, users_by_role[role])
    assert "Demo Bottling Plant" in element_text(html, f"plant-{demo_plant.pk}")
    for line in Line.objects.filter(plant=demo_plant):
        assert line.name in element_text(html, f"line-{line.pk}")
    for machine in Machine.objects.filter(line__plant=demo_plant):
        assert machine.name in element_text(html, f"machine-{machine.pk}")
    for each in Tag.objects.filter(machine__line__plant=demo_plant):
        assert element_text(html, f"tag-{each.pk}") == "—"


@pytest.mark.django_db
def test_a_supervisor_of_another_plant_sees_no_demo_plant(
    client: Client, demo_plant: Plant, outsider: User
) -> None:
    html = overview_html(client, outsider)
    assert "Demo Bottling Plant" not in html
    assert "No plants to show" in html


@pytest.mark.django_db
def test_a_member_without_a_role_sees_no_plant(client: Client, demo_plant: Plant) -> None:
    member = User.objects.create_user(username="no-role", password="pw")
    demo_plant.members.add(member)
    assert "Demo Bottling Plant" not in overview_html(client, member)


@pytest.mark.django_db
def test_a_superuser_sees_every_plant_without_being_a_member(
    client: Client, demo_plant: Plant
) -> None:
    Plant.objects.create(name="Brewery", slug="brewery")
    root = User.objects.create_superuser(username="root", password="pw")
    html = overview_html(client, root)
    assert "Demo Bottling Plant" in html
    assert "Brewery" in html


@pytest.mark.django_db
def test_the_header_names_the_user_and_role_and_offers_a_logout_form(
    client: Client, users_by_role: dict[str, User]
) -> None:
    html = overview_html(client, users_by_role["operator"])
    assert "operator-user" in html
    assert '<span class="who-role">operator</span>' in html
    assert 'action="/accounts/logout/"' in html
    assert 'href="/admin/"' not in html


@pytest.mark.django_db
def test_only_staff_get_a_link_to_the_admin(client: Client, users_by_role: dict[str, User]) -> None:
    assert 'href="/admin/"' in overview_html(client, users_by_role["admin"])


@pytest.mark.django_db
def test_logging_out_by_post_ends_the_session(
    client: Client, users_by_role: dict[str, User]
) -> None:
    client.force_login(users_by_role["viewer"])
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_a_latest_value_shows_with_the_tags_unit_and_precision(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    set_latest(tag(demo_plant, "fill_level"), 501.2345)
    set_latest(tag(demo_plant, "flow_rate"), 42.0)
    set_latest(tag(demo_plant, "bottles_filled"), 1234.0)
    set_latest(tag(demo_plant, "methane"), -0.01)
    html = overview_html(client, users_by_role["viewer"])
    assert element_text(html, f"tag-{tag(demo_plant, 'fill_level').pk}") == "501.2 ml"
    assert element_text(html, f"tag-{tag(demo_plant, 'flow_rate').pk}") == "42.00 l/min"
    assert element_text(html, f"tag-{tag(demo_plant, 'bottles_filled').pk}") == "1234 bottles"
    assert element_text(html, f"tag-{tag(demo_plant, 'methane').pk}") == "0.0 %LEL"


@pytest.mark.django_db
def test_bool_values_show_their_labels_and_string_values_their_text(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    set_latest(tag(demo_plant, "valve_open"), 1.0)
    set_latest(tag(demo_plant, "fan"), 0.0)
    set_latest(tag(demo_plant, "state"), None, text="running")
    html = overview_html(client, users_by_role["viewer"])
    assert element_text(html, f"tag-{tag(demo_plant, 'valve_open').pk}") == "open"
    assert element_text(html, f"tag-{tag(demo_plant, 'fan').pk}") == "off"
    assert element_text(html, f"tag-{tag(demo_plant, 'state').pk}") == "running"


@pytest.mark.django_db
def test_a_value_older_than_its_expected_interval_is_marked_stale(
    client: Client, users_by_role: dict[str, User], fill_level: Tag
) -> None:
    set_latest(fill_level, 499.0, age_s=fill_level.expected_interval_s + 5)
    html = overview_html(client, users_by_role["viewer"])
    assert element_text(html, f"tag-{fill_level.pk}") == "499.0 ml stale"
    assert f'id="tag-{fill_level.pk}" class="reading is-stale"' in html


@pytest.mark.django_db
def test_a_fresh_value_carries_no_marker(
    client: Client, users_by_role: dict[str, User], fill_level: Tag
) -> None:
    set_latest(fill_level, 499.0, age_s=fill_level.expected_interval_s - 5)
    html = overview_html(client, users_by_role["viewer"])
    assert element_text(html, f"tag-{fill_level.pk}") == "499.0 ml"
    assert f'id="tag-{fill_level.pk}" class="reading is-ok"' in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("quality", "marker"), [(Quality.BAD, "bad"), (Quality.UNCERTAIN, "uncertain")]
)
def test_a_value_of_poor_quality_is_marked_in_words(
    client: Client, users_by_role: dict[str, User], fill_level: Tag, quality: int, marker: str
) -> None:
    set_latest(fill_level, 499.0, quality=quality)
    html = overview_html(client, users_by_role["viewer"])
    assert element_text(html, f"tag-{fill_level.pk}") == f"499.0 ml {marker}"
    assert f'class="reading is-{marker}"' in html


@pytest.mark.django_db
def test_bad_quality_outranks_staleness(
    client: Client, users_by_role: dict[str, User], fill_level: Tag
) -> None:
    set_latest(fill_level, 499.0, age_s=3600, quality=Quality.BAD)
    html = overview_html(client, users_by_role["viewer"])
    assert element_text(html, f"tag-{fill_level.pk}") == "499.0 ml bad"


def add_machines(line: Line, count: int) -> None:
    """`count` more machines on `line`, each with two tags that have a latest value."""
    for n in range(count):
        machine = Machine.objects.create(line=line, name=f"Capper {n}", slug=f"capper-{n}")
        for key in ("torque", "speed"):
            new = Tag.objects.create(
                machine=machine, key=key, unit="Nm", topic=f"{machine.topic}/{key}"
            )
            set_latest(new, 1.5)


@pytest.mark.django_db
def test_the_overview_query_count_does_not_grow_with_machines(
    client: Client,
    users_by_role: dict[str, User],
    demo_plant: Plant,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    # Session, user, two for permissions, the user's groups (header), then one query each for
    # plants, lines, machines, and tags with their latest values.
    client.force_login(users_by_role["operator"])
    with django_assert_max_num_queries(9):
        assert client.get("/").status_code == 200
    add_machines(demo_plant.lines.get(slug="filling"), 12)
    with django_assert_max_num_queries(9):
        html = client.get("/").content.decode()
    assert "Capper 11" in html
