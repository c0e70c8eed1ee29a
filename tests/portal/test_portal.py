"""The driver portal: a driver's own data only, signup with verification, tokens, invoices."""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from stations.models import Driver, IdToken, Measurand, MeterSample
from tests.portal.conftest import make_session

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_driver_sees_own_session_and_gets_404_on_anothers(network):
    driver = client_for(network.driver_a)
    assert driver.get(reverse("portal:session", args=[network.session_a.pk])).status_code == 200
    assert driver.get(reverse("portal:session", args=[network.session_b.pk])).status_code == 404
    assert driver.get(reverse("portal:session_live", args=[network.session_b.pk])).status_code == 404
    assert driver.get(reverse("portal:session_curves", args=[network.session_b.pk])).status_code == 404
    assert driver.get(reverse("portal:session_live", args=[network.session_a.pk])).json()["energy_wh"] == 5000
    assert driver.post(reverse("portal:session_stop", args=[network.session_b.pk])).status_code == 404
    listing = driver.get(reverse("portal:sessions"))
    assert "CP-A" in listing.text and "CP-B" not in listing.text


def test_site_owner_cannot_open_a_drivers_session_in_the_portal(network):
    owner = client_for(network.owner_a)
    assert owner.get(reverse("portal:session", args=[network.session_a.pk])).status_code == 403


def test_anonymous_visitor_is_sent_to_the_portal_login(network):
    answer = Client().get(reverse("portal:session", args=[network.session_a.pk]))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("portal:login"))


def test_session_list_filters_by_place_energy_and_date(network):
    other = make_session(network.station_b, network.session_a.driver, network.token_a, "77", energy_wh=20000)
    other.started_at = datetime(2026, 11, 20, 8, tzinfo=UTC)
    other.save()
    driver = client_for(network.driver_a)
    url = reverse("portal:sessions")
    assert "CP-B" in driver.get(url).text and "CP-A" in driver.get(url).text
    only_bremen = driver.get(url, {"where": "bremen"}).text
    assert "CP-B" in only_bremen and "CP-A" not in only_bremen
    big = driver.get(url, {"min_energy_kwh": "10"}).text
    assert "20.00" in big and "5.00" not in big
    early = driver.get(url, {"date_to": "2026-11-10"}).text
    assert "CP-A" in early and "CP-B" not in early
    bad = driver.get(url, {"date_from": "not-a-date"})
    assert bad.status_code == 200 and "Enter a valid date" in bad.text


def test_session_detail_draws_power_and_energy_curves(network):
    session = network.session_a
    for minute, energy, power in [(0, 0, 0), (10, 1800, 11000), (20, 3600, 11000)]:
        at = datetime(2026, 11, 2, 10, minute, tzinfo=UTC)
        MeterSample.objects.create(station=session.station, session=session, evse_id=1, timestamp=at,
                                   measurand=Measurand.ENERGY_ACTIVE_IMPORT_REGISTER, value=energy)
        MeterSample.objects.create(station=session.station, session=session, evse_id=1, timestamp=at,
                                   measurand=Measurand.POWER_ACTIVE_IMPORT, value=power)
    page = client_for(network.driver_a).get(reverse("portal:session", args=[session.pk])).text
    assert page.count("<polyline") == 2
    assert 'id="power-chart"' in page and 'id="energy-chart"' in page
    assert "3600" in page  # the readings table


def test_driver_blocks_own_lost_card_but_not_anothers(network):
    driver = client_for(network.driver_a)
    assert driver.post(reverse("portal:token_block", args=[network.token_b.pk])).status_code == 404
    assert IdToken.objects.get(pk=network.token_b.pk).status == "Accepted"
    assert driver.post(reverse("portal:token_block", args=[network.token_a.pk])).status_code == 302
    assert IdToken.objects.get(pk=network.token_a.pk).status == "Blocked"


def test_adding_a_card_someone_else_holds_is_refused_without_takeover(network):
    driver = client_for(network.driver_a)
    answer = driver.post(reverse("portal:tokens"), {"value": "TOKEN-B", "type": "ISO14443"})
    assert answer.status_code == 200 and "already registered" in answer.text
    assert IdToken.objects.get(value="TOKEN-B").driver.user == network.driver_b
    added = driver.post(reverse("portal:tokens"), {"value": "04aabbcc", "type": "ISO14443"})
    assert added.status_code == 302
    assert IdToken.objects.get(value="04AABBCC").driver.user == network.driver_a


