"""The admin's permission matrix: every model registered in the admin site, for the admins of
plant A and of plant B and a superuser, on a list and on an object of each plant.

A new registered model without rows here fails the first test. The rights of a role on an
object are read off the admin's own pages: v it opens the object (and finds it on the list),
c it may change it (a form, not a read-only page), d it opens the delete page; on a model's
list, v it opens the list and a the add page. "-" is none of them: Django's "does not exist"
or a 403. Everyone else (no staff flag) is sent to the admin's login by every admin page.
Every page an admin is shown is searched for the other plant's slug (tests/hmi/two_plants.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.forms import ModelChoiceField
from django.http import HttpResponse
from django.test import Client

from plant.models import AlarmJournalEntry, ApiToken, Machine, Plant, Tag
from tests.hmi.two_plants import (
    ROLES,
    SLUGS,
    STRAY_ROOT,
    World,
    built_once,
    stray_topic,
    topic_of,
)

pytestmark = pytest.mark.django_db
STAFF = ["admin_a", "admin_b", "super"]
NOT_STAFF = ["anon", "nobody", "viewer", "operator", "supervisor", "token"]

# model: rights on its list, for admin_a, admin_b, super
# fmt: off
LISTS = {
    "plant.plant":            "va va va",
    "plant.line":             "va va va",
    "plant.machine":          "va va va",
    "plant.tag":              "va va va",
    "plant.alarmdefinition":  "va va va",
    "plant.emergencyaction":  "va va va",
    "plant.controlloop":      "va va va",
    "plant.setpointwrite":    "v v v",
    "plant.alarm":            "v v v",
    "plant.alarmjournalentry": "v v v",   # append-only: nobody adds, changes or deletes
    "plant.rejectedmessage":  "v v v",
    "plant.unknowntopic":     "v v v",
    "plant.rejectiontally":   "- - v",
    "plant.systemalarm":      "v v v",
    "plant.workerheartbeat":  "v v v",
    "plant.apitoken":         "va va va",  # an admin's own tokens; superusers' anyone's
    "plant.sparkpluggroup":   "- - va",    # a group may belong to no plant yet
    "plant.sparkplugnode":    "- - v",
    "plant.sparkplugpendingbirth": "- - v",
    "plant.deviceidentity":   "va va va",  # broker logins of the admin's own plants' devices
    "plant.neurongateway":    "va va va",  # a gateway feeds one plant: its admins add it
    "plant.neurondevice":     "v v v",     # south nodes come from the gateway's own reports
    "plant.discoveredsignal": "v v v",     # signals come from what devices sent
    "plant.ssogroupmapping":  "- - va",    # a mapping may grant roles in any plant
    "plant.ssoidentity":      "- - v",     # written by the sign-in alone
    "plant.shift":            "va va va",  # the shift calendar of the admin's own plants
    "plant.planneddowntime":  "va va va",
    "plant.notificationroster": "va va va",  # who is told of their plants' alarms
    "plant.notificationdelivery": "v v v",   # the outbox: only the dispatcher writes it
    "plant.vibrationmonitor": "va va va",  # a tag's machine class: its zone alarms follow
    "plant.spcsettings":      "va va va",  # a tag's SPC settings, in the admin's own plants
    "plant.oeemachine":       "va va va",  # how OEE is measured on the admin's own machines
    "plant.stopreason":       "va va va",  # the reasons operators give stops
    "plant.plantenergy":      "va va va",  # a plant's demand contract
    "plant.energymeter":      "va va va",  # the meters of the admin's own plants
    "plant.shiftreportsettings": "va va va",  # the mailing list of the admin's own plants
    "auth.user":              "- - va",    # only superusers manage people and roles
    "auth.group":             "- - va",
}
# (model, whose object, the object's kind in World.ids): rights of admin_a, admin_b, super.
# X is nobody's plant: a topic under no plant's slug, or the product's own rows.
OBJECTS = [
    ("plant.plant", "A", "plant",                 "vcd - vcd"),
    ("plant.plant", "B", "plant",                 "- vcd vcd"),
    ("plant.line", "A", "line",                   "vcd - vcd"),
    ("plant.line", "B", "line",                   "- vcd vcd"),
    ("plant.machine", "A", "machine",             "vcd - vcd"),
    ("plant.machine", "B", "machine",             "- vcd vcd"),
    ("plant.tag", "A", "tag",                     "vcd - vcd"),
    ("plant.tag", "B", "tag",                     "- vcd vcd"),
    ("plant.alarmdefinition", "A", "definition",  "vc - vc"),
    ("plant.alarmdefinition", "B", "definition",  "- vc vc"),
    ("plant.emergencyaction", "A", "emergency",   "vcd - vcd"),
    ("plant.emergencyaction", "B", "emergency",   "- vcd vcd"),
    ("plant.controlloop", "A", "loop",            "vc - vc"),
    ("plant.controlloop", "B", "loop",            "- vc vc"),
    ("plant.setpointwrite", "A", "write",         "v - v"),
    ("plant.setpointwrite", "B", "write",         "- v v"),
    ("plant.alarm", "A", "alarm",                 "v - v"),
    ("plant.alarm", "B", "alarm",                 "- v v"),
    ("plant.alarmjournalentry", "A", "journal",   "v - v"),
    ("plant.alarmjournalentry", "B", "journal",   "- v v"),
    ("plant.rejectedmessage", "A", "rejected",    "v - vd"),
    ("plant.rejectedmessage", "B", "rejected",    "- v vd"),
    ("plant.rejectedmessage", "X", "rejected",    "- - vd"),
    ("plant.unknowntopic", "A", "unknown",        "vd - vd"),
    ("plant.unknowntopic", "B", "unknown",        "- vd vd"),
    ("plant.unknowntopic", "X", "unknown",        "- - vd"),
    ("plant.rejectiontally", "X", "tally",        "- - v"),
    ("plant.systemalarm", "X", "systemalarm",     "v v v"),
    ("plant.workerheartbeat", "X", "heartbeat",   "v v v"),
    ("plant.apitoken", "A", "token",              "vc - vc"),
    ("plant.apitoken", "B", "token",              "- vc vc"),
    ("plant.sparkpluggroup", "X", "spgroup",      "- - vc"),
    ("plant.sparkplugnode", "X", "spnode",        "- - v"),
    ("plant.sparkplugpendingbirth", "X", "sppending", "- - v"),
    ("plant.deviceidentity", "A", "device",       "vcd - vcd"),
    ("plant.deviceidentity", "B", "device",       "- vcd vcd"),
    ("plant.neurongateway", "A", "gateway",       "vc - vcd"),
    ("plant.neurongateway", "B", "gateway",       "- vc vcd"),
    ("plant.neurondevice", "A", "south",          "vc - vcd"),
    ("plant.neurondevice", "B", "south",          "- vc vcd"),
    ("plant.discoveredsignal", "A", "signal",     "vc - vcd"),
    ("plant.discoveredsignal", "B", "signal",     "- vc vcd"),
    ("plant.ssogroupmapping", "X", "ssomap",      "- - vcd"),
    ("plant.ssoidentity", "X", "ssoid",           "- - v"),
    ("plant.shift", "A", "shift",                 "vcd - vcd"),
    ("plant.shift", "B", "shift",                 "- vcd vcd"),
    ("plant.planneddowntime", "A", "downtime",    "vcd - vcd"),
    ("plant.planneddowntime", "B", "downtime",    "- vcd vcd"),
    ("plant.notificationroster", "A", "roster",   "vcd - vcd"),
    ("plant.notificationroster", "B", "roster",   "- vcd vcd"),
    ("plant.notificationdelivery", "A", "delivery", "v - v"),
    ("plant.notificationdelivery", "B", "delivery", "- v v"),
    ("plant.vibrationmonitor", "A", "vibration",  "vcd - vcd"),
    ("plant.vibrationmonitor", "B", "vibration",  "- vcd vcd"),
    ("plant.spcsettings", "A", "spc",             "vcd - vcd"),
    ("plant.spcsettings", "B", "spc",             "- vcd vcd"),
    ("plant.oeemachine", "A", "oee",              "vcd - vcd"),
    ("plant.oeemachine", "B", "oee",              "- vcd vcd"),
    ("plant.stopreason", "A", "reason",           "vc - vc"),   # given reasons stay: withdrawn
    ("plant.stopreason", "B", "reason",           "- vc vc"),
    ("plant.plantenergy", "A", "plant_energy",    "vcd - vcd"),
    ("plant.plantenergy", "B", "plant_energy",    "- vcd vcd"),
    ("plant.energymeter", "A", "meter",           "vcd - vcd"),
    ("plant.energymeter", "B", "meter",           "- vcd vcd"),
    ("plant.shiftreportsettings", "A", "report_settings", "vcd - vcd"),
    ("plant.shiftreportsettings", "B", "report_settings", "- vcd vcd"),
    ("auth.user", "A", "user",                    "- - vcd"),
    ("auth.user", "B", "user",                    "- - vcd"),
    ("auth.group", "X", "group",                  "- - vcd"),
]
# Pages of the admin site itself, for every role (two_plants.ROLES) in its order:
#   admin-login  302 to the admin's login form; admin-index 302 to the admin's index
STAFF_ONLY = "admin-login admin-login admin-login admin-login admin-login {} {} {} admin-login"
SITE = [
    ("/admin/", "GET", STAFF_ONLY.format(200, 200, 200)),
    ("/admin/plant/", "GET", STAFF_ONLY.format(200, 200, 200)),
    ("/admin/auth/", "GET", STAFF_ONLY.format(404, 404, 200)),  # users and groups
    ("/admin/login/", "GET", "200 200 200 200 200 admin-index admin-index admin-index 200"),
    # Logging out harms no one: each is logged out and sent on.
    ("/admin/logout/", "POST", "admin-login admin-index admin-index admin-index admin-index "
                               "login login login 403"),  # a bearer token is refused a post
    ("/admin/password_change/", "GET", STAFF_ONLY.format(200, 200, 200)),
    ("/admin/password_change/done/", "GET", STAFF_ONLY.format(200, 200, 200)),
    ("/admin/jsi18n/", "GET", STAFF_ONLY.format(200, 200, 200)),
    ("/admin/autocomplete/", "GET", STAFF_ONLY.format(403, 403, 403)),  # no field named
    ("/admin/r/{tag_type}/{tag}/", "GET", STAFF_ONLY.format(404, 404, 404)),  # no site pages
    ("/admin/no-such-page/", "GET", STAFF_ONLY.format(404, 404, 404)),
    # Setting another's password: the site's login comes first without a session.
    ("/admin/auth/user/{user}/password/", "GET",
     "login admin-login admin-login admin-login admin-login 403 403 200 login"),
]
# fmt: on


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: object) -> Iterator[World]:
    yield from built_once(django_db_blocker)


def client_of(world: World, role: str) -> Client:
    """A browser of the role; for `token`, a script with viewer A's read token."""
    if role == "token":
        return Client(headers={"Authorization": f"Bearer {world.secrets['read']}"})
    client = Client()
    if role != "anon":
        client.force_login(world.users[role])
    return client


