"""``skfer serve``'s REST API through FastAPI's TestClient: schema, errors, limits.

The JSON of ``POST /api/v1/predict`` must equal the lines of ``skfer
predict`` for the same photo; bad files in a batch give their own errors and
leave the others' results; nothing is written to disk.
"""

import importlib.util
import io
import json
import re
import struct
import threading
import zlib

import cv2
import numpy as np
import pytest
from skimage import data as skdata

pytest.importorskip("fastapi", reason="skfer serve needs the serve extra: "
                                      'pip install "skfer[serve]"')
pytest.importorskip("python_multipart", reason='pip install "skfer[serve]"')
from fastapi.testclient import TestClient  # noqa: E402

from skfer.cli import main  # noqa: E402
from skfer.datasets import make_faces  # noqa: E402
from skfer.faces import FaceTracker  # noqa: E402
from skfer.io import save_model  # noqa: E402
from skfer.models import make_model  # noqa: E402
from skfer.serve import create_app  # noqa: E402
from skfer.serve._service import Limits  # noqa: E402


def _encode(rgb, ext=".png"):
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def astronaut_png():
    return _encode(skdata.astronaut())


@pytest.fixture(scope="module")
def blank_jpg():
    return _encode(np.full((120, 160, 3), 200, np.uint8), ".jpg")


@pytest.fixture(scope="module")
def app():
    app = create_app(workers=2)
    yield app
    app.state.service.close()


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as client:  # one event loop for every request, as uvicorn
        yield client


@pytest.fixture
def limits(app, monkeypatch):
    """Set the service's limits for one test: ``limits(max_files=2)``."""
    service = app.state.service

    def set_limits(**changes):
        fields = {k: getattr(service.limits, k) for k in
                  ("max_upload_bytes", "max_pixels", "max_files", "max_pending")}
        monkeypatch.setattr(service, "limits", Limits(**{**fields, **changes}))

    return set_limits


def _files(*items, field="images"):
    return [(field, (name, content, "application/octet-stream")) for name, content in items]


