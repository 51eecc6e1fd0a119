"""The compact live frame (hmi/live_frames.py): what a pushed value travels as.

A row must say everything the value's element shows, so that static/hmi/live_frames.js,
applying it to the element of the page, draws what hmi.readings would have drawn. The times
are the part it computes itself (from epoch ms and the frame's UTC offset): the property test
below writes them as that script does and compares them with the element's own title and
"last good" text, in zones east and west of UTC, half-hour ones and across DST changes.
"""

from __future__ import annotations

import json
import re
import zoneinfo
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from hmi import live_frames
from hmi.readings import ScreenReading, read_value, reading_html
from plant.models import Quality, Tag

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Adelaide"]
NOW = datetime(2026, 12, 3, 14, 3, 7, 250000, tzinfo=UTC)


def gauge_tag(**fields: object) -> Tag:
    """A float tag with a range and a normal band, as the screens show most tags."""
    defaults: dict[str, object] = {
        "pk": 7, "key": "level", "unit": "ml", "range_min": 0.0, "range_max": 1000.0,
        "normal_min": 100.0, "normal_max": 900.0, "precision": 1, "expected_interval_s": 30,
    }  # fmt: skip
    return Tag(**(defaults | fields))


def reading(tag: Tag, value: float | None = 512.5, *, quality: int = Quality.GOOD,
            time: datetime = NOW, good_at: datetime | None = NOW, now: datetime = NOW,
            setpoint: float | None = None) -> ScreenReading:  # fmt: skip
    return read_value(tag, value=value, text=None, quality=quality, time=time, now=now,
                      good_at=good_at, setpoint=setpoint)  # fmt: skip


def frame(readings: list[ScreenReading], style: str = "radial", zone: str = "UTC",
          now: datetime = NOW) -> dict[str, object]:  # fmt: skip
    return json.loads(live_frames.encode(readings, style, zoneinfo.ZoneInfo(zone), now))


def test_a_value_travels_as_one_row_of_what_its_element_shows() -> None:
    tag = gauge_tag()
    got = frame([reading(tag, setpoint=500.0)])
    assert got == {
        "z": [0, "UTC"],
        "v": [[7, "ok", "512.5", 1796306587250, 512.5, 0.5125, 0.5, 0, 30]],
    }


def test_a_bad_value_is_not_marked_to_turn_stale_and_says_it_was_never_good() -> None:
    got = frame([reading(gauge_tag(), 3.0, quality=Quality.BAD, good_at=None)])
    assert got["v"] == [[7, "bad", "3.0", 1796306587250, 3.0, 0.003, None, -1, 0]]


def test_a_stale_value_keeps_the_time_it_was_last_good() -> None:
    time = NOW - timedelta(seconds=40)
    good_at = NOW - timedelta(seconds=50)
    got = frame([reading(gauge_tag(), time=time, good_at=good_at)])
    (row,) = got["v"]
    assert row[1] == "stale" and row[7] == int(good_at.timestamp() * 1000) and row[8] == 0


def test_a_value_without_a_range_has_no_position() -> None:
    tag = gauge_tag(range_min=None, range_max=None, normal_min=None, normal_max=None)
    (row,) = frame([reading(tag)])["v"]
    assert row[5] is None and row[6] is None


def test_values_whose_element_changes_shape_travel_whole() -> None:
    on_off = gauge_tag(pk=8, data_type=Tag.DataType.BOOL, range_min=None, range_max=None,
                       normal_min=None, normal_max=None)  # fmt: skip
    state = gauge_tag(pk=9, data_type=Tag.DataType.STRING, range_min=None, range_max=None,
                      normal_min=None, normal_max=None)  # fmt: skip
    whole = [
        reading(gauge_tag(pk=10), None),  # no value: "—", no unit, no "last good"
        reading(on_off, 1.0),
        read_value(state, value=None, text="running", quality=Quality.GOOD, time=NOW, now=NOW),
        reading(gauge_tag(pk=11), good_at=NOW - timedelta(days=1)),  # "last good 02 Dec 14:03"
    ]
    kept = reading(gauge_tag(pk=12))
    got = frame([*whole, kept])
    assert [row[0] for row in got["v"]] == [12]
    with timezone.override("UTC"):
        assert got["h"] == "".join(reading_html(r, "radial") for r in whole)


def test_a_good_value_of_yesterday_travels_whole() -> None:
    # Its "last good" names the day (hmi.readings.clock), even when it is the value's own time.
    now = timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = midnight - timedelta(seconds=1)
    got = frame([reading(gauge_tag(), time=yesterday, good_at=yesterday, now=now)], now=now)
    assert "v" not in got and "last good " in got["h"]


def test_a_value_in_another_utc_offset_than_now_travels_whole() -> None:
    # Berlin changed from +2 to +1 on 25 October 2026: a summer value read in winter.
    summer = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    got = frame([reading(gauge_tag(), time=summer, good_at=summer, now=NOW)], zone="Europe/Berlin")
    assert "v" not in got and 'id="tag-7"' in got["h"]
    assert got["z"] == [3600, "CET"]


def test_no_readings_make_no_frame() -> None:
    assert live_frames.encode([], "radial", zoneinfo.ZoneInfo("UTC"), NOW) == ""


def js_local(ms: int, offset_s: int) -> str:
    """live_frames.js's local(): epoch ms in the plant's offset, as toISOString writes it."""
    shifted = datetime.fromtimestamp((ms + offset_s * 1000) / 1000, UTC)
    return shifted.strftime("%Y-%m-%d %H:%M:%S.") + f"{shifted.microsecond // 1000:03d}Z"


@given(
    zone=st.sampled_from(ZONES),
    age_s=st.floats(min_value=0, max_value=86_400 * 200, allow_nan=False),
    good_before_s=st.one_of(st.none(), st.floats(min_value=0, max_value=86_400)),
    value=st.floats(min_value=-50, max_value=1050, allow_nan=False),
)
def test_the_scripts_times_match_the_elements_title_and_last_good(
    zone: str, age_s: float, good_before_s: float | None, value: float
) -> None:
    # Now is the clock's: hmi.readings writes "last good" with the date unless it is today.
    now = timezone.now()
    time = now - timedelta(seconds=age_s)
    good_at = None if good_before_s is None else time - timedelta(seconds=good_before_s)
    shown = reading(gauge_tag(), value, time=time, good_at=good_at, now=now)
    got = frame([shown], zone=zone, now=now)
    with timezone.override(zone):
        html = reading_html(shown, "radial")
    if "v" not in got:  # another day or another UTC offset: the element travels whole
        assert got["h"] == html
        return
    ((pk, status, text, ts, v, _, _, good, _),) = got["v"]
    offset, zone_name = got["z"]
    title = re.search(r'title="([^"]*)"', html).group(1)
    since = re.search(r'class="reading-since">([^<]*)<', html).group(1)
    assert title == js_local(ts, offset)[:19] + " " + zone_name
    written = (
        "no good value yet" if good < 0 else "last good " + js_local(good or ts, offset)[11:19]
    )
    assert since == written
    assert (pk, status, text, v) == (7, shown.status, shown.text, value)
    assert f'data-ts="{ts}"' in html