def unseen(world: World, role: str, response: HttpResponse) -> list[str]:
    text = response.content.decode(errors="replace").lower()
    return [slug for slug in world.unseen_slugs(role) if slug in text]


def admin_url(model: str) -> str:
    return "/admin/{}/{}/".format(*model.split("."))


def test_every_registered_model_has_rows() -> None:
    registered = sorted(m._meta.label_lower for m in admin.site._registry)
    assert sorted(LISTS) == registered, "a model's admin without rows in the admin matrix"
    assert {model for model, *_ in OBJECTS} == set(LISTS)


def list_rights(world: World, role: str, model: str) -> str:
    client = client_of(world, role)
    listing = client.get(admin_url(model))
    add = client.get(admin_url(model) + "add/")
    for response in (listing, add):
        if response.status_code == 200:
            assert unseen(world, role, response) == [], f"{role} is shown another plant"
    rights = ("v" if listing.status_code == 200 else "") + ("a" if add.status_code == 200 else "")
    return rights or "-"


def object_rights(world: World, role: str, model: str, pk: int) -> str:
    client = client_of(world, role)
    base = f"{admin_url(model)}{pk}/"
    change, delete, history = (client.get(base + page) for page in ("change/", "delete/",
                                                                     "history/"))  # fmt: skip
    listing = client.get(admin_url(model))
    listed = listing.status_code == 200 and pk in {o.pk for o in listing.context["cl"].queryset}
    rights = ""
    if change.status_code == 200:
        rights += "v" + ("c" if change.context["has_change_permission"] else "")
    rights += "d" if delete.status_code == 200 else ""
    for response in (change, delete, history):
        if response.status_code == 200:
            assert unseen(world, role, response) == [], f"{role} is shown another plant"
    assert listed == ("v" in rights), f"{role}: the list and the object's page disagree"
    assert (history.status_code == 200) == ("v" in rights), f"{role}: its history page"
    return rights or "-"


