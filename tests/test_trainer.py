"""Tests for warpkit.nn.trainer and the ``warpkit train`` / ``warpkit evaluate`` commands.

Runs are tiny (a few dozen training digits, a few dozen test samples) to stay fast.
"""

from __future__ import annotations

import gzip
import json
import struct

import imageio.v3 as iio
import numpy as np
import pytest

from warpkit import cli
from warpkit.datasets import make_experiment
from warpkit.nn import trainer

TINY = dict(data="digits", distortion="rts", model="st-fcn", epochs=1, batch_size=32, lr=1e-3,
            seed=3, max_train=16, max_test=40, show_progress=False)
TIMING_KEYS = {"train_seconds", "epoch_seconds", "samples_per_second"}


def strip_timings(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if k not in TIMING_KEYS}
    out["history"] = [{k: v for k, v in h.items() if not k.endswith("seconds")}
                      for h in metrics["history"]]
    return out


@pytest.fixture(scope="module")
def st_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("st_run")
    metrics = trainer.train(out=out, **TINY)
    return out, metrics


def test_train_writes_metrics_checkpoint_and_png(st_run):
    out, metrics = st_run
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in ("model", "distortion", "epochs", "test_error", "train_seconds", "epoch_seconds",
                "samples_per_second", "history"):
        assert key in saved, key
    assert saved["model"] == "st-fcn" and saved["distortion"] == "rts" and saved["epochs"] == 1
    assert saved["train_samples_per_epoch"] == 8 * 16 and saved["test_samples"] == 40
    assert 0.0 <= saved["test_error"] <= 1.0 and saved["samples_per_second"] > 0
    assert saved["test_error"] == saved["history"][-1]["test_error"]
    with np.load(out / "checkpoint.npz", allow_pickle=False) as f:
        config = json.loads(str(f["config"]))
        assert config["model"] == "st-fcn" and config["image_shape"] == [42, 42, 1]
        assert config["seed"] == 3 and config["epochs"] == 1 and config["data"] == "digits"
        assert any(k.startswith("params.0.loc.") for k in f.files)


def test_transforms_png_shows_test_inputs_and_transformer_outputs(st_run):
    out, _ = st_run
    png = iio.imread(out / "transforms.png")
    cell, gap, up = 42, 2, 3
    assert png.dtype == np.uint8 and png.ndim == 2
    assert png.shape == ((2 * (cell + gap) + gap) * up, (8 * (cell + gap) + gap) * up)
    test_x = make_experiment("digits", "rts", max_train=16, max_test=40).test_x
    model, _ = trainer.load_checkpoint(out / "checkpoint.npz")
    warped = model.layers[0].forward(test_x[:8], training=False)
    for k in range(8):
        left = (gap + k * (cell + gap)) * up
        top = gap * up
        top_cell = png[top : top + cell * up : up, left : left + cell * up : up]
        np.testing.assert_array_equal(top_cell, np.round(test_x[k, :, :, 0] * 255))
        bottom = (2 * gap + cell) * up
        low_cell = png[bottom : bottom + cell * up : up, left : left + cell * up : up]
        expected = np.round(np.clip(warped[k, :, :, 0], 0, 1) * 255)
        np.testing.assert_allclose(low_cell, expected, atol=1)


def test_evaluate_reproduces_test_error(st_run):
    out, metrics = st_run
    assert trainer.evaluate(out / "checkpoint.npz") == metrics["test_error"]
    # an independent count with the reloaded model
    model, _ = trainer.load_checkpoint(out / "checkpoint.npz")
    exp = make_experiment("digits", "rts", max_train=16, max_test=40)
    wrong = sum(int(np.argmax(model.forward(exp.test_x[i : i + 1], training=False)) !=
                    exp.test_y[i]) for i in range(len(exp.test_y)))
    assert wrong / len(exp.test_y) == metrics["test_error"]


