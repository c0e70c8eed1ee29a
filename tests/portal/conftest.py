"""Two organisations, each with a site, a station and a driver's session, and one user per role."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User

from chargenet.roles import FINANCE_GROUP
from stations.models import ChargingSession, Driver, Evse, IdToken, Organization, Site


@dataclass
class Network:
    operator: User
    owner_a: User
    owner_b: User
    finance: User
    driver_a: User
    driver_b: User
    site_a: Site
    site_b: Site
    station_a: object
    station_b: object
    session_a: ChargingSession
    session_b: ChargingSession
    token_a: IdToken
    token_b: IdToken


def make_driver(username: str) -> tuple[User, Driver]:
    user = User.objects.create_user(username, f"{username}@example.com", "pw-" + username)
    return user, Driver.objects.create(user=user, email=f"{username}@example.com", name=username.title())


def make_session(station, driver, token, transaction_id: str, energy_wh: int = 5000) -> ChargingSession:
    evse, _ = Evse.objects.get_or_create(station=station, evse_id=1)
    return ChargingSession.objects.create(
        station=station, evse=evse, transaction_id=transaction_id, id_token=token, id_token_value=token.value,
        driver=driver, status="Completed", started_at=datetime(2026, 11, 2, 10, tzinfo=UTC),
        stopped_at=datetime(2026, 11, 2, 11, tzinfo=UTC), meter_start_wh=0, meter_stop_wh=energy_wh,
        energy_wh=energy_wh,
    )


@pytest.fixture
def network(db, make_station) -> Network:
    org_a = Organization.objects.create(name="Org A")
    org_b = Organization.objects.create(name="Org B")
    owner_a = User.objects.create_user("owner-a", "a@example.com", "pw-owner-a")
    owner_b = User.objects.create_user("owner-b", "b@example.com", "pw-owner-b")
    org_a.members.add(owner_a)
    org_b.members.add(owner_b)
    site_a = Site.objects.create(organization=org_a, name="Site A", city="Aachen")
    site_b = Site.objects.create(organization=org_b, name="Site B", city="Bremen")
    station_a = make_station("CP-A", site=site_a)
    station_b = make_station("CP-B", site=site_b)
    finance = User.objects.create_user("fin", "fin@example.com", "pw-fin")
    finance.groups.add(Group.objects.get_or_create(name=FINANCE_GROUP)[0])
    driver_a_user, driver_a = make_driver("driver-a")
    driver_b_user, driver_b = make_driver("driver-b")
    token_a = IdToken.objects.create(value="TOKEN-A", driver=driver_a)
    token_b = IdToken.objects.create(value="TOKEN-B", driver=driver_b)
    return Network(
        operator=User.objects.create_superuser("ops", "ops@example.com", "pw-ops"),
        owner_a=owner_a, owner_b=owner_b, finance=finance, driver_a=driver_a_user, driver_b=driver_b_user,
        site_a=site_a, site_b=site_b, station_a=station_a, station_b=station_b,
        session_a=make_session(station_a, driver_a, token_a, "1"),
        session_b=make_session(station_b, driver_b, token_b, "2"),
        token_a=token_a, token_b=token_b,
    )


# --- browser tests: screenshots of the page when a test fails ------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def live_server_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """One daphne for the module, serving the test database (tests/live's plumbing)."""
    from tests.live.conftest import LiveServer, child_env, free_port

    with django_db_blocker.unblock():
        env = child_env()
    server = LiveServer(free_port(), env, tmp_path_factory.mktemp("daphne") / "daphne.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium():
    """Playwright's sync API keeps an event loop running on this thread while it is open,
    which Django's ORM takes for async code; the test's ORM calls are plain sync code, so
    they are allowed for as long as the browser runs (as pytest-playwright advises)."""
    import os

    from playwright.sync_api import expect, sync_playwright

    from tests.portal.browser import TIMEOUT_MS, launch_chromium

    expect.set_options(timeout=TIMEOUT_MS)  # assertions poll this long (a loaded machine is slow)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_page(chromium, request):
    """``open_page()`` gives a fresh browser context's page; screenshots land in
    test-artifacts/ when the test fails."""
    from tests.portal.browser import ARTIFACTS, TIMEOUT_MS

    pages = []

    def open_():
        context = chromium.new_context(viewport={"width": 390, "height": 844} if len(pages) % 2 else None)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        pages.append(page)
        return page

    yield open_
    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    for n, page in enumerate(pages):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            try:
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{n}.png"), full_page=True)
            except Exception:  # noqa: BLE001  (the screenshot must not hide the test's own failure)
                pass
        page.context.close()
