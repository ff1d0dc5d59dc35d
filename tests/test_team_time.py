"""One notion of today and one way of writing a time: with IMAGEGEN_TIMEZONE far from the server's own
zone, the model list, the plan, the quota day, Admin and the gallery agree on the team's day."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from imagegen import Catalog, GenerationRequest, HistoryFilter, InvalidRequest, Settings, Studio
from imagegen.catalog import CATALOG_FILE

#: UTC+14 and UTC-11: at any hour one of them is on another day than a server on UTC (or near it)
FAR_ZONES = ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Etc/GMT-14", "Etc/GMT+12")


def far_zone() -> str:
    server_day = date.today()
    return next(zone for zone in FAR_ZONES if datetime.now(ZoneInfo(zone)).date() != server_day)


@pytest.fixture
def zone() -> str:
    return far_zone()


@pytest.fixture
def team_day(zone) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def shutting_down_on(tmp_path, day: date) -> Catalog:
    """The catalog with GPT Image 1.5 shutting down on `day`."""
    path = tmp_path / "models.toml"
    path.write_text(CATALOG_FILE.read_text().replace('shutdown = "2026-12-01"', f'shutdown = "{day.isoformat()}"'))
    return Catalog.load(path)


def test_the_model_list_and_the_plan_read_a_models_end_on_the_teams_day(tmp_path, zone, team_day):
    # Shut down on the later of the two days: on the earlier it still answers.
    ends = max(team_day, date.today())
    settings = Settings(data_dir=tmp_path, provider="openai", openai_api_key="sk-test", timezone=zone)
    studio = Studio(settings, catalog=shutting_down_on(tmp_path, ends))
    assert studio.today() == team_day != date.today()
    listed = "gpt-image-1.5" in [m.id for m in studio.models()]
    try:
        studio.plan(GenerationRequest("a fox", model="gpt-image-1.5"))
        planned = True
    except InvalidRequest:
        planned = False
    assert listed == planned == (team_day < ends)
    label = studio.form_choices("gpt-image-1.5", editing=False).models.get("gpt-image-1.5")
    assert (label is not None) == listed


def test_the_quota_day_admin_and_the_gallery_agree_on_the_teams_day(tmp_path, zone, team_day):
    studio = Studio(Settings(data_dir=tmp_path, provider="offline", offline_delay=0, timezone=zone))
    result = studio.generate(GenerationRequest("a fox"), "ann")
    assert studio._engine.ledger.generation(result.id)["day"] == team_day.isoformat()
    assert studio.allowance("ann").day == team_day.isoformat() and studio.allowance("ann").images_used == 1
    assert studio.figures_today().day == team_day.isoformat() and studio.figures_today().images == 1
    assert "a fox" in studio.export_csv(team_day, team_day)
    # The gallery's days are the team's: the image is on the team's day, not on the server's.
    on_team_day = studio.history(HistoryFilter(since=team_day, until=team_day)).items
    on_server_day = studio.history(HistoryFilter(since=date.today(), until=date.today())).items
    assert [item["key"] for item in on_team_day] == result.image_keys and on_server_day == []
    # Every page writes a time one way, in the team's zone.
    shown = studio.local_time(studio.image(result.image_key)["created_at"])
    abbreviation = datetime.now(ZoneInfo(zone)).strftime("%Z")
    assert shown.startswith(team_day.strftime("%d %b %Y")) and shown.endswith(abbreviation)
    studio.set_quota("ann", 3, by="root")
    assert studio.limit_changes()[0]["When"].startswith(team_day.strftime("%d %b %Y"))
    assert studio.quota_overrides()[0]["Set at"].endswith(abbreviation)


def test_admins_recent_generations_are_timed_as_every_page_times(tmp_path, zone, team_day):
    studio = Studio(Settings(data_dir=tmp_path, provider="offline", offline_delay=0, timezone=zone))
    result = studio.generate(GenerationRequest("a fox"), "ann")
    [when] = studio.recent_generations(5)["created_at"]
    assert when == studio.local_time(studio._engine.ledger.generation(result.id)["created_at"])
    assert when.startswith(team_day.strftime("%d %b %Y"))
