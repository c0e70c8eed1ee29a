"""The simulator's firmware side: images that name their version, and fleets where a chosen
share of stations fails its update in a chosen way."""

import pytest
from django.core.management.base import CommandError

from stations.management.commands.simulate import firmware_behaviours
from stations.simulator import SimulatedStation, sim_firmware, sim_firmware_version


def test_a_simulated_image_names_its_version_and_other_files_name_none():
    assert sim_firmware_version(sim_firmware("2.4.1")) == "2.4.1"
    assert sim_firmware_version(b"\x7fELF....") is None


def test_fleet_gets_the_asked_share_of_each_failure_spread_over_it():
    behaviours = firmware_behaviours("fail_install:10,silent:5", 40)
    assert (behaviours.count("fail_install"), behaviours.count("silent"), behaviours.count("ok")) == (4, 2, 34)
    assert behaviours[:4] != ["fail_install"] * 4  # not bunched into the first wave
    assert firmware_behaviours("", 3) == ["ok"] * 3


@pytest.mark.parametrize("spec", ["explode:10", "fail_install", "fail_install:60,silent:60"])
def test_bad_failure_specs_are_refused(spec):
    with pytest.raises(CommandError):
        firmware_behaviours(spec, 10)


def test_unknown_behaviour_is_refused_by_the_station():
    with pytest.raises(ValueError, match="firmware_behaviour"):
        SimulatedStation("X", None, id_token="T", firmware_behaviour="explode")
