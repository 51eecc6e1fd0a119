"""The permission matrix of the HMI: every role by every page, fragment, API endpoint and form
post, on the real database, for an object of plant A and one of plant B.

Every URL of the URLconf must have its rows here (or be an admin page, which
test_admin_matrix.py covers): a new URL without them fails the first test, which names it.
Each row says what each role is answered; every answer with a body is also searched for the
slug of each plant the role may not see (tests/hmi/two_plants.py names every object after its
plant), so a page that lists another plant's line, tag, write or alarm fails too. Posts carry
the CSRF token the page gave the browser; the same post without it (a forged one) must be
refused and change nothing.

Adding a URL is adding a line to ROWS:
    Row("hmi:name", "GET", "/path/{tag}/", "A", "login 404 200 200 200 200 404 200 login"),
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from plant.models import Alarm, ControlLoop, MachineStop, SetpointWrite, UserPreference
from tests.hmi.two_plants import ROLES, STOP_AT, World, built_once

# An answer is a status code, or where a redirect goes:
#   login        302 to the login page (anonymous, or a token on a page that needs a session)
#   302          302 elsewhere: a form post done (the alarm pages go back to the list)
# A trailing * on a post's answer means the post changes what the row's `done` looks at;
# every other answer must leave it as it was.
# fmt: off
# Columns: anon, nobody (no plant, no role), viewer, operator, supervisor (all three of A),
# admin_a, admin_b, super (a superuser), token (viewer A's read-only API token, no session).
LOGGED_IN = "login 200 200 200 200 200 200 200 login"
MEMBER_OF_A = "login 404 200 200 200 200 404 200 login"
MEMBER_OF_B = "login 404 404 404 404 404 200 200 login"
WRITER_IN_A = "login 403 403 200 200 200 404 200 login"
WRITER_IN_B = "login 403 403 404 404 404 200 200 login"
API_READER_A = "401 404 200 200 200 200 404 200 200"
API_READER_B = "401 404 404 404 404 404 200 200 404"
AUDIT_READER = "login 403 200 200 200 200 200 200 login"  # any role; not a user without one
SUPERVISORS = "login 403 403 403 200 200 200 200 login"
ADMINS = "login 403 403 403 403 200 200 200 login"
ANYONE = "200 200 200 200 200 200 200 200 200"
LOGGED_OUT = "login login login login login login login login login"


def posted(expect: str) -> str:
    """A post's answers: a bearer token is refused (403) before anything asks for a login, for
    a token only reads (hmi.api.token_write_middleware)."""
    return expect.rsplit(" ", 1)[0] + " 403"



@dataclass(frozen=True)
class Row:
    """One URL, one object (of plant A, B, or none) and what each role is answered."""

    name: str  # the URL's name, as reverse() knows it
    method: str
    path: str  # formatted with the ids of the row's plant's objects
    plant: str  # "A", "B" or "" (no object)
    expect: str  # one answer per role, in the order of ROLES
    data: tuple[tuple[str, str], ...] = ()
    done: str = ""  # what a post changes (a key of DONE), if anything


ROWS = [
    # Live screens
    Row("hmi:overview", "GET", "/", "", LOGGED_IN),
    Row("hmi:plant_detail", "GET", "/plants/{plant}/", "A", MEMBER_OF_A),
    Row("hmi:plant_detail", "GET", "/plants/{plant}/", "B", MEMBER_OF_B),
    Row("hmi:line_detail", "GET", "/lines/{line}/", "A", MEMBER_OF_A),
    Row("hmi:line_detail", "GET", "/lines/{line}/", "B", MEMBER_OF_B),
    Row("hmi:machine_detail", "GET", "/machines/{machine}/", "A", MEMBER_OF_A),
    Row("hmi:machine_detail", "GET", "/machines/{machine}/", "B", MEMBER_OF_B),
    Row("hmi:tag_detail", "GET", "/tags/{tag}/", "A", MEMBER_OF_A),
    Row("hmi:tag_detail", "GET", "/tags/{tag}/", "B", MEMBER_OF_B),
    Row("hmi:tag_detail", "GET", "/tags/{sp_tag}/", "B", MEMBER_OF_B),
    Row("hmi:system_status", "GET", "/status/", "", LOGGED_IN),
    Row("hmi:system_status", "GET", "/status/?plant={plant}", "B", LOGGED_IN),
    # Setpoint writes (htmx fragments and posts) and the audit trail
    Row("hmi:setpoint_panel", "GET", "/tags/{sp_tag}/setpoint/", "A", MEMBER_OF_A),
    Row("hmi:setpoint_panel", "GET", "/tags/{sp_tag}/setpoint/", "B", MEMBER_OF_B),
    Row("hmi:setpoint_form", "GET", "/tags/{sp_tag}/setpoint/form/", "A", WRITER_IN_A),
    Row("hmi:setpoint_form", "GET", "/tags/{sp_tag}/setpoint/form/", "B", WRITER_IN_B),
    Row("hmi:review_setpoint", "POST", "/tags/{sp_tag}/setpoint/review/", "A", posted(WRITER_IN_A),
        (("value", "501"), ("reason", "matrix")), done="write"),
    Row("hmi:review_setpoint", "POST", "/tags/{sp_tag}/setpoint/review/", "B", posted(WRITER_IN_B),
        (("value", "501"), ("reason", "matrix")), done="write"),
    Row("hmi:write_setpoint", "POST", "/tags/{sp_tag}/setpoint/write/", "A",
        "login 403 403 200* 200* 200* 404 200* 403", (("value", "501"), ("reason", "matrix")),
        done="write"),
    Row("hmi:write_setpoint", "POST", "/tags/{sp_tag}/setpoint/write/", "B",
        "login 403 403 404 404 404 200* 200* 403", (("value", "501"), ("reason", "matrix")),
        done="write"),
    Row("hmi:setpoint_status", "GET", "/setpoint-writes/{write}/", "A", MEMBER_OF_A),
    Row("hmi:setpoint_status", "GET", "/setpoint-writes/{write}/", "B", MEMBER_OF_B),
    Row("hmi:set_loop_mode", "POST", "/loops/{loop}/mode/", "A",
        "login 403 403 200* 200* 200* 404 200* 403", (("mode", "manual"),), done="loop"),
    Row("hmi:set_loop_mode", "POST", "/loops/{loop}/mode/", "B",
        "login 403 403 404 404 404 200* 200* 403", (("mode", "manual"),), done="loop"),
    Row("hmi:setpoint_audit", "GET", "/audit/setpoints/", "", AUDIT_READER),
    Row("hmi:setpoint_audit_csv", "GET", "/audit/setpoints.csv", "", AUDIT_READER),
    # The configuration history: supervisors and admins
    Row("hmi:config_history", "GET", "/audit/configuration/", "", SUPERVISORS),
    Row("hmi:config_history", "GET", "/audit/configuration/?plant={plant}", "B", SUPERVISORS),
    Row("hmi:config_history_csv", "GET", "/audit/configuration.csv", "", SUPERVISORS),
    # Security events: admins (of their plants and people) and superusers
    Row("hmi:security_events", "GET", "/audit/security/", "", ADMINS),
    Row("hmi:security_events", "GET", "/audit/security/?plant={plant}", "B", ADMINS),
    Row("hmi:security_events_csv", "GET", "/audit/security.csv", "", ADMINS),
    # Historian: the trend page and the JSON API (a session or a bearer token)
    Row("hmi:trend", "GET", "/trend/", "", LOGGED_IN),
    Row("hmi:trend", "GET", "/trend/?tag={tag}", "B", LOGGED_IN),
    Row("hmi:history_export", "GET", "/history/export.csv?tag={tag}", "A", API_READER_A),
    Row("hmi:history_export", "GET", "/history/export.csv?tag={tag}", "B", API_READER_B),
    Row("hmi:history_api", "GET", "/api/history/?tag={tag}", "A", API_READER_A),
    Row("hmi:history_api", "GET", "/api/history/?tag={tag}", "B", API_READER_B),
    Row("hmi:current_api", "GET", "/api/current/?tag={tag}", "A", API_READER_A),
    Row("hmi:current_api", "GET", "/api/current/?tag={tag}", "B", API_READER_B),
    Row("hmi:markers_api", "GET", "/api/markers/?tag={sp_tag}", "A", API_READER_A),
    Row("hmi:markers_api", "GET", "/api/markers/?tag={sp_tag}", "B", API_READER_B),
    # Predictive maintenance: the list, a machine's health card, the API and the CSV
    Row("hmi:maintenance", "GET", "/maintenance/", "", LOGGED_IN),
    Row("hmi:maintenance", "GET", "/maintenance/?plant={plant}", "B", MEMBER_OF_B),
    Row("hmi:health_card", "GET", "/maintenance/machines/{pump}/", "A", MEMBER_OF_A),
    Row("hmi:health_card", "GET", "/maintenance/machines/{pump}/", "B", MEMBER_OF_B),
    Row("hmi:maintenance_api", "GET", "/api/maintenance/?plant={plant}", "A", API_READER_A),
    Row("hmi:maintenance_api", "GET", "/api/maintenance/?plant={plant}", "B", API_READER_B),
    Row("hmi:maintenance_csv", "GET", "/maintenance/export.csv?plant={plant}", "A", API_READER_A),
    Row("hmi:maintenance_csv", "GET", "/maintenance/export.csv?plant={plant}", "B", API_READER_B),
    # Quality: the screens (plant members), the JSON API and the hourly export (readers)
    Row("hmi:quality_index", "GET", "/quality/", "", LOGGED_IN),
    Row("hmi:quality_tag", "GET", "/quality/{tag}/", "A", MEMBER_OF_A),
    Row("hmi:quality_tag", "GET", "/quality/{tag}/", "B", MEMBER_OF_B),
    Row("hmi:quality_live", "GET", "/quality/{tag}/live/", "A", MEMBER_OF_A),
    Row("hmi:quality_live", "GET", "/quality/{tag}/live/", "B", MEMBER_OF_B),
    Row("hmi:quality_hours", "GET", "/quality/{tag}/hours/", "A", MEMBER_OF_A),
    Row("hmi:quality_hours", "GET", "/quality/{tag}/hours/", "B", MEMBER_OF_B),
    Row("hmi:quality_export", "GET", "/quality/export.csv?tag={tag}", "A", API_READER_A),
    Row("hmi:quality_export", "GET", "/quality/export.csv?tag={tag}", "B", API_READER_B),
    Row("hmi:quality_api", "GET", "/api/quality/?tag={tag}", "A", API_READER_A),
    Row("hmi:quality_api", "GET", "/api/quality/?tag={tag}", "B", API_READER_B),
    Row("hmi:quality_chart_api", "GET", "/api/quality/charts/?tag={tag}", "A", API_READER_A),
    Row("hmi:quality_chart_api", "GET", "/api/quality/charts/?tag={tag}", "B", API_READER_B),
    Row("hmi:openapi", "GET", "/api/openapi.json", "", ANYONE),
    # Energy: the screens (a session), the API and the export (a session or a bearer token)
    Row("hmi:reports_index", "GET", "/reports/", "", LOGGED_IN),
    Row("hmi:reports_index", "GET", "/reports/?plant={plant}", "A", MEMBER_OF_A),
    Row("hmi:reports_index", "GET", "/reports/?plant={plant}", "B", MEMBER_OF_B),
    Row("hmi:report_build", "GET", "/reports/build/?plant={plant}&date=2026-12-02", "A",
        MEMBER_OF_A),
    Row("hmi:report_build", "GET", "/reports/build/?plant={plant}&date=2026-12-02", "B",
        MEMBER_OF_B),
    Row("hmi:report_detail", "GET", "/reports/{report}/", "A", MEMBER_OF_A),
    Row("hmi:report_detail", "GET", "/reports/{report}/", "B", MEMBER_OF_B),
    Row("hmi:report_pdf", "GET", "/reports/{report}/pdf/", "A", MEMBER_OF_A),
    Row("hmi:report_pdf", "GET", "/reports/{report}/pdf/", "B", MEMBER_OF_B),
    Row("hmi:report_csv", "GET", "/reports/{report}/csv/", "A", MEMBER_OF_A),
    Row("hmi:report_csv", "GET", "/reports/{report}/csv/", "B", MEMBER_OF_B),
    Row("hmi:energy_index", "GET", "/energy/", "", LOGGED_IN),
    Row("hmi:energy_plant", "GET", "/energy/plants/{plant}/", "A", MEMBER_OF_A),
    Row("hmi:energy_plant", "GET", "/energy/plants/{plant}/", "B", MEMBER_OF_B),
    Row("hmi:energy_demand", "GET", "/energy/plants/{plant}/demand/", "A", MEMBER_OF_A),
    Row("hmi:energy_demand", "GET", "/energy/plants/{plant}/demand/", "B", MEMBER_OF_B),
    Row("hmi:energy_export", "GET", "/energy/export.csv?plant={plant}", "A", API_READER_A),
    Row("hmi:energy_export", "GET", "/energy/export.csv?plant={plant}", "B", API_READER_B),
    Row("hmi:energy_api", "GET", "/api/energy/?plant={plant}", "A", API_READER_A),
    Row("hmi:energy_api", "GET", "/api/energy/?plant={plant}", "B", API_READER_B),
    Row("hmi:energy_demand_api", "GET", "/api/energy/demand/?plant={plant}", "A", API_READER_A),
    Row("hmi:energy_demand_api", "GET", "/api/energy/demand/?plant={plant}", "B", API_READER_B),
    # Alarms
    Row("hmi:alarm_summary", "GET", "/alarms/", "", LOGGED_IN),
    Row("hmi:alarm_summary", "GET", "/alarms/?plant={plant}&line={line}", "B", LOGGED_IN),
    Row("hmi:alarm_banner", "GET", "/alarms/banner/", "", LOGGED_IN),
    Row("hmi:alarm_history", "GET", "/alarms/history/", "", LOGGED_IN),
    Row("hmi:alarm_kpis", "GET", "/alarms/kpis/", "", LOGGED_IN),
    Row("hmi:acknowledge_all", "POST", "/alarms/acknowledge-all/", "A",
        "login 403 403 403 302* 302* 302 302* 403", (("alarm", "{alarm}"),), done="alarm"),
    Row("hmi:acknowledge_all", "POST", "/alarms/acknowledge-all/", "B",
        "login 403 403 403 302 302 302* 302* 403", (), done="alarm"),
    Row("hmi:acknowledge_alarm", "POST", "/alarms/{alarm}/acknowledge/", "A",
        "login 404 403 403 302* 302* 404 302* 403", (("comment", "seen"),), done="alarm"),
    Row("hmi:acknowledge_alarm", "POST", "/alarms/{alarm}/acknowledge/", "B",
        "login 404 404 404 404 404 302* 302* 403", (("comment", "seen"),), done="alarm"),
    Row("hmi:shelve_alarm", "POST", "/alarms/{alarm}/shelve/", "A",
        "login 404 403 403 302* 302* 404 302* 403", (("reason", "work"), ("minutes", "15")),
        done="alarm"),
    Row("hmi:shelve_alarm", "POST", "/alarms/{alarm}/shelve/", "B",
        "login 404 404 404 404 404 302* 302* 403", (("reason", "work"), ("minutes", "15")),
        done="alarm"),
    Row("hmi:unshelve_alarm", "POST", "/alarms/{shelved}/unshelve/", "A",
        "login 404 403 403 302* 302* 404 302* 403", (), done="shelved"),
    Row("hmi:unshelve_alarm", "POST", "/alarms/{shelved}/unshelve/", "B",
        "login 404 404 404 404 404 302* 302* 403", (), done="shelved"),
    # OEE: the screens, the API and export (a session or a token), a stop's reason
    Row("hmi:oee_overview", "GET", "/oee/", "", LOGGED_IN),
    Row("hmi:oee_machine", "GET", "/oee/machines/{machine}/", "A", MEMBER_OF_A),
    Row("hmi:oee_machine", "GET", "/oee/machines/{machine}/", "B", MEMBER_OF_B),
    Row("hmi:oee_machine_panel", "GET", "/oee/machines/{machine}/panel/", "A", MEMBER_OF_A),
    Row("hmi:oee_machine_panel", "GET", "/oee/machines/{machine}/panel/", "B", MEMBER_OF_B),
    Row("hmi:oee_line", "GET", "/oee/lines/{line}/", "A", MEMBER_OF_A),
    Row("hmi:oee_line", "GET", "/oee/lines/{line}/", "B", MEMBER_OF_B),
    Row("hmi:oee_api", "GET", "/api/oee/?machine={machine}", "A", API_READER_A),
    Row("hmi:oee_api", "GET", "/api/oee/?line={line}", "B", API_READER_B),
    Row("hmi:oee_export", "GET", "/oee/export.csv?machine={machine}", "A", API_READER_A),
    Row("hmi:oee_export", "GET", "/oee/export.csv?machine={machine}", "B", API_READER_B),
    Row("hmi:tag_stop", "POST", "/oee/machines/{machine}/stops/", "A",
        "login 403 403 302* 302* 302* 404 302* 403",
        (("started_at", STOP_AT.isoformat()), ("reason", "{reason}")), done="stop"),
    Row("hmi:tag_stop", "POST", "/oee/machines/{machine}/stops/", "B",
        "login 403 403 404 404 404 302* 302* 403",
        (("started_at", STOP_AT.isoformat()), ("reason", "{reason}")), done="stop"),
    # A person's own theme: anyone logged in, for themselves
    Row("hmi:set_theme", "POST", "/preferences/theme/", "",
        posted("login 302* 302* 302* 302* 302* 302* 302* login"), (("theme", "dark"),),
        done="theme"),
    # Logging in and out
    Row("login", "GET", "/accounts/login/", "", ANYONE),
    Row("logout", "POST", "/accounts/logout/", "", posted(LOGGED_OUT)),
    # Single sign-on, off here (no OIDC_ISSUER): both go back to the login page
    Row("sso_login", "GET", "/accounts/sso/login/", "", LOGGED_OUT),
    Row("sso_callback", "GET", "/accounts/sso/callback/", "", LOGGED_OUT),
    # The icon, for anyone (browsers ask before anyone logs in): a redirect to the static file
    Row("favicon", "GET", "/favicon.ico", "", "301 301 301 301 301 301 301 301 301"),
]
# fmt: on

# What a post may change, read before and after it: the row's plant's objects.
DONE: dict[str, Callable[[dict[str, int]], object]] = {
    "write": lambda ids: SetpointWrite.objects.filter(tag_id=ids["sp_tag"]).count(),
    "loop": lambda ids: ControlLoop.objects.get(pk=ids["loop"]).mode,
    "alarm": lambda ids: Alarm.objects.get(pk=ids["alarm"]).state,
    "shelved": lambda ids: Alarm.objects.get(pk=ids["shelved"]).state,
    "stop": lambda ids: MachineStop.objects.filter(machine_id=ids["machine"]).count(),
    "theme": lambda ids: sorted(UserPreference.objects.values_list("user_id", "theme")),
}
# Admin pages are the admin matrix's (test_admin_matrix.py): every registered model's pages
# and these pages of the admin site itself.
ADMIN_SITE = ["admin:index", "admin:login", "admin:logout", "admin:password_change",
              "admin:password_change_done", "admin:autocomplete", "admin:jsi18n",
              "admin:view_on_site", "admin:app_list"]  # fmt: skip
# Pages whose answers by role and plant another module tests, by name: the admin's plant
# configuration files (who may open, download, dry-run and apply, in which plants).
ELSEWHERE = {
    "admin:plant_plant_config": "tests/hmi/test_plant_config_page.py",
    "admin:plant_plant_config_apply": "tests/hmi/test_plant_config_page.py",
    "admin:plant_plant_export": "tests/hmi/test_plant_config_page.py",
}


def url_names(resolver: URLResolver, namespace: str = "") -> Iterator[str]:
    """Every URL of the URLconf by name; an unnamed one by its route."""
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_names(pattern, inner)
        elif isinstance(pattern, URLPattern):
            yield f"{namespace}{pattern.name}" if pattern.name else f"{namespace}{pattern.pattern}"


def is_admin_model_page(name: str) -> bool:
    """A page the admin makes for each registered model (changelist, add, change, ...), or
    the admin's unnamed ones (the object's bare URL, which redirects to its change page, and
    the catch-all)."""
    return name.startswith("admin:") and bool(
        re.fullmatch(r"admin:\w+_\w+_(changelist|add|history|delete|change|password_change)"
                     r"|admin:.*<path:object_id>/|admin:\(\?P<url>\.\*\)\$", name)
    )  # fmt: skip


def test_every_url_has_rows_in_the_matrix() -> None:
    covered = {row.name for row in ROWS} | set(ADMIN_SITE) | set(ELSEWHERE)
    assert all((Path(settings.BASE_DIR) / module).exists() for module in ELSEWHERE.values())
    names = list(url_names(get_resolver()))
    missing = [n for n in names if n not in covered and not is_admin_model_page(n)]
    assert missing == [], f"URLs without a row in the permission matrix: {missing}"
    stale = sorted(covered - set(names))
    assert stale == [], f"rows of URLs that no longer exist: {stale}"


def test_every_row_names_one_answer_per_role() -> None:
    bad = [(row.name, row.expect) for row in ROWS if len(row.expect.split()) != len(ROLES)]
    assert bad == []


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: object) -> Iterator[World]:
    yield from built_once(django_db_blocker)


def client_of(world: World, role: str) -> Client:
    """A browser of the role (a script with viewer A's read token for `token`), which enforces
    CSRF as a real one does."""
    if role == "token":
        return Client(
            enforce_csrf_checks=True, headers={"Authorization": f"Bearer {world.secrets['read']}"}
        )
    client = Client(enforce_csrf_checks=True)
    if role != "anon":
        client.force_login(world.users[role])
    return client


def csrf_token(client: Client) -> str:
    """The token a page gives the browser (every page's logout form, the login form)."""
    html = client.get("/accounts/login/").content.decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the login page carries a CSRF token"
    return match.group(1)


def body(response: HttpResponse) -> str:
    if not response.streaming:
        return response.content.decode(errors="replace")
    if response.is_async:

        async def read() -> bytes:
            return b"".join([chunk async for chunk in response.streaming_content])

        return async_to_sync(read)().decode(errors="replace")
    return b"".join(response.streaming_content).decode(errors="replace")


def answer(response: HttpResponse) -> str:
    """The response as the matrix writes it."""
    if response.status_code == 302:
        location = response["Location"]
        return "login" if location.startswith("/accounts/login/") else "302"
    return str(response.status_code)


def send(world: World, row: Row, role: str, *, with_csrf: bool = True) -> HttpResponse:
    client = client_of(world, role)
    ids = world.ids[row.plant] if row.plant else world.ids["A"]
    path = row.path.format(**ids)
    data = {key: value.format(**ids) for key, value in row.data}
    if row.method == "GET":
        return client.get(path)
    headers = {"X-CSRFToken": csrf_token(client)} if with_csrf else {}
    return client.post(path, data, headers=headers)


def row_id(row: Row) -> str:
    return f"{row.method} {row.path} {row.plant}".strip()


def leaked(world: World, role: str, text: str) -> list[str]:
    return [slug for slug in world.unseen_slugs(role) if slug in text.lower()]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_each_role_is_answered_as_the_matrix_says(world: World, row: Row, role: str) -> None:
    expected = row.expect.split()[ROLES.index(role)]
    ids = world.ids[row.plant or "A"]
    before = DONE[row.done](ids) if row.done else None
    response = send(world, row, role)
    got = answer(response)
    if row.done:
        changed = DONE[row.done](ids) != before
        got += "*" if changed else ""
    assert got == expected, f"{role}: {row.method} {row.path} ({row.plant or '-'})"
    if response.status_code == 200:
        text = body(response)
        assert leaked(world, role, text) == [], f"{role} is shown another plant's objects"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/alarms/", "/alarms/history/", "/audit/setpoints/", "/audit/setpoints.csv",
             "/audit/configuration/", "/trend/", "/audit/security/", "/audit/security.csv",
             "/maintenance/", "/api/maintenance/", "/maintenance/export.csv", "/oee/",
             "/energy/", "/reports/"],
)  # fmt: skip
def test_the_search_for_other_plants_would_find_them(world: World, path: str) -> None:
    """The superuser sees both plants on the lists: the slug search above is not blind."""
    text = body(client_of(world, "super").get(path))
    assert world.plants["A"].slug in text and world.plants["B"].slug in text


