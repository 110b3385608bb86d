"""The live page in a real headless Chromium: the DOM shows what the board holds, and the screenshot is a picture.

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it); the page is served by the real HTTP server on
127.0.0.1 and needs nothing from the internet.
"""

import re
import shutil
import subprocess

import pytest

from scenarios.live.board import LiveBoard
from scenarios.live.http import PAGE_DIR, LiveHttpServer

T0 = 1_780_000_000.0


def chromium():
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("chromium is not installed (.ci/run installs it: apt-get install chromium)")
    return binary


def run_chromium(binary, tmp_path, url, *action):
    args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900", "--virtual-time-budget=5000",
            *action, url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def picture(path):
    """Size, distinct colours and the share of the most common colour of a PNG (Pillow, which matplotlib needs)."""
    from PIL import Image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        return image.size, len(colours), max(n for n, _ in colours) / (image.size[0] * image.size[1])


@pytest.fixture
def board():
    board = LiveBoard(history=300, lag_bound_s=60.0)
    for i in range(120):
        t = T0 + 10.0 * i
        board.record_sample("M1", "winding_temperature", t, 350.0 + 0.4 * (i % 5), 350.8, 349.5, 352.1, unit="K")
        board.record_sample("P2", "flow", t, 0.028 + 0.0005 * (i % 3), 0.0285, 0.027, 0.030, unit="m^3/s")
        board.record_parameter("M1", "thermal_resistance_housing_ambient", t, 0.075, 0.071, 0.079, unit="K/W")
    board.raise_alarm("M1", "winding_overtemperature", severity="high", channel="winding_temperature",
                      explanation="winding 9.2 K above the twin for 4 min (CUSUM on the residual)", t=T0 + 600)
    board.set_recommendation("M1", "Reduce line speed by 10 % until 16:00", action="speed_down_10",
                             why="hot afternoon: trips the filler motor at 15:20 otherwise", t=T0 + 900)
    board.set_calibration_version("M1", 7, "champion")
    board.record_decision("M1", "promotion", "approved", "challenger RMSE 0.31 K vs champion 0.52 K on the next window",
                          version=7, t=T0 + 800)
    for k in range(6):  # a bearing wearing out: the remaining life shrinks an hour per hour, its interval with it
        board.set_rul("P2", "bearing_wear", t=T0 + 3600.0 * k, median_s=(15 - k) * 3600.0, low_s=(13 - k) * 3600.0,
                      high_s=(18 - k) * 3600.0, level=0.9, p_failure=1.0, horizon_s=72 * 3600.0,
                      state=0.24 + 0.05 * k, threshold=1.0)
    board.set_source(True, 0.5)
    return board


@pytest.mark.slow
def test_page_in_headless_chromium_shows_the_board(board, tmp_path):
    binary = chromium()
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", (PAGE_DIR / "index.html").read_text() +
                         (PAGE_DIR / "app.js").read_text()), "the page must not load anything from the internet"
    with LiveHttpServer(board) as server:
        dom = run_chromium(binary, tmp_path, server.url + "/", "--dump-dom")
        shot = tmp_path / "page.png"
        run_chromium(binary, tmp_path, server.url + "/", f"--screenshot={shot}")
    # what the page shows
    assert "M1 · winding_temperature [K]" in dom and "P2 · flow [m^3/s]" in dom
    assert "M1 · thermal_resistance_housing_ambient [K/W]" in dom
    assert "winding 9.2 K above the twin for 4 min (CUSUM on the residual)" in dom
    assert re.search(r'<tr class="alarm sev-high" data-id="1" data-state="unacknowledged">', dom)
    assert "Reduce line speed by 10 % until 16:00" in dom and "hot afternoon: trips the filler motor" in dom
    assert "M1 v7 (champion)" in dom and 'class="pill ready"' in dom
    assert "challenger RMSE 0.31 K vs champion 0.52 K on the next window" in dom and 'decision-approved' in dom
    # measured, twin and band drawn for both channels; the band is closed, lines have one point per sample
    for key in ("M1/winding_temperature", "P2/flow"):
        svg = re.search(rf'<svg class="chart"[^>]*data-key="{re.escape(key)}">(.*?)</svg>', dom, re.S).group(1)
        paths = dict(re.findall(r'<path class="(\w+)" d="([^"]+)"', svg))
        assert set(paths) == {"band", "twin", "measured"}, key
        assert paths["band"].endswith("Z") and paths["measured"].count("L") == 119
    # the remaining useful life: median line and interval band over the prediction times, the expected failure
    assert "P2 · bearing_wear remaining useful life [h]" in dom
    assert "RUL 10 h (90 % interval 8 h … 13 h) · failure expected " + "2026-05-29 11:26:40Z" in dom, dom[-3000:]
    assert "bearing_wear 0.49 of 1" in dom
    rul = re.search(r'<svg class="chart"[^>]*data-key="P2/bearing_wear">(.*?)</svg>', dom, re.S).group(1)
    paths = dict(re.findall(r'<path class="(\w+)" d="([^"]+)"', rul))
    assert set(paths) == {"band", "twin"} and paths["twin"].count("L") == 5 and paths["band"].endswith("Z")
    assert dom.count('<path class="band"') == 4  # two channels, one parameter track, one remaining life
    # a real picture: a PNG of the window's size with many colours (the dark header, white panels, curves)
    size, colours, dominant = picture(shot)
    assert size == (1280, 900)
    assert colours > 20 and dominant < 0.9, f"the screenshot looks blank ({colours} colours, {dominant:.0%} one)"