@pytest.mark.parametrize("model", list(LISTS))
def test_each_admin_has_the_rights_on_each_list_the_matrix_says(world: World, model: str) -> None:
    got = " ".join(list_rights(world, role, model) for role in STAFF)
    assert got == LISTS[model], f"admin_a admin_b super on the list of {model}"


@pytest.mark.parametrize(("model", "whose", "kind", "expected"), OBJECTS,
                         ids=[f"{m}-{w}" for m, w, *_ in OBJECTS])  # fmt: skip
def test_each_admin_has_the_rights_on_each_object_the_matrix_says(
    world: World, model: str, whose: str, kind: str, expected: str
) -> None:
    pk = world.ids[whose][kind]
    got = " ".join(object_rights(world, role, model, pk) for role in STAFF)
    assert got == expected, f"admin_a admin_b super on {model} {pk} ({whose})"


@pytest.mark.parametrize("role", NOT_STAFF)
@pytest.mark.parametrize("model", list(LISTS))
def test_no_admin_page_opens_for_anyone_without_the_staff_flag(
    world: World, model: str, role: str
) -> None:
    client = client_of(world, role)
    whose, kind = next((w, k) for m, w, k, _ in OBJECTS if m == model)
    pk = world.ids[whose][kind]
    for page in ("", "add/", f"{pk}/change/", f"{pk}/delete/", f"{pk}/history/"):
        response = client.get(admin_url(model) + page)
        # Without a session the site's login comes first; with one, the admin's.
        login = "/accounts/login/" if role in ("anon", "token") else "/admin/login/"
        assert response.status_code == 302, page
        assert response["Location"].startswith(login), page


