"""Fuzz of the model-file reader (issue #15): a corpus generated from two real files.

Two small model files are written (a bare net by ``CNNClassifier.save``, a
deep Pipeline by :func:`skfer.io.save_model`) and broken in every way the
corpus knows: each member truncated, replaced by ``{}``, by a pickle, by a
``torch.save`` file, by a zip bomb; each field of the manifest, of the net
config, of its ``module`` and of its ``params`` given a value of another
type (a string, a list, null, a nested object, a huge int, a negative, NaN);
the zip truncated; the whole file replaced. Every case must either raise the
one error of a broken file (a ``ValueError`` whose message opens with the
file's name) or, where the new value is one the reader accepts, load a model
that predicts exactly as the original; no other exception, no code run from
the file (a pickle payload creates a file if it is ever unpickled), and a
bounded memory for the bombs. The problems of a category are collected and
reported together.
"""

import io
import json
import pickle
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
import torch

from skfer.io import load_model, save_model
from skfer.models import make_model
from skfer.neural import CNNClassifier

MANIFEST, CONFIG, WEIGHTS, SKOPS = (
    "manifest.json", "nets/0/config.json", "nets/0/weights.safetensors", "model.skops")
#: Values of another type (or range) for a JSON field.
WRONG = {
    "str": "oops",
    "list": [1, 2],
    "null": None,
    "object": {"a": {"b": [1]}},
    "int64+": 2**64 + 1,  # beyond int64
    "vast": 10**400,  # beyond float
    "negative": -1,
    "nan": float("nan"),
}
#: (member, key, wrong) replacements that are valid values: the file must load.
ACCEPTED = {
    (MANIFEST, "metadata", "object"),  # the caller's metadata: any object
    (CONFIG, "input_scale", "null"),  # uint8 training images: no float scale
    (CONFIG, "n_features_in", "null"),  # fitted on images, not flat vectors
    (CONFIG, "feature_names_in", "null"),
    (CONFIG, "device", "null"),  # informative: where it was trained
}
MANIFEST_KEYS = ["format", "format_version", "skfer_version", "created", "kind",
                 "estimator", "steps", "classes", "root", "nets", "metadata"]
CONFIG_KEYS = ["format", "format_version", "skfer_version", "torch_version", "estimator",
               "params", "classes", "input_shape", "input_scale", "input_mean", "input_std",
               "n_features_in", "feature_names_in", "module", "device"]
MODULE_KEYS = ["body", "body_kwargs", "scale", "channels_last"]
BOMB_BYTES = 64 * 2**20  # uncompressed; deflates to about 64 KB


