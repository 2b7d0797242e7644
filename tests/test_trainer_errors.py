"""Argument and checkpoint errors of warpkit.nn.trainer and ``warpkit train`` / ``evaluate``.

Every refusal here happens before any training; the few runs that train are tiny (2 digits,
2 test samples, the small fcn on R).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from warpkit import cli
from warpkit.nn import models, trainer

QUICK = dict(data="digits", distortion="r", model="fcn", epochs=1, batch_size=16, lr=1e-3,
             seed=1, max_train=2, max_test=2, show_progress=False)
SMALL = {"model": "fcn", "image_shape": [8, 8, 1], "num_classes": 3, "seed": 0,
         "data": "digits", "distortion": "r"}
TIMING_KEYS = {"train_seconds", "epoch_seconds", "samples_per_second"}


def _no_timings(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if k not in TIMING_KEYS}
    out["history"] = [{k: v for k, v in h.items() if not k.endswith("seconds")}
                      for h in metrics["history"]]
    return out


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if a training step runs (the refusals must come before the first)."""
    def step(*args):
        raise AssertionError("a training step ran before the argument was refused")

    monkeypatch.setattr(trainer, "_train_step", step)


def _small_state() -> dict[str, np.ndarray]:
    model = models.build("fcn", (8, 8, 1), 3, seed=0)
    return {"params." + k: v for k, v in model.state_dict().items()}


def _write(path, config, state=None) -> None:
    """A checkpoint written by hand (save_checkpoint refuses the configs tested here)."""
    meta = {**config, "format": trainer.CHECKPOINT_FORMAT, "version": 1}
    np.savez(path, config=np.array(json.dumps(meta)), **(_small_state() if state is None
                                                          else state))