def site_answer(response: HttpResponse) -> str:
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/admin/login/"):
            return "admin-login"
        if location.startswith("/accounts/login/"):
            return "login"
        return "admin-index" if location == "/admin/" else location
    return str(response.status_code)


@pytest.mark.parametrize(("path", "method", "expected"), SITE, ids=[p for p, *_ in SITE])
def test_the_admin_sites_own_pages_answer_each_role_as_the_matrix_says(
    world: World, path: str, method: str, expected: str
) -> None:
    ids = world.ids["A"] | {"tag_type": ContentType.objects.get_for_model(Tag).pk}
    got = []
    for role in ROLES:
        client = client_of(world, role)
        url = path.format(**ids)
        got.append(site_answer(client.post(url) if method == "POST" else client.get(url)))
    assert " ".join(got) == expected


def form_choices(response: HttpResponse) -> Iterator[tuple[str, ModelChoiceField]]:
    """Every foreign-key and many-to-many field of an admin page's form and its inlines."""
    forms = [response.context["adminform"].form]
    for formset in response.context.get("inline_admin_formsets", []):
        forms += [*formset.formset.forms, formset.formset.empty_form]
    for form in forms:
        for name, form_field in form.fields.items():
            # An inline row's hidden id names its own object; the formset finds that among
            # the parent's rows only, whatever the field's choices.
            if isinstance(form_field, ModelChoiceField) and name != form._meta.model._meta.pk.name:
                yield name, form_field