def _png_header(width, height):
    """A PNG whose header says ``width`` x ``height``, with no real pixel data."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


# ------------------------------------------------------------------ schema
def test_predict_equals_skfer_predict(client, astronaut_png, blank_jpg, tmp_path, capsys):
    (tmp_path / "astronaut.png").write_bytes(astronaut_png)
    (tmp_path / "blank.jpg").write_bytes(blank_jpg)
    rc = main(["predict", "--quiet", str(tmp_path / "astronaut.png"),
               str(tmp_path / "blank.jpg")])
    assert rc == 0
    cli = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    reply = client.post("/api/v1/predict",
                        files=_files(("astronaut.png", astronaut_png), ("blank.jpg", blank_jpg)))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["errors"] == [] and body["model"] == "fer2013_mini_xception"
    api = body["results"]
    assert [x["file"] for x in api] == ["astronaut.png", "blank.jpg"]
    # Identical lines but for the file name (the CLI prints the path it was given).
    assert [{**x, "file": None} for x in api] == [{**x, "file": None} for x in cli]
    # The default detector (MTCNN) gives the box and the five landmarks.
    assert api[0]["box"] == [169, 61, 111, 111] and api[0]["emotion"] == "happy"
    assert np.asarray(api[0]["landmarks"]).shape == (5, 2)
    assert api[1] == {"file": "blank.jpg", "box": None, "emotion": None,
                      "probabilities": None}
    # format=jsonl: the very lines skfer predict prints, file names aside.
    lines = client.post("/api/v1/predict?format=jsonl",
                        files=_files(("astronaut.png", astronaut_png))).text.splitlines()
    assert lines == [json.dumps({**cli[0], "file": "astronaut.png"})]


def test_predict_schema(client, astronaut_png):
    reply = client.post("/api/v1/predict", files=_files(("a.png", astronaut_png)),
                        headers={"accept": "application/json"})
    assert reply.headers["content-type"] == "application/json"
    (face,) = reply.json()["results"]
    assert set(face) == {"file", "box", "landmarks", "emotion", "probabilities"}
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert list(face["probabilities"]) == ["angry", "disgust", "fear", "happy", "sad",
                                           "surprise", "neutral"]
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert face["emotion"] == max(face["probabilities"], key=face["probabilities"].get)


def test_models_health_and_openapi(client):
    models = client.get("/api/v1/models").json()
    from skfer import pretrained

    shipped = sorted(k for k in pretrained.MODELS if k not in pretrained.ALIASES)
    assert [m["name"] for m in models["models"]] == shipped
    by_name = {m["name"]: m for m in models["models"]}
    assert by_name["ferplus_mini_xception"]["aliases"] == ["ferplus"]
    assert by_name["fer2013_mini_xception"]["aliases"] == ["default", "fer2013"]
    assert models["default"] == pretrained.DEFAULT
    default = next(m for m in models["models"] if m["default"])
    assert default["source"] == "pretrained" and default["loaded"]
    assert default["colours"]["happy"] == "#fac800"  # skfer predict --annotate's yellow
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["limits"]["max_pixels"] == 50_000_000
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/predict", "/api/v1/explain", "/api/v1/models", "/health"} <= set(paths)
    assert "multipart/form-data" in paths["/api/v1/predict"]["post"]["requestBody"]["content"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    # Swagger UI from the package, not a CDN: every script and style is local.
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/docs-assets/") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_page_is_served_offline(client):
    page = client.get("/")
    assert page.status_code == 200 and "never written to disk" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    outside = re.compile(r"(https?:)?//(?!127\.0\.0\.1)[\w.-]+\.[a-z]{2,}/")  # a CDN's URL
    for name in ("app.js", "style.css"):
        reply = client.get(f"/static/{name}")
        assert reply.status_code == 200
        assert not outside.search(reply.text), (name, outside.search(reply.text))
    assert not outside.search(page.text)
    assert outside.search("<script src='https://cdn.example.com/x.js'>")  # the check works


# ------------------------------------------------------------------ errors
def test_not_an_image(client):
    reply = client.post("/api/v1/predict", files=_files(("notes.txt", b"not an image")))
    assert reply.status_code == 400
    assert "'notes.txt' is not an image" in reply.json()["detail"]


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_truncated_file(client, ext):
    content = _encode(skdata.astronaut(), ext)
    reply = client.post("/api/v1/predict",
                        files=_files((f"cut{ext}", content[:len(content) // 2])))
    assert reply.status_code == 400
    assert f"'cut{ext}' is a damaged or truncated image" in reply.json()["detail"]


def test_empty_file_and_empty_batch(client):
    reply = client.post("/api/v1/predict", files=_files(("empty.png", b"")))
    assert reply.status_code == 400 and "'empty.png' is empty" in reply.json()["detail"]
    reply = client.post("/api/v1/predict", files={"note": (None, "a field, no file")})
    assert reply.status_code == 400
    assert reply.json()["detail"].startswith("no image in the request")
    boundary = "skferboundary"
    reply = client.post("/api/v1/predict", content=f"--{boundary}--\r\n".encode(),
                        headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert reply.status_code == 400
    assert reply.json()["detail"].startswith("no image in the request")
    reply = client.post("/api/v1/predict", content=b"{}",
                        headers={"content-type": "application/json"})
    assert reply.status_code == 400 and "multipart/form-data" in reply.json()["detail"]


def test_unknown_model(client, astronaut_png):
    reply = client.post("/api/v1/predict?model=nope", files=_files(("a.png", astronaut_png)))
    assert reply.status_code == 400
    assert "unknown model 'nope'" in reply.json()["detail"]
    assert "fer2013_mini_xception" in reply.json()["detail"]


def test_model_by_short_name(client, astronaut_png):
    # The short names of skfer predict --model (pretrained.ALIASES) work here too.
    reply = client.post("/api/v1/predict?model=ferplus", files=_files(("a.png", astronaut_png)))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model"] == "ferplus_mini_xception"
    assert "contempt" in body["results"][0]["probabilities"]


def test_upload_too_large(client, limits, astronaut_png):
    limits(max_upload_bytes=100_000)
    reply = client.post("/api/v1/predict", files=_files(("a.png", astronaut_png)))
    assert reply.status_code == 413
    assert "upload limit of 0.1 MB" in reply.json()["detail"]
    # Without a Content-Length (a chunked upload), counted while reading.
    body = b"".join([astronaut_png])

    def chunks():
        yield b"--b\r\nContent-Disposition: form-data; name=\"images\"; filename=\"a.png\"\r\n\r\n"
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]
        yield b"\r\n--b--\r\n"

    reply = client.post("/api/v1/predict", content=chunks(),
                        headers={"content-type": "multipart/form-data; boundary=b"})
    assert reply.status_code == 413 and "upload limit" in reply.json()["detail"]


def test_too_many_pixels_refused_before_decoding(client, limits, monkeypatch):
    # 10000 x 8000: the header alone says so; the pixels (240 MB) are never decoded.
    decoded = []
    monkeypatch.setattr(cv2, "imdecode", lambda *a: decoded.append(a))
    reply = client.post("/api/v1/predict", files=_files(("bomb.png", _png_header(10000, 8000))))
    assert reply.status_code == 413
    assert "'bomb.png' is 10000 x 8000 = 80,000,000 pixels" in reply.json()["detail"]
    assert "limit of 50,000,000" in reply.json()["detail"]
    # Past Pillow's own bomb limit too.
    reply = client.post("/api/v1/predict", files=_files(("big.png", _png_header(30000, 30000))))
    assert reply.status_code == 413 and "pixels" in reply.json()["detail"]
    assert decoded == []
    limits(max_pixels=100_000)
    reply = client.post("/api/v1/predict",
                        files=_files(("a.png", _encode(skdata.astronaut()))))
    assert reply.status_code == 413 and "512 x 512 = 262,144" in reply.json()["detail"]


def test_too_many_files(client, limits, astronaut_png):
    limits(max_files=2)
    reply = client.post("/api/v1/predict",
                        files=_files(*[(f"{i}.png", astronaut_png) for i in range(3)]))
    assert reply.status_code == 413 and "more than 2 files" in reply.json()["detail"]


def test_a_bad_file_in_a_batch(client, astronaut_png, blank_jpg):
    content = _encode(skdata.astronaut(), ".jpg")
    reply = client.post("/api/v1/predict", files=_files(
        ("good.png", astronaut_png), ("bad.txt", b"hello"), ("cut.jpg", content[:3000]),
        ("bomb.png", _png_header(10000, 8000)), ("blank.jpg", blank_jpg)))
    assert reply.status_code == 200
    body = reply.json()
    assert [x["file"] for x in body["results"]] == ["good.png", "blank.jpg"]
    assert [(e["file"], e["status"]) for e in body["errors"]] == [
        ("bad.txt", 400), ("cut.jpg", 400), ("bomb.png", 413)]
    assert all(e["error"].startswith(f"'{e['file']}'") for e in body["errors"])
    lines = client.post("/api/v1/predict?format=jsonl", files=_files(
        ("good.png", astronaut_png), ("bad.txt", b"hello"))).text.splitlines()
    assert [json.loads(x)["file"] for x in lines] == ["good.png", "bad.txt"]


def test_every_file_bad_gives_the_first_status(client):
    reply = client.post("/api/v1/predict", files=_files(
        ("bomb.png", _png_header(10000, 8000)), ("bad.txt", b"hello")))
    assert reply.status_code == 413
    assert "'bomb.png' is 10000 x 8000 = 80,000,000 pixels" in reply.json()["detail"]
    assert len(reply.json()["errors"]) == 2


def test_busy_server_answers_503(client, app, astronaut_png, monkeypatch):
    # Every slot taken: the next request is refused at once, not queued.
    monkeypatch.setattr(app.state.admission, "busy", app.state.admission.limit)
    reply = client.post("/api/v1/predict", files=_files(("a.png", astronaut_png)))
    assert reply.status_code == 503 and reply.headers["retry-after"] == "1"
    assert "the server is busy (16 requests in progress)" in reply.json()["detail"]


def test_admission_counts_and_refuses():
    from skfer.serve._app import _Admission
    from skfer.serve._service import ServeError

    gate = _Admission(2)
    with gate, gate:
        assert gate.busy == 2
        with pytest.raises(ServeError, match="busy"):
            gate.__enter__()
    assert gate.busy == 0


def test_uploads_never_touch_the_disk(client, monkeypatch):
    # Over 1 MB: Starlette's own form parser would spool this to a temporary file.
    import tempfile

    import starlette.formparsers

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was written to a temporary file")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", refuse)
    rng = np.random.default_rng(0)
    big = cv2.resize(skdata.astronaut(), (1024, 1024))
    noisy = np.clip(big + rng.normal(0, 12, big.shape), 0, 255).astype(np.uint8)
    content = _encode(noisy)
    assert len(content) > 1_500_000
    reply = client.post("/api/v1/predict", files=_files(("big.png", content)))
    assert reply.status_code == 200, reply.text
    assert reply.json()["results"][0]["box"] is not None


# ----------------------------------------------------------------- explain
def test_explain_png(client, astronaut_png, tmp_path, capsys):
    reply = client.post("/api/v1/explain", files=_files(("a.png", astronaut_png),
                                                        field="image"))
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    assert reply.headers["x-faces"] == "1"
    picture = cv2.imdecode(np.frombuffer(reply.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (192, 192, 3)
    # The very picture skfer predict --explain writes.
    (tmp_path / "astronaut.png").write_bytes(astronaut_png)
    assert main(["predict", "--quiet", "--explain", str(tmp_path / "why"),
                 str(tmp_path / "astronaut.png")]) == 0
    capsys.readouterr()
    np.testing.assert_array_equal(picture, cv2.imread(str(tmp_path / "why" /
                                                          "astronaut_face0.png")))
    one = client.post("/api/v1/explain?face=0", files=_files(("a.png", astronaut_png)))
    assert one.status_code == 200 and one.content == reply.content


def test_explain_errors(client, astronaut_png, blank_jpg):
    reply = client.post("/api/v1/explain?face=3", files=_files(("a.png", astronaut_png)))
    assert reply.status_code == 422 and "has 1 face(s)" in reply.json()["detail"]
    reply = client.post("/api/v1/explain", files=_files(("blank.jpg", blank_jpg)))
    assert reply.status_code == 422 and "no face found in 'blank.jpg'" in reply.json()["detail"]
    reply = client.post("/api/v1/explain", files=_files(("a.png", astronaut_png),
                                                        ("b.png", astronaut_png)))
    assert reply.status_code == 400 and "one image, got 2" in reply.json()["detail"]
    reply = client.post("/api/v1/explain", files=_files(("x.txt", b"text")))
    assert reply.status_code == 400 and "not an image" in reply.json()["detail"]


# ------------------------------------------------------------------ webcam
def test_stream_smooths_per_connection(client, astronaut_png):
    frames = [skdata.astronaut(), (skdata.astronaut() * 0.7).astype(np.uint8)]
    contents = [_encode(f, ".jpg") for f in frames]
    raw = [client.post("/api/v1/predict", files=_files(("f.jpg", c))).json()["results"][0]
           for c in contents]
    assert raw[0]["probabilities"] != raw[1]["probabilities"]
    with client.websocket_connect("/api/v1/stream?smooth=3") as ws:
        replies = []
        for c in contents:
            ws.send_bytes(c)
            replies.append(ws.receive_json())
        ws.send_text("a text frame")
        error = ws.receive_json()
    assert [r["frame"] for r in replies] == [0, 1] and error["frame"] == 2
    assert error["status"] == 400 and "binary" in error["error"]
    assert replies[0]["width"] == 512 and len(replies[0]["faces"]) == 1
    assert replies[0]["faces"][0] == {k: raw[0][k] for k in ("box", "landmarks", "emotion", "probabilities")}
    tracker = FaceTracker(3)
    names = list(raw[0]["probabilities"])
    expected = None
    for r in raw:
        expected = tracker.update([tuple(r["box"])],
                                  np.array([[r["probabilities"][n] for n in names]]))
    smoothed = replies[1]["faces"][0]["probabilities"]
    np.testing.assert_allclose([smoothed[n] for n in names], expected[0], atol=2e-4)
    assert smoothed != raw[1]["probabilities"]  # smoothed, not the frame's own
    # A new connection starts afresh: its first frame is not smoothed.
    with client.websocket_connect("/api/v1/stream?smooth=3") as ws:
        ws.send_bytes(contents[1])
        fresh = ws.receive_json()
    assert fresh["faces"][0]["probabilities"] == raw[1]["probabilities"]


def test_stream_errors(client):
    with client.websocket_connect("/api/v1/stream?model=nope") as ws:
        reply = ws.receive_json()
    assert reply["status"] == 400 and "unknown model 'nope'" in reply["error"]
    with client.websocket_connect("/api/v1/stream?smooth=0") as ws:
        assert "smooth must be" in ws.receive_json()["error"]
    with client.websocket_connect("/api/v1/stream") as ws:
        ws.send_bytes(b"garbage")
        reply = ws.receive_json()
        assert reply["status"] == 400 and "not an image" in reply["error"]
        ws.send_bytes(_encode(skdata.astronaut(), ".jpg"))  # still open after an error
        assert len(ws.receive_json()["faces"]) == 1


# ------------------------------------------------------------- concurrency
def test_concurrent_requests_share_one_model(client, app, astronaut_png, blank_jpg):
    service = app.state.service
    slot = service.slot()
    before = (slot.batcher.calls, slot.batcher.faces)
    expected = client.post("/api/v1/predict",
                           files=_files(("a.png", astronaut_png))).json()["results"]
    results, errors = [], []

    def worker():
        try:
            for _ in range(3):
                r = client.post("/api/v1/predict", files=_files(("a.png", astronaut_png),
                                                                ("b.jpg", blank_jpg)))
                results.append((r.status_code, r.json()["results"][:1]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 24
    assert all(code == 200 and lines == expected for code, lines in results)
    assert service.slot() is slot  # one model, loaded once
    calls = slot.batcher.calls - before[0]
    assert slot.batcher.faces - before[1] == 25 and 1 <= calls <= 25


def test_batcher_classifies_waiting_requests_together(app):
    slot = app.state.service.slot()
    crops = [np.full((48, 48), 100 + 10 * i, np.uint8) for i in range(5)]
    alone = [slot.recognizer.classify([c]) for c in crops]
    calls = slot.batcher.calls
    with slot.lock:  # the net is busy: the jobs wait
        futures = [slot.batcher.submit([c]) for c in crops]
    results = [f.result(60) for f in futures]
    assert slot.batcher.calls - calls <= 2  # the first job may go alone, then the rest
    for (labels, proba), (labels_1, proba_1) in zip(results, alone, strict=True):
        assert labels == labels_1
        np.testing.assert_allclose(proba, proba_1, atol=1e-5)


# --------------------------------------------------------- a user's model
@pytest.fixture(scope="module")
def hog_file(tmp_path_factory):
    faces = make_faces(n_samples=70, random_state=0)
    y = np.asarray(faces.target_names)[faces.target]
    return save_model(make_model("hog_svm").fit(faces.images, y),
                      tmp_path_factory.mktemp("model") / "hog.skfer")


def test_a_model_file(hog_file, astronaut_png, tmp_path, capsys):
    app = create_app(hog_file, workers=1)
    try:
        client = TestClient(app)
        models = client.get("/api/v1/models").json()
        assert models["default"] == "hog.skfer"
        entry = models["models"][-1]
        assert entry["name"] == "hog.skfer" and entry["source"] == "file"
        assert "fer2013_mini_xception" in [m["name"] for m in models["models"]]
        reply = client.post("/api/v1/predict", files=_files(("astronaut.png", astronaut_png)))
        (line,) = reply.json()["results"]
        (tmp_path / "astronaut.png").write_bytes(astronaut_png)
        assert main(["predict", "--quiet", "--model", str(hog_file),
                     str(tmp_path / "astronaut.png")]) == 0
        (cli,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert {**line, "file": None} == {**cli, "file": None}
        assert line["probabilities"] is None
        reply = client.post("/api/v1/explain", files=_files(("a.png", astronaut_png)))
        assert reply.status_code == 400
        assert "cannot explain with model 'hog.skfer'" in reply.json()["detail"]
        # The shipped model is still offered, loaded on first use.
        reply = client.post("/api/v1/predict?model=fer2013_mini_xception",
                            files=_files(("a.png", astronaut_png)))
        assert reply.json()["results"][0]["emotion"] == "happy"
        with client.websocket_connect("/api/v1/stream") as ws:  # no probabilities to smooth
            ws.send_bytes(astronaut_png)
            assert ws.receive_json()["faces"][0]["probabilities"] is None
    finally:
        app.state.service.close()


# -------------------------------------------------------------- the command
def test_serve_command_errors(tmp_path, capsys, monkeypatch):
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port must be between 0 and 65535" in capsys.readouterr().err
    assert main(["serve", "--max-upload-mb", "0"]) == 2
    assert main(["serve", "--model", str(tmp_path / "missing.skfer")]) == 2
    err = capsys.readouterr().err
    assert "neither a shipped model" in err and "Traceback" not in err
    (tmp_path / "notes.txt").write_text("not a model")
    assert main(["serve", "--model", str(tmp_path / "notes.txt")]) == 2
    assert "skfer serve: error:" in capsys.readouterr().err
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fastapi" else real(name, *a))
    assert main(["serve"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and 'pip install "skfer[serve]"' in err
    with pytest.raises(ImportError, match=r'pip install "skfer\[serve\]"'):
        create_app()


def test_the_pixel_limit_follows_skfer_max_pixels(monkeypatch):
    # One limit for every skfer reader: the environment variable that raises
    # skfer predict's limit raises the server's too; an explicit value wins.
    monkeypatch.setenv("SKFER_MAX_PIXELS", "1000")
    assert Limits().max_pixels == 1000
    assert Limits(max_pixels=5).max_pixels == 5
    monkeypatch.setenv("SKFER_MAX_PIXELS", "many")
    with pytest.raises(ValueError, match="SKFER_MAX_PIXELS must be a positive int"):
        Limits()


def test_limits_are_checked():
    with pytest.raises(ValueError, match="max_pixels must be a positive int"):
        Limits(max_pixels=0)
    with pytest.raises(ValueError, match="max_upload_mb must be a positive number"):
        create_app(max_upload_mb="lots")
    from skfer.serve._service import decode_image

    image = decode_image(io.BytesIO(_encode(skdata.astronaut())).getvalue(), "a.png")
    np.testing.assert_array_equal(image, skdata.astronaut())