def _cli_error(argv, capsys) -> str:
    """``warpkit ...`` exits 2 with one line on stderr (no traceback); that line."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"warpkit {argv[0]}: error: ") and err.count("\n") == 1, err
    return err


# --------------------------------------------------------------------------- checkpoints
def _drop(key):
    return lambda c: {k: v for k, v in c.items() if k != key}


def _set(**changes):
    return lambda c: {**c, **changes}


@pytest.mark.parametrize("change, field", [
    (_set(image_shape=None), "'image_shape'"),
    (_set(image_shape=[8, 8]), "'image_shape'"),
    (_set(image_shape=[8.0, 8, 1]), "'image_shape'"),
    (_set(image_shape=[8, 0, 1]), "'image_shape'"),
    (_set(image_shape="881"), "'image_shape'"),
    (_set(image_shape=[100000, 100000, 1]), "'image_shape'"),  # 18.6 TiB of weights
    (_set(num_classes=0), "'num_classes'"),
    (_set(num_classes=None), "'num_classes'"),
    (_set(num_classes=10**12), "'num_classes'"),
    (_set(seed="x"), "'seed'"),
    (_set(seed=-1), "'seed'"),
    (_set(seed=1.5), "'seed'"),
    (_set(model="resnet"), "'model'"),
    (_set(model=["fcn"]), "'model'"),
    (_drop("model"), "no field 'model'"),
    (_drop("seed"), "no field 'seed'"),
    (_drop("image_shape"), "no field 'image_shape'"),
    (_set(image_shape=[9, 8, 1]), "does not match"),  # valid, but not the stored parameters
    (_set(model="cnn"), "does not match"),
])
def test_tampered_checkpoint_config_is_a_value_error_naming_file_and_field(
        tmp_path, capsys, change, field):
    path = tmp_path / "tampered.npz"
    _write(path, change(SMALL))
    with pytest.raises(ValueError, match="not a warpkit checkpoint") as info:
        trainer.load_checkpoint(path)
    assert str(path) in str(info.value) and field in str(info.value)
    err = _cli_error(["evaluate", "--checkpoint", str(path)], capsys)
    assert str(path) in err and field in err


def test_checkpoint_config_that_is_not_json(tmp_path, capsys):
    path = tmp_path / "text.npz"
    np.savez(path, config=np.array("not json {"), **_small_state())
    with pytest.raises(ValueError, match="its config is not JSON"):
        trainer.load_checkpoint(path)
    err = _cli_error(["evaluate", "--checkpoint", str(path)], capsys)
    assert f"{path} is not a warpkit checkpoint (its config is not JSON" in err


@pytest.mark.parametrize("dtype", ["U8", "complex64"])
def test_checkpoint_parameters_must_be_real_numbers(tmp_path, dtype):
    state = _small_state()
    key = sorted(state)[0]
    state[key] = state[key].astype(dtype)  # strings would be parsed, complex truncated
    path = tmp_path / "params.npz"
    _write(path, SMALL, state)
    with pytest.raises(ValueError, match=f"parameter '{key[len('params.'):]}' must hold real"):
        trainer.load_checkpoint(path)


@pytest.mark.parametrize("change, field", [
    (_drop("data"), "no field 'data'"),
    (_drop("distortion"), "no field 'distortion'"),
    (_set(distortion=["r"]), "'distortion'"),
    (_set(data="cifar"), "'data'"),
    (_set(max_test=0), "'max_test'"),
    (_set(max_train="2"), "'max_train'"),
    (_set(data_dir=3), "'data_dir'"),
])
def test_evaluate_needs_the_experiment_in_the_config(tmp_path, capsys, change, field):
    path = tmp_path / "loadable.npz"
    _write(path, change(SMALL))
    trainer.load_checkpoint(path)  # the model itself loads
    with pytest.raises(ValueError, match="not a warpkit checkpoint of a train run") as info:
        trainer.evaluate(path)
    assert str(path) in str(info.value) and field in str(info.value)
    err = _cli_error(["evaluate", "--checkpoint", str(path)], capsys)
    assert str(path) in err and field in err


@pytest.mark.parametrize("config, error, message", [
    ({}, ValueError, "no field 'model'"),
    ({**SMALL, "seed": "x"}, ValueError, "'seed'"),
    ({**SMALL, "image_shape": [9, 8, 1]}, ValueError, "does not match"),
    ({**SMALL, "num_classes": 4}, ValueError, "does not match"),
    ({**SMALL, "note": np.int64(3)}, TypeError, "JSON-serialisable"),
    ([("model", "fcn")], TypeError, "config must be a dict"),
])
def test_save_checkpoint_refuses_what_load_checkpoint_cannot_load(tmp_path, config, error,
                                                                  message):
    path = tmp_path / "ck.npz"
    with pytest.raises(error, match=message):
        trainer.save_checkpoint(path, models.build("fcn", (8, 8, 1), 3, seed=0), config)
    assert not path.exists()


def test_minimal_checkpoint_round_trips(tmp_path):
    """The four fields suffice, a tuple image_shape is fine, and the config load_checkpoint
    returns (with its format and version) saves again."""
    model = models.build("fcn", (8, 8, 1), 3, seed=5)
    minimal = {"model": "fcn", "image_shape": (8, 8, 1), "num_classes": 3, "seed": 0}
    trainer.save_checkpoint(tmp_path / "a.npz", model, minimal)
    loaded, config = trainer.load_checkpoint(tmp_path / "a.npz")
    trainer.save_checkpoint(tmp_path / "b.npz", loaded, config)
    again, _ = trainer.load_checkpoint(tmp_path / "b.npz")
    for params in (loaded.params, again.params):  # seed 5's weights, not seed 0's
        assert params.keys() == model.params.keys()
        for k, v in model.params.items():
            np.testing.assert_array_equal(params[k], v)


# --------------------------------------------------------------------------- predict, error_rate
@pytest.fixture(scope="module")
def small():
    model = models.build("fcn", (8, 8, 1), 3, seed=0)
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    return model, x


@pytest.mark.parametrize("y, error, message", [
    (np.zeros((5, 1), np.int64), ValueError, r"y must have shape \(5,\).*got shape \(5, 1\)"),
    (np.zeros(1, np.int64), ValueError, r"y must have shape \(5,\)"),
    (np.zeros(6, np.int64), ValueError, r"y must have shape \(5,\)"),
    (3, ValueError, r"y must have shape \(5,\).*got shape \(\)"),
    (None, TypeError, "y must hold integer class labels"),
    (np.zeros(5), TypeError, "y must hold integer class labels, got dtype float64"),
    (np.zeros(5, bool), TypeError, "y must hold integer class labels"),
    (["0"] * 5, TypeError, "y must hold integer class labels"),
])
def test_error_rate_refuses_labels_of_the_wrong_shape_or_dtype(small, y, error, message):
    model, x = small
    with pytest.raises(error, match=message):
        trainer.error_rate(model, x, y)


def test_error_rate_counts_mistakes(small):
    model, x = small
    predicted = [int(np.argmax(model.forward(x[i : i + 1], training=False))) for i in range(5)]
    y = np.array(predicted)
    y[[1, 3]] = (y[[1, 3]] + 1) % 3  # two wrong labels
    assert trainer.error_rate(model, x, y, batch_size=2) == 2 / 5
    assert trainer.error_rate(model, x, y.astype(np.uint8).tolist()) == 2 / 5


@pytest.mark.parametrize("batch_size", [0, -1, True, False, 2.0, "4", None, np.bool_(True)])
def test_predict_and_error_rate_refuse_bad_batch_sizes(small, batch_size):
    model, x = small
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        trainer.predict(model, x, batch_size)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        trainer.error_rate(model, x, np.zeros(5, int), batch_size)


def test_predict_and_error_rate_refuse_no_images(small):
    model, x = small
    with pytest.raises(ValueError, match="x must hold at least one image"):
        trainer.predict(model, x[:0])
    with pytest.raises(ValueError, match="x must hold at least one image"):
        trainer.error_rate(model, x[:0], np.zeros(0, int))
    with pytest.raises(TypeError, match="x must be a numpy array"):
        trainer.predict(model, x.tolist())


@pytest.mark.parametrize("batch_size", [np.int64(2), np.int32(3), np.uint8(5)])
def test_predict_takes_numpy_int_batch_sizes(small, batch_size):
    model, x = small
    expected = np.concatenate([model.forward(x[i : i + 1], training=False) for i in range(5)])
    np.testing.assert_allclose(trainer.predict(model, x, batch_size), expected, rtol=1e-5)


# --------------------------------------------------------------------------- train arguments
@pytest.mark.parametrize("kwargs, message", [
    ({"lr": float("inf")}, "lr must be a positive finite float"),
    ({"lr": float("nan")}, "lr must be a positive finite float"),
    ({"lr": 1e39}, "lr must be a positive finite float"),  # inf in float32
    ({"model": "st-fcn", "loc_lr": float("inf")}, "loc_lr must be a positive finite float"),
    ({"distortion": ["r"]}, "distortion must be one of"),
    ({"distortion": {"r": 1}}, "distortion must be one of"),
    ({"model": ["fcn"]}, "model must be one of"),
    ({"epochs": True}, "epochs must be a positive int"),
    ({"epochs": np.int64(0)}, "epochs must be a positive int"),
    ({"batch_size": True}, "batch_size must be a positive int"),
    ({"batch_size": 8.0}, "batch_size must be a positive int"),
    ({"max_train": True}, "max_train must be a positive int"),
    ({"max_test": np.int64(0)}, "max_test must be a positive int"),
    ({"seed": -1}, "seed must be an int >= 0"),
    ({"seed": "1"}, "seed must be an int >= 0"),
])
def test_train_refuses_bad_arguments_before_training(no_training, kwargs, message):
    with pytest.raises(ValueError, match=message):
        trainer.train(**{**QUICK, **kwargs})


@pytest.mark.parametrize("kwargs, message", [
    ({"lr": "0.1"}, "lr must be a positive finite float"),
    ({"lr": True}, "lr must be a positive finite float"),
    ({"model": "st-fcn", "loc_lr": "1e-4"}, "loc_lr must be a positive finite float"),
])
def test_train_refuses_rates_that_are_no_real_numbers(no_training, kwargs, message):
    with pytest.raises(TypeError, match=message):
        trainer.train(**{**QUICK, **kwargs})


@pytest.mark.parametrize("show_progress", ["no", 1, None, "False"])
def test_train_show_progress_is_true_or_false(no_training, show_progress):
    with pytest.raises(TypeError, match="show_progress must be True or False"):
        trainer.train(**{**QUICK, "show_progress": show_progress})


@pytest.mark.parametrize("distortion", [["r"], ("r",), None])
def test_recipe_refuses_a_distortion_that_is_not_a_name(distortion):
    with pytest.raises(ValueError, match="distortion must be one of"):
        trainer.recipe(distortion, "fcn", 1e-3)


def test_train_takes_numpy_numbers_like_python_ones(tmp_path):
    plain = trainer.train(**QUICK)
    numpy_kwargs = {"epochs": np.int64(1), "batch_size": np.int32(16), "max_train": np.int64(2),
                    "max_test": np.int64(2), "seed": np.int64(1), "lr": np.float64(1e-3),
                    "warmup": np.int64(0)}
    metrics = trainer.train(**{**QUICK, **numpy_kwargs, "out": tmp_path})
    assert _no_timings(metrics) == _no_timings(plain)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["epochs"] == 1 and saved["batch_size"] == 16 and saved["seed"] == 1
    score = trainer.evaluate(tmp_path, batch_size=np.int64(1))
    assert score == plain["test_error"]


@pytest.mark.parametrize("batch_size", [0, True, 2.5, np.bool_(True)])
def test_evaluate_refuses_bad_batch_sizes(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        trainer.evaluate("/nonexistent/checkpoint.npz", batch_size=batch_size)


# --------------------------------------------------------------------------- the out folder
@pytest.mark.parametrize("where", ["file", "below_file"])
def test_train_refuses_an_unwritable_out_before_the_first_epoch(tmp_path, no_training, where):
    existing = tmp_path / "not_a_dir"
    existing.write_text("x")
    out = existing if where == "file" else existing / "run"
    with pytest.raises(ValueError, match=f"out '{out}' is not a folder that can be written"):
        trainer.train(**{**QUICK, "out": out})
    with pytest.raises(TypeError, match="out must be a path"):
        trainer.train(**{**QUICK, "out": 3})


class _Stop(Exception):
    pass


def test_train_creates_out_before_training(tmp_path, monkeypatch):
    out = tmp_path / "a" / "b"

    def step(*args):
        assert out.is_dir()
        raise _Stop

    monkeypatch.setattr(trainer, "_train_step", step)
    with pytest.raises(_Stop):
        trainer.train(**{**QUICK, "out": out})


def test_cli_train_refuses_an_unwritable_out_at_once(tmp_path, capsys, monkeypatch):
    existing = tmp_path / "not_a_dir"
    existing.write_text("x")

    def no_train(**kwargs):
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr(trainer, "train", no_train)
    for out in (existing, existing / "run"):
        err = _cli_error(["train", "--out", str(out), "--quiet"], capsys)
        assert f"--out '{out}' is not a folder that can be written" in err