@pytest.mark.parametrize("role", ["admin_a", "admin_b"])
@pytest.mark.parametrize("model", list(LISTS))
def test_an_admins_forms_offer_no_other_plants_object_and_no_other_person(
    world: World, model: str, role: str
) -> None:
    client = client_of(world, role)
    whose, kind = next(
        (w, k) for m, w, k, _ in OBJECTS if m == model and w in ("X", role[-1].upper())
    )
    pages = [admin_url(model) + "add/", f"{admin_url(model)}{world.ids[whose][kind]}/change/"]
    me = world.users[role]
    for page in pages:
        response = client.get(page)
        if response.status_code != 200 or "adminform" not in response.context:
            continue
        for name, form_field in form_choices(response):
            offered = list(form_field.queryset)
            shown = [str(o) for o in offered if any(s in str(o).lower() for s in
                                                    world.unseen_slugs(role))]  # fmt: skip
            assert shown == [], f"{page} {name} offers another plant's objects"
            people = [o for o in offered if isinstance(o, User) and o != me]
            assert people == [], f"{page} {name} offers other people"


AUTOCOMPLETES = [
    (model_admin.model._meta.label_lower, name)
    for model_admin in admin.site._registry.values()
    for name in model_admin.autocomplete_fields
]


@pytest.mark.parametrize("role", ["admin_a", "admin_b"])
@pytest.mark.parametrize(("model", "field"), AUTOCOMPLETES)
def test_autocomplete_finds_only_the_admins_own_plants_objects(
    world: World, model: str, field: str, role: str
) -> None:
    app_label, model_name = model.split(".")
    query = {"app_label": app_label, "model_name": model_name, "field_name": field, "term": ""}
    response = client_of(world, role).get("/admin/autocomplete/", query)
    assert response.status_code == 200
    found = [row["text"].lower() for row in response.json()["results"]]
    assert found, "it finds the admin's own objects"
    mine = SLUGS[role[-1].upper()]
    assert [text for text in found if mine not in text] == [], "only the admin's own plant's"


# The known holes: a plant admin claiming topics under another plant's slug, and seeing every
# plant's rejected messages and unknown topics.


def tag_form(machine: Machine, topic: str, key: str = "new_sensor") -> dict[str, str]:
    return {"machine": str(machine.pk), "key": key, "topic": topic, "data_type": "float",
            "precision": "1", "deadband": "0", "readback_tolerance": "0.5",
            "expected_interval_s": "10", "heartbeat_s": "60"}  # fmt: skip


@pytest.mark.parametrize(
    ("topic", "accepted"),
    [(topic_of("A", "filling/filler/new_sensor"), True),
     (topic_of("B", "filling/filler/new_sensor"), False),  # plant B's unknown topic
     (topic_of("B", "filling/filler/brand_new"), False),
     (stray_topic("x/y/new"), False)],  # nobody's unknown topic
)  # fmt: skip
def test_a_plant_admin_creates_tags_only_on_their_own_plants_topics(
    world: World, topic: str, accepted: bool
) -> None:
    machine = Machine.objects.get(pk=world.ids["A"]["machine"])
    response = client_of(world, "admin_a").post("/admin/plant/tag/add/", tag_form(machine, topic))
    assert Tag.objects.filter(topic=topic).exists() == accepted
    if not accepted:
        assert "topic" in response.context["adminform"].form.errors


