"""Screenshots of the console and the portal for the README, taken from a running server.

    .venv/bin/python tools/screenshots.py http://127.0.0.1:8000

Against `make run` (its demo logins and simulated chargers): the admin overview, a station
page, the tariff editor and the driver's session page, each at desktop (1280 px) and phone
(390x844) size, into docs/screenshots/ as palette PNGs (a few tens of kB each).
"""

import argparse
import io
import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.portal.browser import launch_chromium  # noqa: E402

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def save(page, name: str, out: Path) -> None:
    png = page.screenshot(full_page=False)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    image.save(out / f"{name}.png", optimize=True)
    print(f"{name}.png {(out / f'{name}.png').stat().st_size // 1024} kB")


def login(page, server: str, path: str, username: str, password: str) -> None:
    page.goto(f"{server}{path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    server = args.server.rstrip("/")
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for size, viewport in SIZES.items():
            context = browser.new_context(viewport=viewport, device_scale_factor=1)
            admin = context.new_page()
            login(admin, server, "/admin/login/?next=/admin/", "admin", "admin")
            admin.goto(f"{server}/admin/")
            save(admin, f"admin-overview-{size}", args.out)
            admin.goto(f"{server}/admin/stations/chargingstation/?q=DEMO-01")
            admin.get_by_role("link", name="DEMO-01").first.click()
            admin.locator("#live-state").wait_for()
            save(admin, f"station-page-{size}", args.out)
            admin.goto(f"{server}/admin/billing/tariff/?q=BERLIN-PEAK")
            admin.get_by_role("link", name="BERLIN-PEAK").first.click()
            admin.locator("#preview-total").filter(has_text="EUR").wait_for()
            save(admin, f"tariff-editor-{size}", args.out)
            context.close()

            context = browser.new_context(viewport=viewport, device_scale_factor=1)
            driver = context.new_page()
            login(driver, server, "/portal/login/", "driver", "driver")
            driver.goto(f"{server}/portal/sessions/")
            driver.locator("td[data-label='Started'] a").first.click()
            driver.locator("#session-live").wait_for()
            save(driver, f"portal-session-{size}", args.out)
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
