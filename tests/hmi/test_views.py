"""The live screens as pages: who sees which, and how each tag's latest value reads."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from plant.models import LatestValue, Line, Machine, Plant, Tag

ROLES = ["viewer", "operator", "supervisor", "admin"]
PAGES = ["plant", "line", "machine", "tag"]


class _ElementText(HTMLParser):
    """Collects the text inside the element with one id, optionally only in one class."""

    def __init__(self, element_id: str, css_class: str = "") -> None:
        super().__init__()
        self.element_id, self.css_class = element_id, css_class
        self.depth = 0
        self.inside: list[bool] = []  # per open element below the id: in the class?
        self.found = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if self.depth:
            self.depth += 1
            classes = (attributes.get("class") or "").split()
            self.inside.append(bool(self.inside and self.inside[-1]) or self.css_class in classes)
        elif attributes.get("id") == self.element_id:
            self.depth, self.found = 1, True
            self.inside = [not self.css_class]

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1
            self.inside.pop()

    def handle_data(self, data: str) -> None:
        if self.depth and self.inside and self.inside[-1]:
            self.parts.append(data)


def element_text(html: str, element_id: str, css_class: str = "") -> str:
    """The whitespace-normalised text of the element with `element_id` (within `css_class`)."""
    parser = _ElementText(element_id, css_class)
    parser.feed(html)
    assert parser.found, f"no element with id {element_id!r}"
    return " ".join("".join(parser.parts).split())


def shown(html: str, tag: Tag) -> str:
    """A value as the operator reads it: the value, its unit and its flag."""
    return " ".join(
        part
        for part in (
            element_text(html, f"tag-{tag.pk}", "reading-text"),
            element_text(html, f"tag-{tag.pk}", "reading-flag"),
        )
        if part
    )


def page_html(client: Client, user: User, url: str = "/") -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def set_latest(tag: Tag, value: float | None = None, *, age_s: float = 0, **fields: object) -> None:
    time = timezone.now() - timedelta(seconds=age_s)
    defaults = {"time": time, "value": value, "good_at": time, **fields}
    LatestValue.objects.update_or_create(tag=tag, defaults=defaults)


def tag(plant: Plant, key: str) -> Tag:
    return Tag.objects.get(machine__line__plant=plant, key=key)


def page_url(plant: Plant, page: str) -> str:
    """The URL of the demo plant's page of each kind (the filling line, the filler, its level)."""
    fill_level = tag(plant, "fill_level")
    pk = {
        "plant": plant.pk,
        "line": fill_level.machine.line_id,
        "machine": fill_level.machine_id,
        "tag": fill_level.pk,
    }[page]
    return f"/{page}s/{pk}/"


# --- Login and the header -------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login_page(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


@pytest.mark.django_db
def test_the_login_page_shows_a_login_form(client: Client) -> None:
    html = client.get("/accounts/login/?next=/").content.decode()
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
def test_the_header_names_the_user_and_role_and_offers_a_logout_form(
    client: Client, users_by_role: dict[str, User]
) -> None:
    html = page_html(client, users_by_role["operator"])
    assert "operator-user" in html
    assert '<span class="who-role">operator</span>' in html
    assert 'action="/accounts/logout/"' in html
    assert 'href="/admin/"' not in html


@pytest.mark.django_db
def test_only_staff_get_a_link_to_the_admin(client: Client, users_by_role: dict[str, User]) -> None:
    assert 'href="/admin/"' in page_html(client, users_by_role["admin"])


@pytest.mark.django_db
def test_logging_out_by_post_ends_the_session(
    client: Client, users_by_role: dict[str, User]
) -> None:
    client.force_login(users_by_role["viewer"])
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


# --- Who sees what --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_each_line_as_a_tile_of_machines_and_key_values(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, role: str
) -> None:
    html = page_html(client, users_by_role[role])
    assert "Demo Bottling Plant" in element_text(html, f"plant-{demo_plant.pk}")
    for line in Line.objects.filter(plant=demo_plant):
        assert line.name in element_text(html, f"line-{line.pk}")
    for machine in Machine.objects.filter(line__plant=demo_plant):
        assert machine.name in element_text(html, f"machine-{machine.pk}")
    for key in ("fill_level", "tank_level", "state", "methane", "fan", "bearing_temp", "power"):
        assert shown(html, tag(demo_plant, key)) == "—"


