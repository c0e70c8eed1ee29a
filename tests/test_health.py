import os

import pytest


def test_healthz_answers_without_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_and_channel_layer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True, "channel_layer": True}, "pid": os.getpid()}


@pytest.mark.django_db
def test_readyz_reports_unavailable_channel_layer(client, monkeypatch):
    monkeypatch.setattr("chargenet.health.get_channel_layer", lambda: None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "channel_layer": False}


def test_openapi_schema_is_served(admin_client):
    response = admin_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/stations/" in response.content and b"/api/v1/sessions/" in response.content
