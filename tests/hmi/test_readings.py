"""How each tag's value reads on the live screens: units, states, staleness, gauges."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from plant.models import Alarm, Plant, Quality, Sample, Tag
from tests.hmi.test_views import element_text, page_html, page_url, set_latest, shown, tag


@pytest.mark.django_db
def test_a_latest_value_shows_with_the_tags_unit_and_precision(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    set_latest(tag(demo_plant, "fill_level"), 501.2345)
    set_latest(tag(demo_plant, "flow_rate"), 42.0)
    set_latest(tag(demo_plant, "bottles_filled"), 1234.0)
    set_latest(tag(demo_plant, "methane"), -0.01)
    html = page_html(client, users_by_role["viewer"], page_url(demo_plant, "line"))
    assert shown(html, tag(demo_plant, "fill_level")) == "501.2 ml"
    assert shown(html, tag(demo_plant, "flow_rate")) == "42.00 l/min"
    assert shown(html, tag(demo_plant, "bottles_filled")) == "1234 bottles"
    overview = page_html(client, users_by_role["viewer"])
    assert shown(overview, tag(demo_plant, "methane")) == "0.0 %LEL"


@pytest.mark.django_db
def test_bool_values_show_their_labels_and_string_values_their_text(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    set_latest(tag(demo_plant, "valve_open"), 1.0)
    set_latest(tag(demo_plant, "fan"), 0.0)
    set_latest(tag(demo_plant, "state"), None, text="running")
    html = page_html(client, users_by_role["viewer"])
    assert shown(html, tag(demo_plant, "valve_open")) == "open"
    assert shown(html, tag(demo_plant, "fan")) == "off"
    assert shown(html, tag(demo_plant, "state")) == "running"
    assert "onoff-on" in html and "onoff-off" in html  # the shape differs, not only the word
    assert "state-run" in html


@pytest.mark.django_db
def test_a_value_older_than_its_expected_interval_is_stale_and_says_when_it_was_good(
    client: Client, users_by_role: dict[str, User], fill_level: Tag
) -> None:
    set_latest(fill_level, 499.0, age_s=fill_level.expected_interval_s + 5)
    html = page_html(client, users_by_role["viewer"])
    assert shown(html, fill_level) == "499.0 ml stale"
    assert element_text(html, f"tag-{fill_level.pk}", "reading-since").startswith("last good ")
    assert 'class="reading reading-mini is-stale"' in html


@pytest.mark.django_db
def test_a_fresh_value_carries_no_marker_and_the_time_it_turns_stale(
    client: Client, users_by_role: dict[str, User], fill_level: Tag
) -> None:
    set_latest(fill_level, 499.0, age_s=fill_level.expected_interval_s - 5)
    html = page_html(client, users_by_role["viewer"])
    assert shown(html, fill_level) == "499.0 ml"
    assert 'class="reading reading-mini is-ok"' in html
    assert "data-stale-at=" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("quality", "marker"), [(Quality.BAD, "bad"), (Quality.UNCERTAIN, "uncertain")]
)
def test_a_value_of_poor_quality_is_marked_in_words(
    client: Client, users_by_role: dict[str, User], fill_level: Tag, quality: int, marker: str
) -> None:
    set_latest(fill_level, 499.0, quality=quality)
    html = page_html(client, users_by_role["viewer"])
    assert shown(html, fill_level) == f"499.0 ml {marker}"
    assert f"is-{marker}" in html


@pytest.mark.django_db
def test_bad_quality_outranks_staleness_and_names_the_last_good_time(
    client: Client, users_by_role: dict[str, User], fill_level: Tag
) -> None:
    set_latest(fill_level, 499.0, age_s=3600, quality=Quality.BAD, good_at=None)
    html = page_html(client, users_by_role["viewer"])
    assert shown(html, fill_level) == "499.0 ml bad"
    assert element_text(html, f"tag-{fill_level.pk}", "reading-since") == "no good value yet"


@pytest.mark.django_db
def test_the_machine_screen_draws_radial_gauges_with_band_setpoint_and_sparkline(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, fill_level: Tag
) -> None:
    now = timezone.now()
    Sample.objects.bulk_create(
        Sample(tag=fill_level, time=now - timedelta(seconds=s), value=500 + s / 100)
        for s in (200, 100, 10)
    )
    set_latest(fill_level, 501.5)
    set_latest(tag(demo_plant, "fill_level_sp"), 502.0)
    html = page_html(client, users_by_role["operator"], page_url(demo_plant, "machine"))
    gauge = html.split(f'id="tag-{fill_level.pk}"')[1].split("</svg>")[0]
    assert 'class="gauge gauge-radial"' in gauge
    assert 'class="gauge-band"' in gauge and 'class="gauge-setpoint"' in gauge
    assert shown(html, fill_level) == "501.5 ml"
    spark = html.split(f'id="spark-{fill_level.pk}"')[1].split("</div>")[0]
    assert spark.count("[") == 4  # three samples as [ms, value] pairs in one list
    assert 'ws-connect="/ws/machine/' in html


@pytest.mark.django_db
def test_a_gauge_without_a_setpoint_value_has_no_marker(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, fill_level: Tag
) -> None:
    set_latest(fill_level, 501.5)
    html = page_html(client, users_by_role["viewer"], page_url(demo_plant, "line"))
    gauge = html.split(f'id="tag-{fill_level.pk}"')[1].split("</svg>")[0]
    assert 'class="gauge gauge-bar"' in gauge
    assert "gauge-setpoint" not in gauge


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["line", "machine", "tag"])
def test_writable_tags_offer_the_setpoint_control(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant, page: str
) -> None:
    client.force_login(users_by_role["operator"])
    url = page_url(demo_plant, page)
    response = client.get(f"/tags/{tag(demo_plant, 'fill_level_sp').pk}/" if page == "tag" else url)
    used = [t.name for t in response.templates]
    assert "hmi/fragments/setpoint_control.html" in used


@pytest.mark.django_db
def test_each_tile_counts_its_lines_standing_alarms_by_priority(
    client: Client, users_by_role: dict[str, User], demo_plant: Plant
) -> None:
    methane_hh = Alarm.objects.get(definition__tag__key="methane", definition__kind="hh")
    Alarm.objects.filter(pk=methane_hh.pk).update(state="unack", active=True)
    html = page_html(client, users_by_role["viewer"])
    gas, filling = demo_plant.lines.get(slug="gas"), demo_plant.lines.get(slug="filling")
    counts = element_text(html, f"alarm-counts-{gas.pk}")
    assert counts == "1 critical 0 high 0 medium 0 low"
    assert element_text(html, f"alarm-counts-{filling.pk}") == "0 critical 0 high 0 medium 0 low"