def test_same_seed_same_numbers(st_run, tmp_path):
    out, metrics = st_run
    again = trainer.train(out=tmp_path, **TINY)
    assert strip_timings(again) == strip_timings(metrics)
    with np.load(out / "checkpoint.npz") as a, np.load(tmp_path / "checkpoint.npz") as b:
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    other = trainer.train(**{**TINY, "seed": 4})
    assert other["history"][0]["train_loss"] != metrics["history"][0]["train_loss"]


def test_loc_lr_equal_to_lr_changes_nothing(st_run, tmp_path):
    """Two Adam groups with the same learning rate are the single Adam, bit for bit."""
    _, metrics = st_run
    split = trainer.train(out=tmp_path, **{**TINY, "loc_lr": TINY["lr"]})
    assert split["loc_lr"] == TINY["lr"] and metrics["loc_lr"] is None
    same = {k: v for k, v in strip_timings(split).items() if k != "loc_lr"}
    assert same == {k: v for k, v in strip_timings(metrics).items() if k != "loc_lr"}


def test_loc_lr_moves_only_the_localization_net(tmp_path):
    from warpkit.nn import models

    trainer.train(out=tmp_path, **{**TINY, "loc_lr": 1e-9, "warmup": 0})
    trained, config = trainer.load_checkpoint(tmp_path / "checkpoint.npz")
    assert config["loc_lr"] == 1e-9
    start = models.build(TINY["model"], tuple(config["image_shape"]), 10, seed=TINY["seed"])
    before, after = start.params, trained.params
    loc = [k for k in before if k.startswith("0.loc.")]
    rest = [k for k in before if not k.startswith("0.loc.")]
    assert loc and rest
    # Adam's steps are at most about lr each: 1e-9 per step, 1 epoch of tiny batches
    assert max(np.abs(after[k] - before[k]).max() for k in loc) < 1e-6
    assert min(np.abs(after[k] - before[k]).max() for k in rest) > 1e-4


def test_cli_model_choices_match_models():
    from warpkit._cli_train import MODEL_CHOICES
    from warpkit.nn import models

    assert MODEL_CHOICES == models.MODEL_NAMES


def _recorded_rates(monkeypatch, **kwargs) -> list[list[float]]:
    """The learning rate of every Adam step of a TINY run, per optimizer (in step order)."""
    from warpkit.nn.optim import Adam

    seen: dict[int, list[float]] = {}
    original = Adam.step

    def spy(self):
        seen.setdefault(id(self), []).append(self.lr)
        return original(self)

    monkeypatch.setattr(Adam, "step", spy)
    trainer.train(**{**TINY, **kwargs})
    return list(seen.values())


@pytest.mark.parametrize("warmup", [0, 1, 3, 6, 100])
def test_warmup_ramps_every_learning_rate_linearly(monkeypatch, warmup):
    # TINY: 16 digits x 8 passes = 128 samples per epoch, batch 32: 4 steps per epoch
    lr, loc_lr = 2e-3, 5e-4
    groups = _recorded_rates(monkeypatch, epochs=2, lr=lr, loc_lr=loc_lr, warmup=warmup)
    assert len(groups) == 2 and all(len(g) == 8 for g in groups)
    for rates, base in zip(sorted(groups, key=lambda g: g[-1]), (loc_lr, lr), strict=True):
        expected = [base * min(1.0, (k + 1) / warmup) if warmup else base for k in range(8)]
        np.testing.assert_allclose(rates, expected, rtol=1e-12)
        if warmup <= 8:
            assert rates[-1] == base  # exactly the configured rate once warmed up


def test_warmup_is_recorded_and_changes_training(st_run):
    _, metrics = st_run
    assert metrics["warmup"] == 0 and metrics["loc_lr"] is None  # RTS: the protocol
    warm = trainer.train(**{**TINY, "warmup": 8})
    assert warm["warmup"] == 8
    assert warm["history"][0]["train_loss"] != metrics["history"][0]["train_loss"]