def test_signup_opens_the_account_only_after_email_verification(db):
    client = Client()
    answer = client.post(reverse("portal:signup"), {
        "name": "Carla", "email": "Carla@Example.com", "password1": "a-long-passphrase-9", "password2":
        "a-long-passphrase-9"}, HTTP_HOST="testserver")
    assert answer.status_code == 200 and "Check your email" in answer.text
    assert not client.login(username="carla@example.com", password="a-long-passphrase-9")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["carla@example.com"]
    link = re.search(r"http://testserver(/portal/verify/\S+/)", mail.outbox[0].body).group(1)
    assert client.get(link.replace("/verify/", "/verify/x")).status_code == 400
    assert client.get(link).status_code == 302
    assert client.get(reverse("portal:home")).status_code == 200
    driver = Driver.objects.get(email="carla@example.com")
    assert driver.user == User.objects.get(username="carla@example.com") and driver.user.is_active


def test_signup_refuses_a_taken_address_and_bad_passwords(network):
    taken = Client().post(reverse("portal:signup"), {
        "email": "driver-a@example.com", "password1": "a-long-passphrase-9", "password2": "a-long-passphrase-9"})
    assert "already exists" in taken.text
    weak = Client().post(reverse("portal:signup"), {"email": "new@example.com", "password1": "123",
                                                    "password2": "123"})
    assert 'role="alert"' in weak.text and "too short" in weak.text
    assert not User.objects.filter(username="new@example.com").exists()
    assert mail.outbox == []


def test_password_reset_mails_a_portal_link(network):
    answer = Client().post(reverse("portal:password_reset"), {"email": "driver-a@example.com"})
    assert answer.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/portal/password-reset/\S+/)", mail.outbox[0].body).group(1)
    client = Client()
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.text
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "another-passphrase-7",
                                                    "new_password2": "another-passphrase-7"})
    assert done.status_code == 302
    assert Client().login(username="driver-a", password="another-passphrase-7")


def test_driver_downloads_own_invoice_pdf_only(network):
    from billing.invoicing import run_invoicing
    from billing.models import Invoice
    from tests.billing.invoice_data import make_cdr

    for user in (network.driver_a, network.driver_b):
        make_cdr(driver=user.driver, ended_at=datetime(2026, 10, 15, 12, tzinfo=UTC), station=network.station_a)
    run_invoicing(period="2026-10")
    own = Invoice.objects.get(driver__user=network.driver_a)
    other = Invoice.objects.get(driver__user=network.driver_b)
    driver = client_for(network.driver_a)
    listing = driver.get(reverse("portal:invoices")).text
    assert own.number in listing and other.number not in listing
    pdf = driver.get(reverse("portal:invoice_pdf", args=[own.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert driver.get(reverse("portal:invoice_pdf", args=[other.pk])).status_code == 404


def test_driver_registers_a_car_for_plug_and_charge_and_removes_it(network):
    from pki.models import Vehicle
    from stations.models import Car

    driver_a, driver_b = client_for(network.driver_a), client_for(network.driver_b)
    added = driver_a.post(reverse("portal:vehicles"), {"pcid": "wmiv1234567890abc", "name": "Blue car"})
    assert added.status_code == 302
    page = driver_a.get(reverse("portal:vehicles")).text
    assert "WMIV1234567890ABC" in page and "Blue car" in page and "not yet" in page
    # The same car cannot be claimed by another driver, nor is a malformed PCID taken.
    taken = driver_b.post(reverse("portal:vehicles"), {"pcid": "WMIV1234567890ABC"})
    assert taken.status_code == 400 and "registered already" in taken.text
    bad = driver_b.post(reverse("portal:vehicles"), {"pcid": "short"})
    assert bad.status_code == 400 and "14 to 18 letters and digits" in bad.text
    assert not Car.objects.filter(driver__user=network.driver_b).exists()  # nothing half-written
    assert "WMIV1234567890ABC" not in driver_b.get(reverse("portal:vehicles")).text
    vehicle = Vehicle.objects.select_related("car").get()
    assert vehicle.driver.user == network.driver_a and vehicle.car.name == "Blue car"
    assert driver_b.post(reverse("portal:vehicle_remove", args=[vehicle.car_id])).status_code == 404
    assert driver_a.post(reverse("portal:vehicle_remove", args=[vehicle.car_id])).status_code == 302
    assert not Vehicle.objects.exists() and not Car.objects.exists()