def test_the_create_tag_button_of_another_plants_topic_leads_to_a_refusal(world: World) -> None:
    topic = topic_of("B", "filling/filler/new_sensor")
    client = client_of(world, "admin_a")
    page = client.get("/admin/plant/tag/add/", {"topic": topic, "key": "new_sensor"})
    assert page.status_code == 200
    machine = Machine.objects.get(pk=world.ids["A"]["machine"])
    client.post("/admin/plant/tag/add/", tag_form(machine, topic))
    assert not Tag.objects.filter(topic=topic).exists()


def test_a_plant_admin_cannot_move_their_tag_onto_another_plants_topic(world: World) -> None:
    tag = Tag.objects.get(pk=world.ids["A"]["tag"])
    form = client_of(world, "admin_a").get(f"/admin/plant/tag/{tag.pk}/change/")
    data = {k: "" if v is None else v for k, v in form.context["adminform"].form.initial.items()}
    data = {k: v for k, v in data.items() if not isinstance(v, list)}
    data["topic"] = topic_of("B", "filling/filler/new_sensor")
    response = client_of(world, "admin_a").post(f"/admin/plant/tag/{tag.pk}/change/", data)
    assert "topic" in response.context["adminform"].form.errors
    tag.refresh_from_db()
    assert tag.topic == topic_of("A", "filling/filler/fill_level")


def test_a_plant_admin_cannot_claim_another_plants_topic_through_the_machines_tag_rows(
    world: World,
) -> None:
    machine = Machine.objects.get(pk=world.ids["A"]["machine"])
    client = client_of(world, "admin_a")
    page = client.get(f"/admin/plant/machine/{machine.pk}/change/")
    formset = page.context["inline_admin_formsets"][0].formset
    data = {"name": machine.name, "slug": machine.slug, "line": str(machine.line_id),
            "position": str(machine.position)}  # fmt: skip
    data |= {f"{formset.prefix}-TOTAL_FORMS": "1", f"{formset.prefix}-INITIAL_FORMS": "0"}
    topic = topic_of("B", "filling/filler/new_sensor")
    row = tag_form(machine, topic)
    data |= {f"{formset.prefix}-0-{k}": v for k, v in row.items() if k != "machine"}
    response = client.post(f"/admin/plant/machine/{machine.pk}/change/", data)
    assert not Tag.objects.filter(topic=topic).exists()
    assert "topic" in response.context["inline_admin_formsets"][0].formset.errors[0]


def test_a_superuser_may_adopt_a_topic_under_no_plants_slug(world: World) -> None:
    machine = Machine.objects.get(pk=world.ids["A"]["machine"])
    topic = stray_topic("x/y/new")
    response = client_of(world, "super").post("/admin/plant/tag/add/", tag_form(machine, topic))
    assert response.status_code == 302
    assert Tag.objects.filter(topic=topic, machine=machine).exists()


@pytest.mark.parametrize("model", ["unknowntopic", "rejectedmessage"])
def test_an_admin_cannot_delete_another_plants_or_nobodys_topic_records(
    world: World, model: str
) -> None:
    kind = "unknown" if model == "unknowntopic" else "rejected"
    ids = [world.ids[w][kind] for w in ("A", "B", "X")]
    client = client_of(world, "admin_a")
    data = {"action": "delete_selected", "_selected_action": [str(pk) for pk in ids],
            "post": "yes"}  # fmt: skip
    client.post(f"/admin/plant/{model}/", data)
    remaining = set(apps.get_model("plant", model).objects.values_list("pk", flat=True))
    assert {ids[1], ids[2]} <= remaining


