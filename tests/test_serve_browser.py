"""``skfer serve``'s page in a real browser: Debian's Chromium driven by Selenium.

A ``skfer serve`` process is started on a free loopback port; the astronaut
photo is uploaded through the page's file input, and the test waits for the
boxes and reads the labels from the page's list of faces. The webcam mode
runs on Chromium's fake camera, fed a clip of the astronaut written here as
a .y4m file: a face box and a label must appear within seconds.

Needs ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``; CI installs them in ``.ci/run``) and ``selenium`` (the
``dev`` extra); skipped, saying which is missing, without them. Set
``SKFER_SERVE_SCREENSHOT=docs/_static/serve.png`` to write the README's
screenshot of the page.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

for _path, _package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
    if not os.path.exists(_path):
        pytest.skip(f"{_path} not found: apt-get install -y {_package} to run the browser "
                    "tests", allow_module_level=True)
pytest.importorskip("selenium", reason="pip install selenium (the dev extra) to run the "
                                       "browser tests")
pytest.importorskip("fastapi", reason='pip install "skfer[serve]"')

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of a ``skfer serve`` process on a free loopback port."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "skfer", "serve", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"skfer serve exited with {proc.returncode}: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as reply:
                    if json.load(reply)["status"] == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"skfer serve did not answer /health in 180 s: {log.read_text()}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait(10)


def _browser(*flags):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-dev-shm-usage", "--window-size=1100,900", *flags):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def browser():
    drivers = []

    def start(*flags):
        drivers.append(_browser(*flags))
        return drivers[-1]

    yield start
    for driver in drivers:
        driver.quit()


@pytest.fixture(scope="module")
def astronaut_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    return path


def _wait(driver, condition, timeout, what):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))
    except Exception as exc:
        logs = ""
        try:
            logs = driver.get_log("browser")
        except Exception:  # pragma: no cover - not every driver keeps logs
            pass
        raise AssertionError(f"the page did not show {what} within {timeout} s; "
                             f"browser console: {logs}") from exc


def _save_screenshot(driver, path):
    """A PNG of the page, shrunk and quantised to keep it small (< 200 KB)."""
    from PIL import Image

    raw = path.with_name(path.stem + "_raw.png")
    driver.save_screenshot(str(raw))
    with Image.open(raw) as im:
        im = im.convert("RGB")
        im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
        im.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    raw.unlink()
    return path


def test_upload_a_photo(server, browser, astronaut_file, tmp_path):
    driver = browser()
    driver.get(server)
    _wait(driver, lambda d: d.find_element(By.ID, "model").get_attribute("data-ready"), 30,
          "the model picker")
    options = [o.text for o in driver.find_elements(By.CSS_SELECTOR, "#model option")]
    assert "fer2013_mini_xception" in options
    assert "never written to disk" in driver.find_element(By.ID, "privacy").text
    start = time.monotonic()
    driver.find_element(By.ID, "file-input").send_keys(str(astronaut_file))
    card = _wait(driver, lambda d: d.find_element(
        By.CSS_SELECTOR, "section.photo[data-status='done']"), 60, "the photo's faces")
    took = time.monotonic() - start
    faces = card.find_elements(By.CSS_SELECTOR, "li.face")
    assert [f.get_attribute("data-emotion") for f in faces] == ["happy"]
    assert faces[0].get_attribute("data-box") == "169,61,111,111"  # MTCNN, the default
    assert faces[0].find_element(By.CLASS_NAME, "face-label").text.startswith("face 0: happy 0.8")
    bars = faces[0].find_elements(By.CSS_SELECTOR, ".bar")
    assert [b.get_attribute("data-class") for b in bars] == [
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    # The box is drawn on the canvas in the happy colour, at the box's place.
    pixel = driver.execute_script("""
        const c = document.querySelector('section.photo .photo-canvas');
        const s = c.width / 512;
        return [c.width, ...c.getContext('2d').getImageData(
            Math.round(169 * s), Math.round((61 + 60) * s), 1, 1).data];""")
    assert pixel[0] == 512
    assert np.abs(np.subtract(pixel[1:4], (250, 200, 0))).max() <= 40, pixel
    # Grad-CAM: the toggle fetches and shows the picture.
    card.find_element(By.CLASS_NAME, "gradcam-toggle").click()
    _wait(driver, lambda d: d.execute_script(
        "const i = document.querySelector('section.photo img.gradcam');"
        "return !i.hidden && i.complete && i.naturalWidth;") == 192, 60, "the Grad-CAM picture")
    # Download JSON: the lines of the API (captured from the page's Blob).
    driver.execute_script("""
        window.__saved = null;
        const make = URL.createObjectURL;
        URL.createObjectURL = (blob) => { blob.text().then((t) => { window.__saved = t; });
                                         return make(blob); };""")
    driver.find_element(By.ID, "download").click()
    text = _wait(driver, lambda d: d.execute_script("return window.__saved;"), 10,
                 "the downloaded JSON")
    (line,) = [json.loads(x) for x in text.splitlines()]
    assert line["file"] == "astronaut.png" and line["box"] == [169, 61, 111, 111]
    assert len(line["landmarks"]) == 5
    assert line["emotion"] == "happy" and len(line["probabilities"]) == 7
    shot = _save_screenshot(driver, tmp_path / "serve.png")
    target = os.environ.get("SKFER_SERVE_SCREENSHOT")
    if target:
        shutil.copyfile(shot, target)
    assert shot.stat().st_size < 200_000
    print(f"photo annotated {took:.1f} s after the upload; screenshot {shot} "
          f"({shot.stat().st_size // 1000} KB)")


def test_upload_several_photos_one_bad(server, browser, astronaut_file, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((90, 120, 3), 200, np.uint8))
    driver = browser()
    driver.get(server)
    driver.find_element(By.ID, "file-input").send_keys(
        "\n".join(str(p) for p in (astronaut_file, bad, blank)))
    _wait(driver, lambda d: len(d.find_elements(
        By.CSS_SELECTOR, "section.photo:not([data-status='pending'])")) == 3, 90,
        "three finished photos")
    cards = {c.get_attribute("data-file"): c
             for c in driver.find_elements(By.CSS_SELECTOR, "section.photo")}
    assert cards["astronaut.png"].get_attribute("data-status") == "done"
    assert cards["astronaut.png"].get_attribute("data-faces") == "1"
    assert cards["broken.jpg"].get_attribute("data-status") == "error"
    assert "is not an image" in cards["broken.jpg"].find_element(By.CLASS_NAME, "message").text
    assert cards["blank.png"].get_attribute("data-faces") == "0"
    assert cards["blank.png"].find_element(By.CLASS_NAME, "message").text == "No face found."


def test_api_docs_render_offline(server, browser):
    # Swagger UI's script comes from the package: the routes appear without internet.
    driver = browser()
    driver.get(server + "/docs")
    _wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")) >= 4,
          30, "the API's routes in Swagger UI")
    paths = {e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR,
                                                           ".opblock-summary-path")}
    assert {"/api/v1/predict", "/api/v1/models", "/health"} <= paths


def _write_y4m(path, rgb, n_frames=20, fps=10):
    """A .y4m clip of ``rgb`` (even sides), the format Chromium's fake camera reads."""
    height, width = rgb.shape[:2]
    i420 = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(n_frames):
            f.write(b"FRAME\n")
            f.write(i420.tobytes())
    return path


