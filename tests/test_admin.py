"""What the Admin page reads from the engine: limits in people's units, known users, removing a quota."""

import pytest

from imagegen import GenerationRequest, Settings, Studio


@pytest.fixture
def studio(tmp_path):
    return Studio(Settings(data_dir=tmp_path, provider="offline", timezone="Europe/Paris"))


def test_limit_changes_read_in_dollars_images_and_local_time(studio):
    studio.set_budget(25, by="root")
    studio.set_quota("ann", 7, by="root")
    studio.set_quota("ann", 9, by="root")
    latest, middle, first = studio.limit_changes()
    assert latest["Limit"] == "Quota of ann" and (latest["From"], latest["To"]) == ("7 images a day", "9 images a day")
    assert (middle["From"], middle["To"]) == ("default (5 images a day)", "7 images a day")
    assert (first["Limit"], first["From"], first["To"]) == ("Team budget", "default ($10.00 a day)", "$25.00 a day")
    assert first["By"] == "root" and first["When"].endswith(("CET", "CEST"))


def test_a_users_own_quota_can_be_taken_away_and_the_default_applies_again(studio):
    studio.set_quota("ann", 2, by="root")
    assert [o["User"] for o in studio.quota_overrides()] == ["ann"]
    assert studio.allowance("ann").quota == 2
    assert studio.clear_quota("ann", by="root")
    assert not studio.clear_quota("ann", by="root")  # nothing left to take away
    assert studio.quota_overrides() == []
    assert studio.allowance("ann").quota == studio._engine.settings.daily_quota
    assert studio.limit_changes()[0]["To"] == "default (5 images a day)"


def test_known_users_are_those_signed_in_logged_or_given_a_quota(studio):
    studio.generate(GenerationRequest("a fox"), "bob")
    studio.set_quota("carol", 3, by="root")
    studio.sign_in({"iss": "https://idp.example", "sub": "42", "email": "dan@example.com", "email_verified": True})
    assert studio.known_users() == ["bob", "carol", "dan@example.com"]


def test_local_times_follow_the_configured_zone(studio):
    assert studio.local_time("2026-07-01T12:00:00+00:00") == "01 Jul 2026 14:00 CEST"
    assert studio.local_time("2026-01-01T12:00:00") == "01 Jan 2026 13:00 CET"
    assert studio.local_time(None) == ""


def test_the_local_user_is_an_admin_by_the_one_admin_rule(tmp_path):
    local = Studio(Settings(data_dir=tmp_path, provider="offline", auth="local", local_user="sam", admins=("ann",)))
    identity = local.local_identity()
    assert (identity.user, identity.display, identity.is_admin) == ("sam", "sam", True)
    assert local.is_admin("sam") and local.is_admin("ann") and not local.is_admin("bob")