def test_a_journal_cannot_be_changed_even_by_a_superuser(world: World) -> None:
    entry = AlarmJournalEntry.objects.get(pk=world.ids["A"]["journal"])
    before = entry.comment
    client = client_of(world, "super")
    url = f"/admin/plant/alarmjournalentry/{entry.pk}/change/"
    assert client.post(url, {"comment": "rewritten"}).status_code == 403
    assert client.post(f"/admin/plant/alarmjournalentry/{entry.pk}/delete/",
                       {"post": "yes"}).status_code == 403  # fmt: skip
    entry.refresh_from_db()
    assert entry.comment == before


def test_a_plant_admin_issues_tokens_only_for_themself(world: World) -> None:
    client = client_of(world, "admin_a")
    viewer = world.users["viewer"]
    client.post("/admin/plant/apitoken/add/", {"user": str(viewer.pk), "name": "stolen"})
    assert not ApiToken.objects.filter(name="stolen").exists()


def test_an_admin_form_post_without_the_csrf_token_is_refused(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["super"])
    machine = Machine.objects.get(pk=world.ids["A"]["machine"])
    topic = topic_of("A", "filling/filler/forged")
    assert client.post("/admin/plant/tag/add/", tag_form(machine, topic)).status_code == 403
    assert not Tag.objects.filter(topic=topic).exists()


FOREIGN_KEYS = sorted(
    (model._meta.label_lower, field.name)
    for model in admin.site._registry
    for field in model._meta.get_fields()
    if (field.many_to_one or field.many_to_many) and not field.auto_created
    and field.related_model in admin.site._registry
)  # fmt: skip


@pytest.mark.parametrize(("model", "field"), FOREIGN_KEYS)
def test_no_autocomplete_request_finds_another_plants_objects(
    world: World, model: str, field: str
) -> None:
    """Django's autocomplete answers for any foreign key whose target has a searchable admin
    page, declared as autocomplete or not: a crafted request must find nothing of plant B."""
    app_label, model_name = model.split(".")
    query = {"app_label": app_label, "model_name": model_name, "field_name": field, "term": ""}
    response = client_of(world, "admin_a").get("/admin/autocomplete/", query)
    assert response.status_code in (200, 403, 404)
    if response.status_code == 200:
        texts = [row["text"].lower() for row in response.json()["results"]]
        assert [t for t in texts if "osprey" in t or t.startswith(("admin-", "root"))] == []


@pytest.mark.parametrize("model", [m for m, rights in LISTS.items() if rights[0] == "v"])
def test_the_raw_id_lookup_popup_lists_only_the_admins_own_plants_objects(
    world: World, model: str
) -> None:
    response = client_of(world, "admin_a").get(admin_url(model), {"_to_field": "id",
                                                                 "_popup": "1"})  # fmt: skip
    assert response.status_code == 200
    assert unseen(world, "admin_a", response) == []


def plant_form(slug: str) -> dict[str, str]:
    return {"name": f"Plant {slug}", "slug": slug, "time_zone": "UTC",
            "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0"}  # fmt: skip


@pytest.mark.parametrize(
    ("slug", "accepted"),
    [("heron", True),  # nothing arrives under it yet
     (STRAY_ROOT.strip("/"), False)],  # messages of no plant arrive under it
)  # fmt: skip
def test_a_plant_admins_new_plant_cannot_take_over_topics_of_no_plant(
    world: World, slug: str, accepted: bool
) -> None:
    client_of(world, "admin_a").post("/admin/plant/plant/add/", plant_form(slug))
    assert Plant.objects.filter(slug=slug).exists() == accepted


def test_a_plant_admin_cannot_rename_their_plant_onto_topics_of_no_plant(world: World) -> None:
    plant = world.plants["A"]
    data = plant_form(STRAY_ROOT.strip("/")) | {"name": plant.name}
    client_of(world, "admin_a").post(f"/admin/plant/plant/{plant.pk}/change/", data)
    assert Plant.objects.get(pk=plant.pk).slug == SLUGS["A"]


