"""The engine a server process shares: its settings are read once, and a wrong environment is not kept."""

from __future__ import annotations

import pytest

from imagegen import SettingsError
from ui import runtime


def test_settings_are_read_once_per_process(monkeypatch, data_dir):
    monkeypatch.setenv("IMAGEGEN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("IMAGEGEN_DAILY_QUOTA", "7")
    first = runtime.settings()
    monkeypatch.setenv("IMAGEGEN_DAILY_QUOTA", "9")
    assert runtime.settings() is first
    assert runtime.studio().default_quota == 7
    assert runtime.studio() is runtime.studio()

    runtime._read.cache_clear()
    assert runtime.settings().daily_quota == 9
    assert runtime.studio().default_quota == 9


def test_a_wrong_environment_is_read_again_once_it_is_fixed(monkeypatch, data_dir):
    monkeypatch.setenv("IMAGEGEN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("IMAGEGEN_DAILY_QUOTA", "many")
    with pytest.raises(SettingsError):
        runtime.settings()
    monkeypatch.setenv("IMAGEGEN_DAILY_QUOTA", "3")
    assert runtime.settings().daily_quota == 3
