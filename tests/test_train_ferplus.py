"""``skfer recipe --dataset ferplus`` (skfer.pretrained.train.train_ferplus) on generated files."""

import json

import numpy as np
import pytest

from skfer.cli import main as cli_main
from skfer.neural import CNNClassifier
from skfer.pretrained import train as train_module
from skfer.pretrained.train import FERPLUS_RECIPE, RECIPE

_PLUS_HEADER = ("Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,"
                "contempt,unknown,NF")


@pytest.fixture(scope="module")
def ferplus_files(tmp_path_factory):
    """A FER2013 csv of 48 Training and 16 PublicTest rows, its FER+ votes,
    and a FER2013 model of the recipe's architecture to start from."""
    root = tmp_path_factory.mktemp("ferplus")
    rng = np.random.default_rng(0)
    n_train, n_test = 48, 16
    n = n_train + n_test
    fer_labels = rng.integers(0, 7, n)
    pixels = rng.integers(0, 256, (n, 2304))
    usages = ["Training"] * n_train + ["PublicTest"] * n_test
    lines = ["emotion,pixels,Usage"] + [
        f"{lab},{' '.join(map(str, px))},{u}"
        for lab, px, u in zip(fer_labels, pixels, usages, strict=True)
    ]
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    rows = []
    for i, u in enumerate(usages):
        votes = [0] * 10
        votes[i % 8] = 7  # a clear majority for every image, each class present
        votes[(i + 1) % 8] = 3
        rows.append(f"{u},fer{i:07d}.png," + ",".join(map(str, votes)))
    (root / "fer2013new.csv").write_text(_PLUS_HEADER + "\n" + "\n".join(rows) + "\n")
    init = root / "fer2013_model"
    arch = {k: RECIPE[k] for k in ("architecture", "module__channels")}
    CNNClassifier(**arch, max_epochs=1, validation_fraction=None, random_state=0).fit(
        pixels[:n_train].reshape(-1, 48, 48).astype(np.uint8), fer_labels[:n_train]
    ).save(init / "model.skfer")
    return root, init


@pytest.mark.parametrize("labels", ["votes", "majority"])
def test_ferplus_recipe_one_command(ferplus_files, tmp_path, labels, capsys):
    from skfer.io import load_model

    root, init = ferplus_files
    out = tmp_path / "out"
    code = cli_main(["recipe",
        "--dataset", "ferplus", "--ferplus", str(root / "fer2013new.csv"),
        "--data", str(root / "fer2013.csv"), "--init", str(init), "--labels", labels,
        "--max-epochs", "2", "--budget", "60", "--threads", "1", "--out", str(out),
    ])
    assert code == 0
    card = json.loads((out / "card.json").read_text())
    assert card["dataset"] == "ferplus" and card["labels"] == labels
    assert card["classes"] == ["neutral", "happy", "surprise", "sad", "angry", "disgust",
                               "fear", "contempt"]
    assert card["n_train"] == 48 and card["epochs"] == 2
    assert card["recipe"]["lr"] == FERPLUS_RECIPE["lr"] and "pretrained" not in card["recipe"]
    assert np.sum(card["public_test_confusion_flip"]) == 16
    assert ("vote distributions" in card["data"]) == (labels == "votes")
    printed = capsys.readouterr().out  # the epoch table, then the card
    assert "train_loss" in printed
    assert json.loads(printed[printed.index("\n{") :]) == card
    assert card["n_pretrained_tensors"] > 100  # the FER2013 body was copied
    load_model(out / "model.skfer")
    for epoch in (1, 2):
        folder = out / "checkpoints" / f"epoch_{epoch:03d}"
        history = json.loads((folder / "history.json").read_text())
        assert history["epoch"] == epoch and np.isfinite(history["train_loss"])
        checkpoint = load_model(folder / "model.skfer")
        pred = checkpoint.predict(np.zeros((2, 48, 48), np.uint8))
        assert set(pred) <= set(card["classes"])
        assert checkpoint.callbacks is None and checkpoint.pretrained is None


def test_ferplus_recipe_budget_stops_after_an_epoch(ferplus_files, tmp_path):
    """--budget ends training after the epoch that passes it; that epoch is
    checkpointed too, and the model and its card are written."""
    root, init = ferplus_files
    out = tmp_path / "out"
    assert cli_main(["recipe",
        "--dataset", "ferplus", "--ferplus", str(root / "fer2013new.csv"),
        "--data", str(root / "fer2013.csv"), "--init", str(init), "--n-train", "32",
        "--max-epochs", "5", "--budget", "0.001", "--threads", "1", "--out", str(out),
    ]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["epochs"] == 1 and card["n_train"] == 32 and card["labels"] == "votes"
    assert (out / "model.skfer").is_file()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch_001"]


@pytest.mark.parametrize("args, message", [
    (["--dataset", "ferplus"], "--dataset ferplus needs --ferplus CSV"),
    (["--dataset", "ferplus", "--ferplus", "nope.csv"], "--ferplus nope.csv: no such file"),
    (["--labels", "votes"], "--labels and --ferplus are options of --dataset ferplus"),
    (["--n-train", "0"], "--n-train must be at least 1"),
])
def test_ferplus_recipe_usage_errors(ferplus_files, tmp_path, capsys, args, message):
    root, _ = ferplus_files
    code = cli_main(["recipe", "--data", str(root / "fer2013.csv"), "--out", str(tmp_path),
                     *args])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("skfer recipe: error:")


def test_shipped_init_is_a_model_folder():
    folder = train_module.shipped_init()
    assert folder is None or (folder / "model.skfer").is_file()