def test_a_superuser_may_found_a_plant_on_topics_of_no_plant(world: World) -> None:
    client_of(world, "super").post("/admin/plant/plant/add/", plant_form(STRAY_ROOT.strip("/")))
    assert Plant.objects.filter(slug=STRAY_ROOT.strip("/")).exists()


@pytest.mark.parametrize(
    ("model", "whose", "kind"), [(m, w, k) for m, w, k, _ in OBJECTS if w in ("B", "X")],
    ids=[f"{m}-{w}" for m, w, *_ in OBJECTS if w in ("B", "X")],
)  # fmt: skip
def test_the_delete_action_of_a_list_deletes_nothing_of_another_plant(
    world: World, model: str, whose: str, kind: str
) -> None:
    pk = world.ids[whose][kind]
    data = {"action": "delete_selected", "_selected_action": [str(pk)], "post": "yes"}
    client_of(world, "admin_a").post(admin_url(model), data)
    app_label, model_name = model.split(".")
    assert apps.get_model(app_label, model_name)._default_manager.filter(pk=pk).exists()


@pytest.mark.parametrize(("whose", "revoked"), [("A", True), ("B", False)])
def test_a_plant_admin_revokes_only_their_own_tokens(
    world: World, whose: str, revoked: bool
) -> None:
    pk = world.ids[whose]["token"]
    data = {"action": "revoke", "_selected_action": [str(pk)]}
    client_of(world, "admin_a").post("/admin/plant/apitoken/", data)
    assert (ApiToken.objects.get(pk=pk).revoked_at is not None) == revoked


def test_a_plant_admin_issues_their_own_read_token(world: World) -> None:
    me = world.users["admin_a"]
    client_of(world, "admin_a").post("/admin/plant/apitoken/add/", {"user": str(me.pk),
                                                                    "name": "mine"})  # fmt: skip
    assert ApiToken.objects.get(name="mine").issued_by == me


def device_form(plant: Plant, username: str, prefix: str, password: str = "") -> dict[str, str]:
    return {"plant": str(plant.pk), "username": username, "topic_prefix": prefix,
            "sparkplug_group": "", "sparkplug_node": "", "enabled": "on",
            "description": "", "new_password": password}  # fmt: skip


def test_a_plant_admin_gives_broker_logins_only_to_their_own_plants_topics(world: World) -> None:
    from plant.models import DeviceIdentity
    from plant.mosquitto_auth import check_password

    client = client_of(world, "admin_a")
    a, b = world.plants["A"], world.plants["B"]
    client.post("/admin/plant/deviceidentity/add/",
                device_form(b, "into-b", topic_of("B", "filling")))  # fmt: skip
    response = client.post("/admin/plant/deviceidentity/add/",
                           device_form(a, "a-onto-b", topic_of("B", "filling")))  # fmt: skip
    assert "topic_prefix" in response.context["adminform"].form.errors
    assert not DeviceIdentity.objects.filter(username__in=["into-b", "a-onto-b"]).exists()
    response = client.post("/admin/plant/deviceidentity/add/",
                           device_form(a, "a-filler", topic_of("A", "filling/filler")),
                           follow=True)  # fmt: skip
    device = DeviceIdentity.objects.get(username="a-filler")
    shown = [str(m) for m in response.context["messages"]]
    password = shown[0].split(" is ", 1)[1].split()[0]
    assert check_password(password, device.password_hash)
    change = f"/admin/plant/deviceidentity/{device.pk}/change/"
    assert password not in client.get(change).content.decode()
    filler = topic_of("A", "filling/filler")
    page = client.post(change, device_form(a, "a-filler", filler, "short"))
    assert "new_password" in page.context["adminform"].form.errors
    client.post(change, device_form(a, "a-filler", filler, "n" * 20))
    device.refresh_from_db()
    assert check_password("n" * 20, device.password_hash)