@pytest.mark.parametrize("model", ["st-cnn", "st-fcn", "cnn"])
def test_tc_recipe_warms_up_and_slows_st_cnn_localization(monkeypatch, model):
    lr = 1e-3
    groups = _recorded_rates(monkeypatch, distortion="tc", model=model, lr=lr)
    ramp = [(k + 1) / 180 for k in range(4)]  # 16 digits x 8 / batch 32: 4 steps
    expected = [[lr * f for f in ramp]]
    if model == "st-cnn":  # a second Adam for the localization net, at lr / 10
        expected.insert(0, [lr / 10 * f for f in ramp])
    assert len(groups) == len(expected)
    for rates, want in zip(sorted(groups, key=lambda g: g[-1]), expected, strict=True):
        np.testing.assert_allclose(rates, want, rtol=1e-12)


def test_explicit_settings_override_the_recipe(monkeypatch):
    groups = _recorded_rates(monkeypatch, distortion="tc", model="st-cnn", warmup=0,
                             loc_lr=1e-3)
    assert [sorted(set(g)) for g in groups] == [[1e-3], [1e-3]]
    metrics = trainer.train(**{**TINY, "distortion": "tc", "model": "st-cnn", "warmup": 0,
                               "max_test": 10})
    assert metrics["warmup"] == 0 and metrics["loc_lr"] == pytest.approx(1e-4)


def test_train_argument_errors():
    with pytest.raises(ValueError, match="model must be one of"):
        trainer.train(**{**TINY, "model": "resnet"})
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        trainer.train(**{**TINY, "epochs": 0})
    with pytest.raises(ValueError, match="lr must be a positive"):
        trainer.train(**{**TINY, "lr": -1.0})
    with pytest.raises(ValueError, match="loc_lr must be a positive"):
        trainer.train(**{**TINY, "loc_lr": 0.0})
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(ValueError, match="warmup must be an int >= 0"):
            trainer.train(**{**TINY, "warmup": bad})
    with pytest.raises(ValueError, match="loc_lr applies to the spatial-transformer models"):
        trainer.train(**{**TINY, "model": "cnn", "loc_lr": 1e-4})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        trainer.load_checkpoint("/nonexistent/checkpoint.npz")


def test_cli_train_learns_and_evaluate_rescores(tmp_path, capsys):
    out = tmp_path / "fcn"
    code = cli.main(["train", "--model", "fcn", "--distortion", "r", "--epochs", "2",
                     "--batch-size", "32", "--max-train", "64", "--max-test", "50",
                     "--seed", "1", "--warmup", "8", "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["warmup"] == 8
    assert f"test error {metrics['test_error']:.4f}" in printed
    history = metrics["history"]
    assert history[1]["train_loss"] < history[0]["train_loss"] < 2.4  # it learns
    assert history[1]["train_accuracy"] > 0.3
    assert "inputs only" in metrics["transforms_png"]
    png = iio.imread(out / "transforms.png")
    assert png.shape == ((28 + 4) * 3, (8 * 30 + 2) * 3)  # one row: no spatial transformer
    for checkpoint in (out / "checkpoint.npz", out):  # the file, or the run folder
        assert cli.main(["evaluate", "--checkpoint", str(checkpoint)]) == 0
        assert capsys.readouterr().out.strip() == f"test error {metrics['test_error']:.4f}"
    assert cli.main(["evaluate", "--checkpoint", str(tmp_path)]) == 2  # a folder without one
    assert f"checkpoint {tmp_path / 'checkpoint.npz'} does not exist" in capsys.readouterr().err


def _idx(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + \
        arr.astype(np.uint8).tobytes()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "resnet"], "unknown model 'resnet'"),
        (["train", "--distortion", "shear"], "unknown distortion 'shear'"),
        (["train", "--data", "cifar"], "unknown data 'cifar'"),
        (["train", "--data", "mnist"], "needs --data-dir"),
        (["train", "--data", "mnist", "--data-dir", "/nonexistent"], "not a directory"),
        (["train", "--epochs", "0"], "--epochs must be >= 1"),
        (["train", "--lr", "0"], "--lr must be > 0"),
        (["train", "--loc-lr", "-1"], "--loc-lr must be > 0"),
        (["train", "--warmup", "-5"], "--warmup must be >= 0"),
        (["train", "--model", "fcn", "--loc-lr", "1e-4"], "needs a spatial-transformer model"),
        (["evaluate", "--checkpoint", "/nonexistent.npz"], "does not exist"),
    ],
)
def test_cli_bad_arguments(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err and err.count("\n") == 1


def test_cli_missing_idx_file_and_bad_checkpoint(tmp_path, capsys):
    rng = np.random.default_rng(0)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(_idx(rng.integers(0, 256, (4, 28, 28)))))
    argv = ["train", "--data", "mnist", "--data-dir", str(tmp_path), "--quiet",
            "--out", str(tmp_path / "run")]
    assert cli.main(argv) == 2
    assert "missing train-labels-idx1-ubyte" in capsys.readouterr().err
    bogus = tmp_path / "bogus.npz"
    np.savez(bogus, a=np.zeros(3))
    assert cli.main(["evaluate", "--checkpoint", str(bogus)]) == 2
    assert "not a warpkit checkpoint" in capsys.readouterr().err
    for name, write in (("junk.npz", lambda p: p.write_bytes(b"junk")),
                        ("array.npy", lambda p: np.save(p, np.zeros(3)))):
        path = tmp_path / name
        write(path)
        assert cli.main(["evaluate", "--checkpoint", str(path)]) == 2
        assert f"{path} is not a warpkit checkpoint (not an .npz archive)" in (
            capsys.readouterr().err)


