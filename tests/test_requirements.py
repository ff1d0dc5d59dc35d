"""Installs are reproducible: the lock pins what is tested, and the ranges' lower bounds are what is tested."""

from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT


def requirements() -> list[Requirement]:
    found = []
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-"):
                found.append(Requirement(line))
    return found


def locked() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            pins[canonicalize_name(name)] = Version(pinned)
    return pins


@pytest.mark.parametrize("requirement", requirements(), ids=str)
def test_each_requirement_is_locked_inside_its_range_at_its_lowest_tested_series(requirement):
    pin = locked().get(canonicalize_name(requirement.name))
    assert pin is not None, f"{requirement.name} is not in requirements.lock: run make lock"
    assert requirement.specifier.contains(pin, prereleases=True)
    lowest = min(Version(s.version) for s in requirement.specifier if s.operator == ">=")
    assert lowest.release[:2] == pin.release[:2], f"{requirement}: the lower bound is not the tested {pin}"


@pytest.mark.parametrize("requirement", requirements(), ids=str)
def test_the_environment_under_test_is_the_locked_one(requirement):
    try:
        installed = Version(version(requirement.name))
    except PackageNotFoundError:
        pytest.fail(f"{requirement.name} is not installed")
    assert installed == locked()[canonicalize_name(requirement.name)]
