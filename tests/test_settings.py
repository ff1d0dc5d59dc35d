from decimal import Decimal
from pathlib import Path

import pytest

from imagegen import Settings, SettingsError


def test_defaults_are_offline_without_a_key():
    settings = Settings.from_env({})
    assert settings.provider == "offline"
    assert settings.data_dir == Path("data")
    assert settings.default_model == "offline"
    assert settings.daily_quota == 5
    assert settings.daily_budget_usd == Decimal("10")
    assert settings.storage == "local"


def test_a_key_selects_openai_and_a_current_model():
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-x"})
    assert settings.provider == "openai"
    assert settings.default_model == "gpt-image-2.6-flare"
    assert "sk-x" not in repr(settings)


def test_azure_is_chosen_by_its_variables():
    settings = Settings.from_env({"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com", "AZURE_OPENAI_API_KEY": "k"})
    assert settings.provider == "azure"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"IMAGEGEN_PROVIDER": "midjourney"}, "IMAGEGEN_PROVIDER"),
        ({"IMAGEGEN_PROVIDER": "openai"}, "OPENAI_API_KEY"),
        ({"IMAGEGEN_OFFLINE_DELAY": "soon"}, "IMAGEGEN_OFFLINE_DELAY"),
        ({"IMAGEGEN_OFFLINE_DELAY": "-1"}, "out of range"),
        ({"IMAGEGEN_DAILY_QUOTA": "2.5"}, "whole number"),
        ({"IMAGEGEN_DAILY_BUDGET_USD": "lots"}, "US dollars"),
        ({"IMAGEGEN_TIMEZONE": "Mars/Olympus"}, "time zone"),
        ({"IMAGEGEN_STORAGE": "s3"}, "IMAGEGEN_S3_BUCKET"),
        ({"IMAGEGEN_S3_PREFIX": "../etc"}, "IMAGEGEN_S3_PREFIX"),
        ({"IMAGEGEN_MODEL": "gpt-image-2"}, "needs a real provider"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env, words):
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert words in str(error.value)


def test_values_are_read():
    settings = Settings.from_env(
        {
            "IMAGEGEN_DATA_DIR": "/tmp/x",
            "IMAGEGEN_OFFLINE_DELAY": "0",
            "IMAGEGEN_DAILY_QUOTA": "7",
            "IMAGEGEN_DAILY_BUDGET_USD": "2.50",
            "IMAGEGEN_TIMEZONE": "Europe/Paris",
            "IMAGEGEN_ADMINS": "ann@x.io, bob ",
            "IMAGEGEN_AUTH": "proxy",
            "IMAGEGEN_PROXY_SECRET": "a-secret-the-proxy-sends",
            "IMAGEGEN_ADMIN_CLAIM": "groups",
            "IMAGEGEN_ADMIN_CLAIM_VALUE": "imagegen-admins",
            "IMAGEGEN_S3_PREFIX": "team/images",
        }
    )
    assert settings.proxy_secret == "a-secret-the-proxy-sends" and "a-secret" not in repr(settings)
    assert (settings.admin_claim, settings.admin_claim_value) == ("groups", "imagegen-admins")
    assert settings.data_dir == Path("/tmp/x")
    assert settings.offline_delay == 0
    assert settings.daily_quota == 7
    assert settings.daily_budget_usd == Decimal("2.50")
    assert settings.tz.key == "Europe/Paris"
    assert settings.admins == ("ann@x.io", "bob")
    assert settings.is_admin("BOB") and not settings.is_admin("carol")
    assert settings.s3_prefix == "team/images/"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"IMAGEGEN_AUTH": "proxy"}, "IMAGEGEN_PROXY_SECRET"),
        ({"IMAGEGEN_AUTH": "proxy", "IMAGEGEN_PROXY_SECRET": "short"}, "16 characters"),
        ({"IMAGEGEN_ADMIN_CLAIM": "groups"}, "go together"),
    ],
)
def test_identity_settings_that_cannot_be_secure_stop_the_app(env, names):
    with pytest.raises(SettingsError, match=names):
        Settings.from_env(env)


def test_loopback_addresses_are_told_apart_from_shared_ones():
    from imagegen.settings import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("") and not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