class _Payload:
    """Unpickled, it creates the file ``path``: proof that code from the file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (20, 16, 16)).astype(np.uint8)
    y = np.array(["happy", "sad"] * 10)
    folder = tmp_path_factory.mktemp("fuzz")
    tiny = dict(module__channels=(2,), module__hidden=(4,), max_epochs=1,
                validation_fraction=None, augment=False, batch_size=20, random_state=0)
    net = CNNClassifier(architecture="simple", **tiny).fit(X, y)
    pipe = make_model("cnn:simple", size=12, **tiny).fit(X, y)
    files = {"net": net.save(folder / "net.skfer"),
             "pipe": save_model(pipe, folder / "pipe.skfer")}
    sentinel = folder / "code-ran"
    payload = pickle.dumps({"weights": _Payload(sentinel)})
    buf = io.BytesIO()
    torch.save({"weights": _Payload(sentinel)}, buf)
    return {
        "X": X,
        "files": files,
        "members": {k: _members(p) for k, p in files.items()},
        "proba": {"net": net.predict_proba(X), "pipe": pipe.predict_proba(X)},
        "pickle": payload,
        "torch": buf.getvalue(),
        "sentinel": sentinel,
        "out": folder,
    }


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _bomb(fh, name, size=BOMB_BYTES):
    """Write ``name`` as ``size`` zero bytes into the zip ``fh``, streamed (no big buffer)."""
    chunk = bytes(2**20)
    with fh.open(name, "w", force_zip64=True) as out:
        for _ in range(size // len(chunk)):
            out.write(chunk)


def _outcome(corpus, kind, case, data, *, accepted=False, either=False, measure=False):
    """One case: None if it behaved, else the problem in words.

    ``accepted``: the file must load; ``either``: it may load or be refused;
    else it must be refused. A loaded file must predict as the original.
    """
    path = corpus["out"] / "case.skfer"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        data(path)  # a writer (the bombs)
    if measure:
        tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a device that is not here
            model = load_model(path, device="cpu")
            proba = model.predict_proba(corpus["X"])
    except ValueError as exc:
        if not str(exc).startswith(f"'{path}'"):
            return f"{case}: the error does not name the file: {exc}"
        if accepted:
            return f"{case}: a valid value was refused: {exc}"
        return None
    except Exception as exc:  # noqa: BLE001 - what the fuzz looks for
        return f"{case}: {type(exc).__name__}: {str(exc)[:200]}"
    else:
        if not np.array_equal(proba, corpus["proba"][kind]):
            return f"{case}: loaded, but predicts otherwise than the original"
        if not (accepted or either):
            return f"{case}: loaded although broken"
        return None
    finally:
        path.unlink()
        if measure:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak < 16 * 2**20, f"{case}: {peak / 2**20:.0f} MiB allocated while reading"


def _report(problems, corpus):
    assert not corpus["sentinel"].exists(), "a pickle payload from a model file ran"
    assert not problems, f"{len(problems)} cases misbehaved:\n" + "\n".join(problems)


@pytest.mark.parametrize("kind", ["net", "pipe"])
def test_every_member_broken(corpus, kind):
    members = corpus["members"][kind]
    problems = []
    for name, data in members.items():
        replacements = {
            "truncated to half": data[: len(data) // 2],
            "truncated to 1 byte": data[:1],
            "empty": b"",
            "{}": b"{}",
            "a pickle": corpus["pickle"],
            "a torch.save file": corpus["torch"],
            "a zip holding a pickle": _zip({"data.pkl": corpus["pickle"]}),
        }
        for what, blob in replacements.items():
            problems.append(_outcome(corpus, kind, f"{name} {what}",
                                     _zip({**members, name: blob})))
    _report([p for p in problems if p], corpus)


@pytest.mark.parametrize("kind", ["net", "pipe"])
def test_zip_bombs_are_refused_in_bounded_memory(corpus, kind):
    members = corpus["members"][kind]
    problems = []

    def bomb_in(name):
        def write(path):
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for n, data in members.items():
                    if n == name:
                        _bomb(zf, n)
                    else:
                        zf.writestr(n, data)
        return write

    for name in members:
        problems.append(_outcome(corpus, kind, f"{name} a zip bomb", bomb_in(name),
                                 measure=True))
    if kind == "pipe":  # the skops part is a zip too: bombs inside it
        for inner in ("schema.json", "0.npy"):
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                _bomb(zf, inner)
            problems.append(_outcome(corpus, kind, f"{SKOPS}/{inner} a zip bomb",
                                     _zip({**members, SKOPS: buf.getvalue()}), measure=True))
    _report([p for p in problems if p], corpus)


def _with_field(members, member, key, value, inside=None):
    doc = json.loads(members[member])
    target = doc[inside] if inside else doc
    target[key] = value
    return _zip({**members, member: json.dumps(doc).encode()})


@pytest.mark.parametrize("kind", ["net", "pipe"])
def test_every_manifest_field_of_another_type(corpus, kind):
    members = corpus["members"][kind]
    problems = [
        _outcome(corpus, kind, f"{MANIFEST} {key}={wrong}",
                 _with_field(members, MANIFEST, key, value),
                 accepted=(MANIFEST, key, wrong) in ACCEPTED
                 or key == "steps" and wrong == "null" and kind == "net")
        for key in MANIFEST_KEYS for wrong, value in WRONG.items()
    ]
    _report([p for p in problems if p], corpus)


def test_every_net_config_field_of_another_type(corpus):
    members = corpus["members"]["net"]
    problems = [
        _outcome(corpus, "net", f"{CONFIG} {key}={wrong}",
                 _with_field(members, CONFIG, key, value),
                 accepted=(CONFIG, key, wrong) in ACCEPTED)
        for key in CONFIG_KEYS for wrong, value in WRONG.items()
    ]
    problems += [
        _outcome(corpus, "net", f"{CONFIG} module.{key}={wrong}",
                 _with_field(members, CONFIG, key, value, inside="module"))
        for key in MODULE_KEYS for wrong, value in WRONG.items()
    ]
    # body_kwargs entries: the architecture's arguments
    config = json.loads(members[CONFIG])
    for i, (arg, _) in enumerate(config["module"]["body_kwargs"]["__dict__"]):
        for wrong, value in WRONG.items():
            doc = json.loads(members[CONFIG])
            doc["module"]["body_kwargs"]["__dict__"][i][1] = value
            problems.append(_outcome(corpus, "net", f"body_kwargs {arg}={wrong}",
                                     _zip({**members, CONFIG: json.dumps(doc).encode()})))
    _report([p for p in problems if p], corpus)


def test_every_param_of_another_type(corpus):
    # A parameter of another value may be one the estimator takes: then the
    # file loads and predicts as before; else it is refused, never a crash.
    members = corpus["members"]["net"]
    params = json.loads(members[CONFIG])["params"]
    problems = []
    for key in params:
        for wrong, value in WRONG.items():
            doc = json.loads(members[CONFIG])
            doc["params"][key] = value
            problems.append(_outcome(corpus, "net", f"params {key}={wrong}",
                                     _zip({**members, CONFIG: json.dumps(doc).encode()}),
                                     either=True))
    _report([p for p in problems if p], corpus)


def test_deeply_nested_json(corpus):
    members = corpus["members"]["net"]
    deep = b"[" * 100_000 + b"]" * 100_000
    problems = [
        _outcome(corpus, "net", f"{name} nested 100000 deep", _zip({**members, name: deep}))
        for name in (MANIFEST, CONFIG)
    ]
    doc = json.loads(members[CONFIG])
    doc["module"]["body_kwargs"] = json.loads("[" * 500 + "]" * 500)
    problems.append(_outcome(corpus, "net", "body_kwargs nested 500 deep",
                             _zip({**members, CONFIG: json.dumps(doc).encode()})))
    _report([p for p in problems if p], corpus)


@pytest.mark.parametrize("kind", ["net", "pipe"])
def test_truncated_and_replaced_files(corpus, kind):
    raw = corpus["files"][kind].read_bytes()
    cases = {f"cut at {f:.0%}": raw[: int(len(raw) * f)] for f in (0.01, 0.1, 0.5, 0.9, 0.99)}
    cases.update({
        "last byte cut": raw[:-1],
        "end of central directory cut": raw[:-22],
        "empty file": b"",
        "a pickle": corpus["pickle"],
        "a torch.save file": corpus["torch"],
        "random bytes": np.random.default_rng(0).bytes(4096),
        "a zip of nothing": _zip({}),
    })
    problems = [_outcome(corpus, kind, what, blob) for what, blob in cases.items()]
    _report([p for p in problems if p], corpus)
