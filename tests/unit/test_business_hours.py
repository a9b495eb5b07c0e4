"""Business calendars (common/business_hours.py) and the business_hours section of policy/skill_groups.yml."""
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from common.business_hours import Calendar, calendars_for
from common.config import ConfigError
from common.routing import SkillGroups

POLICY = Path(__file__).resolve().parents[2] / "policy"
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone=SHANGHAI) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


@pytest.fixture(scope="module")
def groups():
    return SkillGroups.load(POLICY / "skill_groups.yml")


@pytest.fixture(scope="module")
def shop(groups):
    return groups.calendars["after_sales"]


def test_the_shipped_file_gives_every_group_the_shop_calendar_and_ticket_times(groups, shop):
    assert set(groups.calendars) == set(groups.groups)
    assert shop.timezone == "Asia/Shanghai"
    assert groups.ticket_reply_seconds == 4 * 3600 and groups.reopen_seconds == 7 * 86400
    assert groups.ticket_reply_hours == 24  # the chat-to-ticket promise is unchanged


def test_an_overnight_ticket_is_due_four_business_hours_after_the_opening(shop):
    friday_2am = at("2026-12-11 02:00")
    assert datetime.fromtimestamp(friday_2am, SHANGHAI).strftime("%a") == "Fri"
    assert shop.local(shop.add(friday_2am, 4 * 3600)) == "2026-12-11 13:00"
    assert not shop.is_open(friday_2am) and shop.local(shop.next_open(friday_2am)) == "2026-12-11 09:00"


def test_friday_afternoon_runs_into_the_saturday_hours(shop):
    assert shop.local(shop.add(at("2026-12-11 17:00"), 4 * 3600)) == "2026-12-12 13:00"  # 1 h Fri + 3 h from 10:00 Sat
    assert shop.local(shop.add(at("2026-12-13 15:00"), 4 * 3600)) == "2026-12-14 12:00"  # 1 h Sun + 3 h Mon
    assert shop.local(shop.add(at("2026-12-11 14:00"), 4 * 3600)) == "2026-12-11 18:00"  # ends at the closing


def test_holidays_are_skipped(shop):
    # 2026-09-30 (Wed) 16:00: two hours that day, then National Day 1..7 October is closed.
    assert shop.local(shop.add(at("2026-09-30 16:00"), 4 * 3600)) == "2026-10-08 11:00"
    assert not shop.is_open(at("2026-10-03 12:00"))  # a Saturday, but a holiday
    assert shop.local(shop.add(at("2026-12-31 17:00"), 2 * 3600)) == "2027-01-02 11:00"  # 1 Jan closed


def test_a_make_up_working_day_and_split_hours(tmp_path):
    cal = Calendar.load({"timezone": "Asia/Shanghai", "week": {"mon": "09:00-12:00,13:00-18:00"},
                         "holidays": ["2026-12-14"], "working_days": {"2026-12-19": "09:00-12:00"}})
    assert cal.local(cal.add(at("2026-12-07 11:00"), 2 * 3600)) == "2026-12-07 14:00"  # lunch is not counted
    assert not cal.is_open(at("2026-12-07 12:30")) and cal.is_open(at("2026-12-07 13:00"))
    # Monday the 14th is a holiday; Saturday the 19th is worked in the morning.
    assert cal.local(cal.add(at("2026-12-07 17:00"), 2 * 3600)) == "2026-12-19 10:00"


def test_daylight_saving_in_europe_counts_real_hours():
    berlin = Calendar.load({"timezone": "Europe/Berlin", "week": {d: "00:00-24:00" for d in ("sat", "sun")}})
    # 2026-03-29: clocks go from 02:00 to 03:00, the Sunday has 23 hours; 2026-10-25 has 25.
    assert berlin.between(at("2026-03-29 00:00", BERLIN), at("2026-03-30 00:00", BERLIN)) == 23 * 3600
    assert berlin.between(at("2026-10-25 00:00", BERLIN), at("2026-10-26 00:00", BERLIN)) == 25 * 3600
    office = Calendar.load({"timezone": "Europe/Berlin", "week": {d: "09:00-17:00" for d in ("fri", "mon")}})
    # Friday 16:00 + 2 h across the spring change: 1 h Friday, Monday 10:00 local (CEST, not 11:00 or 09:00).
    due = office.add(at("2026-03-27 16:00", BERLIN), 2 * 3600)
    assert office.local(due) == "2026-03-30 10:00"
    assert datetime.fromtimestamp(due, BERLIN).utcoffset().total_seconds() == 7200