POSTS = [row for row in ROWS if row.method == "POST" and row.name != "logout"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", POSTS, ids=row_id)
def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    world: World, row: Row, role: str
) -> None:
    ids = world.ids[row.plant or "A"]
    before = DONE[row.done](ids) if row.done else None
    response = send(world, row, role, with_csrf=False)
    assert response.status_code == 403
    if row.done:
        assert DONE[row.done](ids) == before


def wrong_method(role: str, row: Row) -> str:
    """Pages answer a method they do not take with 405; without a session, the login comes
    first, except on the API, whose door answers the method before asking who is there, and on
    pages open to anyone; a post with a bearer token is refused before either."""
    if role == "token" and row.method == "GET":
        return "403"  # posted with a bearer token: refused before anything else
    if role in ("anon", "token") and row.expect.split()[0] not in ("401", "200"):
        return "login"
    return "405"


LOGIN_FREE = ("login", "logout", "favicon", "sso_login", "sso_callback")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["anon", "viewer", "admin_b", "super", "token"])
@pytest.mark.parametrize(
    # The pages anyone may open answer a wrong method 405 to everyone, logged in or not.
    "row",
    [r for r in ROWS if r.name not in LOGIN_FREE],
    ids=row_id,
)
def test_each_url_refuses_the_method_it_does_not_take(world: World, row: Row, role: str) -> None:
    client = client_of(world, role)
    ids = world.ids[row.plant or "A"]
    path = row.path.format(**ids)
    if row.method == "GET":
        response = client.post(path, headers={"X-CSRFToken": csrf_token(client)})
    else:
        response = client.get(path)
    assert answer(response) == wrong_method(role, row)