@pytest.mark.django_db
def test_a_tile_leaves_counters_totals_and_setpoints_to_the_machine_screen(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    html = page_html(client, users_by_role["viewer"])
    for key in ("bottles_filled", "fill_level_sp", "energy"):
        assert f'id="tag-{tag(demo_plant, key).pk}"' not in html
    filler = tag(demo_plant, "fill_level").machine
    assert "4 more values" in element_text(html, f"machine-{filler.pk}")


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    ("who", "status"),
    [("viewer", 200), ("operator", 200), ("supervisor", 200), ("admin", 200), ("outsider", 404)],
)
def test_each_screen_is_shown_to_members_of_the_plant_only(
    client: Client,
    users_by_role: dict[str, User],
    outsider: User,
    demo_plant: Plant,
    page: str,
    who: str,
    status: int,
) -> None:
    client.force_login(outsider if who == "outsider" else users_by_role[who])
    assert client.get(page_url(demo_plant, page)).status_code == status


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_a_member_without_a_role_and_anonymous_visitors_see_no_screen(
    client: Client, demo_plant: Plant, page: str
) -> None:
    assert client.get(page_url(demo_plant, page)).status_code == 302
    member = User.objects.create_user(username="no-role", password="pw")
    demo_plant.members.add(member)
    client.force_login(member)
    assert client.get(page_url(demo_plant, page)).status_code == 404


@pytest.mark.django_db
def test_a_supervisor_of_another_plant_sees_no_demo_plant(
    client: Client, demo_plant: Plant, outsider: User
) -> None:
    html = page_html(client, outsider)
    assert "Demo Bottling Plant" not in html
    assert "No plants to show" in html


@pytest.mark.django_db
def test_a_superuser_sees_every_plant_without_being_a_member(
    client: Client, demo_plant: Plant
) -> None:
    Plant.objects.create(name="Brewery", slug="brewery")
    html = page_html(client, User.objects.create_superuser(username="root", password="pw"))
    assert "Demo Bottling Plant" in html
    assert "Brewery" in html


@pytest.mark.django_db
def test_breadcrumbs_follow_the_hierarchy_down_to_the_tag(
    client: Client, users_by_role: dict[str, User], fill_level: Tag
) -> None:
    html = page_html(client, users_by_role["viewer"], f"/tags/{fill_level.pk}/")
    crumbs = html.split('class="crumbs"')[1].split("</nav>")[0]
    machine, line = fill_level.machine, fill_level.machine.line
    for href in (
        "/",
        f"/plants/{line.plant_id}/",
        f"/lines/{line.pk}/",
        f"/machines/{machine.pk}/",
    ):
        assert f'href="{href}"' in crumbs
    assert f'href="/tags/{fill_level.pk}/" aria-current="page"' in crumbs


# --- Query counts ---------------------------------------------------------------------------


def add_machines(line: Line, count: int) -> None:
    """`count` more machines on `line`, each with two tags that have a latest value."""
    for n in range(count):
        machine = Machine.objects.create(line=line, name=f"Capper {n}", slug=f"capper-{n}")
        for key in ("torque", "speed"):
            new = Tag.objects.create(
                machine=machine, key=key, unit="Nm", topic=f"{machine.topic}/{key}", normal_max=9
            )
            set_latest(new, 1.5)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("page", "queries"), [("", 10), ("plant", 10), ("line", 9), ("machine", 9)]
)
def test_a_screens_query_count_does_not_grow_with_machines_or_tags(
    client: Client,
    users_by_role: dict[str, User],
    demo_plant: Plant,
    django_assert_max_num_queries: DjangoAssertNumQueries,
    page: str,
    queries: int,
) -> None:
    # Session, user, two for permissions, the user's groups (header), then the page's own:
    # plants, lines, machines, tags with latest values, alarm counts (tiles); line, machines,
    # tags (line); machine, tags, samples (machine).
    url = page_url(demo_plant, page) if page else "/"
    client.force_login(users_by_role["operator"])
    with django_assert_max_num_queries(queries):
        assert client.get(url).status_code == 200
    filler = tag(demo_plant, "fill_level").machine
    add_machines(filler.line, 12)
    for n in range(12):
        set_latest(Tag.objects.create(machine=filler, key=f"extra{n}", topic=f"x/{n}"), 1.0)
    with django_assert_max_num_queries(queries):
        html = client.get(url).content.decode()
    assert page == "machine" or "Capper 11" in html