def test_between_counts_only_business_seconds(shop):
    assert shop.between(at("2026-12-11 17:00"), at("2026-12-12 13:00")) == 4 * 3600
    assert shop.between(at("2026-12-11 02:00"), at("2026-12-11 08:00")) == 0
    assert shop.between(at("2026-12-12 13:00"), at("2026-12-11 17:00")) == 0
    start = at("2026-12-08 10:30")
    assert shop.between(start, shop.add(start, 12345.0)) == pytest.approx(12345.0)


def test_a_calendar_with_no_open_time_is_refused_at_load():
    with pytest.raises(ConfigError, match="never open"):
        Calendar.load({"timezone": "UTC", "week": {"mon": "closed"}})
    with pytest.raises(ValueError, match="never open"):
        Calendar("x", "UTC", ((),) * 7)


def write(tmp_path, edit) -> Path:
    text = (POLICY / "skill_groups.yml").read_text()
    for old, new in edit:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "skill_groups.yml"
    path.write_text(text)
    return path


def error(path) -> str:
    with pytest.raises(ConfigError) as info:
        SkillGroups.load(path)
    return str(info.value)


def line_of(path: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def test_bad_hours_name_the_file_line_and_key(tmp_path):
    path = write(tmp_path, [('sat: "10:00-16:00"', 'sat: "16:00-10:00"')])
    assert error(path) == (f"{path}: line {line_of(path, 'sat: ')}, business_hours.default.week.sat: "
                           "'16:00-10:00' ends before it starts (split a night shift over two days)")
    path = write(tmp_path, [('tue: "09:00-18:00"', 'tue: "09:00-18:00,17:00-19:00"')])
    assert "'17:00-19:00' overlaps" in error(path)


def test_bad_holiday_time_zone_and_unknown_group_name_the_line(tmp_path):
    path = write(tmp_path, [('"2027-01-01"  ', '"2027-13-01"  ')])
    assert error(path) == (f"{path}: line {line_of(path, '2027-13-01')}, business_hours.default.holidays[7]: "
                           "'2027-13-01' is not a date YYYY-MM-DD or a span YYYY-MM-DD..YYYY-MM-DD")
    path = write(tmp_path, [("timezone: Asia/Shanghai", "timezone: Asia/Shangai")])
    assert error(path) == (f"{path}: line {line_of(path, 'Shangai')}, business_hours.default.timezone: "
                           "unknown time zone 'Asia/Shangai' (an IANA name such as Asia/Shanghai)")
    sales = '  sales: {timezone: UTC, week: {mon: "09:00-17:00"}}\n'
    path = write(tmp_path, [("business_hours:\n", "business_hours:\n" + sales)])
    assert error(path).startswith(
        f"{path}: line {line_of(path, '  sales: {')}, business_hours.sales: unknown skill group 'sales'")


def test_a_wrong_shape_is_refused_by_the_schema(tmp_path):
    path = write(tmp_path, [("    timezone: Asia/Shanghai\n", "    timezone: Asia/Shanghai\n    lunch: 1\n")])
    assert "business_hours.default: Additional properties are not allowed ('lunch'" in error(path)
    path = write(tmp_path, [('mon: "09:00-18:00"', 'mon: "9-18"')])
    assert error(path).startswith(f"{path}: business_hours.default.week.mon: '9-18' does not match")


def test_calendars_for_without_a_section_is_open_round_the_clock():
    cals = calendars_for({"groups": {}}, ["general"], "x.yml")
    assert cals["general"].is_open(at("2026-12-06 03:00")) and cals["general"].add(100.0, 60) == 160.0


def test_a_group_with_its_own_calendar(tmp_path):
    doc = yaml.safe_load((POLICY / "skill_groups.yml").read_text())
    doc["business_hours"]["technical"] = {"timezone": "Europe/Berlin", "week": {"mon": "08:00-16:00"}}
    cals = calendars_for(doc, doc["groups"], "skill_groups.yml")
    assert cals["technical"].timezone == "Europe/Berlin" and cals["billing"] is cals["general"]
    assert cals["technical"].local(cals["technical"].add(at("2026-12-11 12:00"), 3600)) == "2026-12-14 09:00"