def test_cli_damaged_checkpoints_are_one_line_and_exit_2(st_run, tmp_path, capsys):
    """Bytes flipped inside an archive (still a zip: its CRC check fails when an array is
    read) and a config that is JSON but not an object."""
    import json

    data = bytearray((st_run[0] / "checkpoint.npz").read_bytes())
    mid = len(data) // 2
    data[mid:mid + 16] = bytes(b ^ 0xFF for b in data[mid:mid + 16])
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(data))
    listed = tmp_path / "listed.npz"
    np.savez(listed, config=np.array(json.dumps([1, 2])))
    for path, why in ((damaged, "damaged"), (listed, "config is not an object")):
        assert cli.main(["evaluate", "--checkpoint", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{path} is not a warpkit checkpoint" in err and why in err, err
        assert err.count("\n") == 1


def test_cli_help_states_the_recipes(capsys):
    """``warpkit train --help`` spells the defaults out without importing warpkit.nn; it must
    say what :data:`trainer.RECIPES` does."""
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for (distortion, model), settings in trainer.RECIPES.items():
        assert f"{settings['warmup']} on {distortion.upper()}" in text
        if "loc_lr_scale" in settings:
            assert (f"--lr / {round(1 / settings['loc_lr_scale'])} for {model} on "
                    f"{distortion.upper()}") in text


def test_a_first_step_that_compiles_says_so_once(monkeypatch):
    """With an empty numba cache the first step compiles for tens of seconds; the progress
    output says so (here the wait is short and the first step made to compile something)."""
    import io
    import time

    from numba import njit

    import warpkit._progress as progress_module

    real_step = trainer._train_step
    steps = []

    def step(*args):
        steps.append(1)
        if len(steps) <= 2:  # the first two steps compile late in the step; only one speaks
            time.sleep(0.3)
            k = len(steps)
            njit(lambda x: x + k)(1)
        return real_step(*args)

    monkeypatch.setattr(trainer, "_train_step", step)
    monkeypatch.setattr(progress_module, "SLOW_AFTER", 0.1)
    out = io.StringIO()
    trainer.train(**{**TINY, "show_progress": True, "file": out})
    assert len(steps) >= 2
    assert out.getvalue().count("warpkit: compiling warpkit's kernels on first use") == 1
