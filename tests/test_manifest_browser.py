"""The manifest page in a real browser: headless Chromium renders it and every QR code scans.

Needs Debian's `chromium` and `zbar-tools` (.ci/run installs them); skipped where they are missing.
"""

import os
import shutil
import subprocess

import pytest
import requests

from simulator import Backend, create_app
from simulator.server import ThreadedServer
from tests.helpers import BASE, CHROMIUM_FLAGS, HEADERS, line, order_body

CHROMIUM = shutil.which("chromium")
ZBARIMG = shutil.which("zbarimg")
# CI installs them (make ui-deps): there this test must run, not skip
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and ZBARIMG) and not os.environ.get("CI"), reason="needs chromium and zbarimg (make ui-deps)"
)


def screenshot(url, path, profile):
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1000,1400",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def scanned(path):
    result = subprocess.run([ZBARIMG, "--quiet", "--raw", str(path)], capture_output=True, text=True, timeout=60)
    return set(result.stdout.split())


def test_every_ticket_on_the_manifest_scans_in_a_browser_rendering(tmp_path):
    with ThreadedServer(create_app(Backend())) as server:
        body = order_body(items=[line(quantity=2, wallet={"names": ["Jane Doe", "John Doe"]}), line(item="32001")])
        order = requests.post(server.url + BASE, json=body, headers=HEADERS, timeout=30).json()
        tickets = {a["referenceNumber"] for i in order["items"] for w in i["wallets"] for a in w["assets"]}
        assert len(tickets) == 4

        screenshot(order["manifestUrl"], tmp_path / "order.png", tmp_path / "profile")
        assert scanned(tmp_path / "order.png") == tickets

        wallet = order["items"][1]["wallets"][0]
        screenshot(wallet["manifestUrl"], tmp_path / "wallet.png", tmp_path / "profile")
        assert scanned(tmp_path / "wallet.png") == {a["referenceNumber"] for a in wallet["assets"]}