API = [row for row in ROWS if row.expect.split()[0] == "401"]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["expired", "revoked", "garbage", "inactive"])
@pytest.mark.parametrize("row", API, ids=row_id)
def test_a_dead_token_is_refused_by_every_api_endpoint(world: World, row: Row, kind: str) -> None:
    secret = world.secrets.get(kind, "scada_not-a-token")
    if kind == "inactive":
        secret = world.secrets["read"]
        User.objects.filter(pk=world.users["viewer"].pk).update(is_active=False)
    client = Client(headers={"Authorization": f"Bearer {secret}"})
    response = client.get(row.path.format(**world.ids[row.plant]))
    assert response.status_code == 401
    assert "error" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("row", API, ids=row_id)
def test_an_admins_token_reads_only_their_own_plant(world: World, row: Row) -> None:
    path = row.path.format(**world.ids[row.plant])
    for owner in ("admin_a", "admin_b"):
        client = Client(headers={"Authorization": f"Bearer {world.secrets[owner]}"})
        mine = row.plant == owner[-1].upper()
        assert client.get(path).status_code == (200 if mine else 404), owner


@pytest.mark.django_db
def test_a_session_ends_with_its_users_deactivation_and_a_plant_with_their_membership(
    world: World,
) -> None:
    viewer, line = world.users["viewer"], f"/lines/{world.ids['A']['line']}/"
    client = client_of(world, "viewer")
    assert client.get(line).status_code == 200
    world.plants["A"].members.remove(viewer)
    assert client.get(line).status_code == 404
    User.objects.filter(pk=viewer.pk).update(is_active=False)
    assert answer(client.get("/")) == "login"