def test_webcam_shows_a_face(server, browser, tmp_path):
    clip = _write_y4m(tmp_path / "clip.y4m", skdata.astronaut())
    driver = browser("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-video-capture={clip}")
    driver.get(server)
    _wait(driver, lambda d: d.find_element(By.ID, "model").get_attribute("data-ready"), 30,
          "the model picker")
    driver.find_element(By.ID, "tab-webcam").click()
    start = time.monotonic()
    driver.find_element(By.ID, "cam-start").click()
    face = _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#live-faces li.face"),
                 20, "a face from the webcam")
    first = time.monotonic() - start
    assert face.get_attribute("data-emotion") == "happy"
    # The fake camera may crop the clip to its own frame size (480 x 512 here):
    # the face is where it is in the photo, shifted by half the crop.
    live = driver.find_element(By.ID, "live-faces")
    width, height = (int(live.get_attribute(k)) for k in ("data-width", "data-height"))
    x, y, w, h = map(int, face.get_attribute("data-box").split(","))
    dx, dy = (512 - width) / 2, (512 - height) / 2
    assert abs(x - (177 - dx)) <= 12 and abs(y - (66 - dy)) <= 12 and abs(w - 97) <= 12, (
        width, height, x, y, w, h)
    # Frames keep coming: the measured rate is shown, and boxes are drawn live.
    frame = _wait(driver, lambda d: int(d.find_element(By.ID, "live-faces")
                                        .get_attribute("data-frame") or 0) >= 4, 30,
                  "five processed frames")
    assert frame
    fps = float(driver.find_element(By.ID, "fps").text)
    assert 0 < fps <= 8.5  # the page's bound: 8 frames per second at most
    drawn = driver.execute_script("""
        const c = document.getElementById('overlay');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;""")
    assert drawn > 100  # box and label pixels over the video
    driver.find_element(By.ID, "cam-stop").click()
    print(f"first webcam face {first:.1f} s after Start; {fps} frames/s measured")
