"""Management commands beside `make run`: they find the server on its PORT, and a typo in a
site name stops add_station instead of creating a second site."""

import pytest
from django.core.management import CommandError, call_command

from stations.management.commands import station_command
from stations.models import ChargingStation, Site

pytestmark = pytest.mark.django_db


def test_add_station_refuses_an_unknown_site_unless_asked_to_create_it():
    Site.objects.create(name="Berlin Hauptbahnhof P+R")
    with pytest.raises(CommandError, match="no site named 'Berlin Hbf'.*--create-site"):
        call_command("add_station", "CP-1", "--site", "Berlin Hbf")
    assert not ChargingStation.objects.exists() and Site.objects.count() == 1

    call_command("add_station", "CP-1", "--site", "berlin hauptbahnhof p+r")  # any case
    assert ChargingStation.objects.get().site.name == "Berlin Hauptbahnhof P+R"
    call_command("add_station", "CP-2", "--site", "Depot", "--create-site")
    assert ChargingStation.objects.get(station_id="CP-2").site.name == "Depot" and Site.objects.count() == 2


def test_station_command_finds_the_server_make_run_started(monkeypatch, tmp_path):
    monkeypatch.delenv("CHARGENET_SERVER_URL", raising=False)
    monkeypatch.setattr(station_command, "SERVER_URL_FILE", tmp_path / ".server-url")
    assert station_command.default_server() == "http://127.0.0.1:8000"
    (tmp_path / ".server-url").write_text("http://127.0.0.1:8123\n")  # make run PORT=8123 wrote it
    assert station_command.default_server() == "http://127.0.0.1:8123"
    monkeypatch.setenv("CHARGENET_SERVER_URL", "http://10.0.0.5:9000")
    assert station_command.default_server() == "http://10.0.0.5:9000"
