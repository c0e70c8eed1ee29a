"""The API's 404 names no internal class; choice filters take any case and list the choices."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tests.portal.conftest import make_driver, make_session
from stations.models import IdToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(User.objects.create_superuser("ops", "ops@example.com", "x"))
    return client


@pytest.mark.parametrize("url", ["/api/v1/stations/NOPE/", "/api/v1/sessions/999/", "/api/v1/invoices/999/",
                                 "/api/v1/sites/999/"])
def test_a_404_names_no_model_class(api, url):
    response = api.get(url)
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_status_filter_takes_any_case_and_lists_choices_when_wrong(api, make_station):
    station = make_station("CP-1")
    _, driver = make_driver("d")
    token = IdToken.objects.create(value="T-1", driver=driver)
    session = make_session(station, driver, token, "1")
    for value in ("completed", "COMPLETED", "Completed"):
        response = api.get(f"/api/v1/sessions/?status={value}")
        assert response.status_code == 200 and [s["id"] for s in response.json()["results"]] == [session.pk]
    assert api.get("/api/v1/sessions/?status=active").json()["results"] == []
    wrong = api.get("/api/v1/sessions/?status=done")
    assert wrong.status_code == 400
    assert wrong.json() == {"status": ["'done' is not one of: Active, Completed"]}
