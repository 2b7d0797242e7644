"""Train and re-score the models of :mod:`warpkit.nn.models` on the distorted-digit experiments.

:func:`train` runs Adam on softmax cross-entropy over freshly distorted epochs of a
:class:`warpkit.datasets.Experiment`, shows a progress bar with the running loss and
accuracy, scores the fixed test set after every epoch and, given ``out``, writes

``metrics.json``
    configuration, ``test_error`` (final), ``history`` (per epoch), timings (see
    :func:`train`), ``transforms_png`` (what ``transforms.png`` shows).
``checkpoint.npz``
    the model's ``state_dict()`` under keys ``"params.<name>"`` plus ``"config"``: a 0-d
    unicode array holding JSON (model, data, distortion, image shape, seed, epochs, …);
    it loads with ``np.load(path, allow_pickle=False)``.
``transforms.png``
    8 test inputs (top row; 8 different test digits, one distortion each, when the test
    set holds 8 digits) and what the spatial transformer made of them (bottom row),
    gray, upscaled ×3 (nearest). Models without a spatial transformer get the top row only.

:func:`evaluate` rebuilds the model from a checkpoint and re-scores it on the same test set.
All randomness comes from ``np.random.default_rng(seed)`` (model init, epoch distortions,
shuffling), so the same seed gives the same numbers (timings aside).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import reprlib
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .. import _validate as V
from .._progress import COMPILING, notice_if_compiling
from ..datasets import DATA_NAMES, DISTORTIONS, make_experiment
from ..datasets.distortions import _check_kind
from . import models
from .losses import softmax_cross_entropy
from .optim import Adam
from .spatial_transformer import SpatialTransformer

__all__ = [
    "train",
    "evaluate",
    "predict",
    "error_rate",
    "save_checkpoint",
    "load_checkpoint",
    "transforms_image",
]

CHECKPOINT_FORMAT = "warpkit-checkpoint"
CHECKPOINT_VERSION = 1
_PARAM_PREFIX = "params."
_EVAL_BATCH = 256

#: The most values (H * W * C) a checkpoint's ``image_shape`` may have: a 512 x 512 gray image,
#: over 70 times the largest canvas of the experiments (60 x 60, TC). The model is built before
#: its parameters are checked against the file, and the fcn's first layer at this size holds
#: 2**18 x 256 float32 weights (256 MiB); a tampered shape must not ask for terabytes.
MAX_IMAGE_VALUES = 2**18
#: The most classes a checkpoint's ``num_classes`` may ask for (a 256 x 65536 float32 last
#: layer is 64 MiB), for the same reason.
MAX_CLASSES = 2**16


def _progress_bar(total: int, desc: str, enabled: bool, file: TextIO | None) -> Any:
    """A progress bar (``update(n, **postfix)``, ``write(msg)``, ``close()``)."""
    from .._progress import Progress

    if not enabled:
        return Progress(total=total, desc=desc, file=_NullFile(), summary=False)
    return Progress(total=total, desc=desc, file=file)


class _NullFile:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _images(x: Any) -> Any:
    """Check the image batch ``x`` of :func:`predict` / :func:`error_rate`: 4-D, not empty."""
    V.array(x, "x", 4, "(M, H, W, C)")
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one image, got shape "
                         f"{tuple(x.shape)}: there is nothing to predict or score")
    return x


def predict(model: Any, x: np.ndarray, batch_size: int = _EVAL_BATCH) -> np.ndarray:
    """Logits of ``model`` (inference mode) for a batch of images.

    Parameters
    ----------
    model : Sequential
    x : ndarray, shape (M, H, W, C), float32
        M >= 1 images (an empty batch has no defined number of classes to return).
    batch_size : int
        Images per forward pass, a positive int (Python's or numpy's, not a bool).

    Returns
    -------
    ndarray, shape (M, num_classes)

    Raises
    ------
    TypeError
        If ``x`` is not an array.
    ValueError
        If ``x`` is not 4-D or holds no image, or ``batch_size`` is not a positive int.
    """
    _images(x)
    batch_size = V.count(batch_size, "batch_size")
    out = [model.forward(x[i : i + batch_size], training=False)
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out, axis=0)


def error_rate(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = _EVAL_BATCH) -> float:
    """Fraction of ``x`` that ``model`` misclassifies.

    Parameters
    ----------
    model : Sequential
    x : ndarray, shape (M, H, W, C), float32
        M >= 1 images (the error rate of no image is undefined).
    y : array_like, shape (M,), integer
        The class label of each image.
    batch_size : int
        As in :func:`predict`.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``x`` is not an array or ``y`` does not hold integers.
    ValueError
        If ``x`` is not 4-D or holds no image, ``y`` does not have shape (M,) (it would
        broadcast against the predictions), or ``batch_size`` is not a positive int.
    """
    _images(x)
    labels = np.asarray(y)
    if labels.dtype.kind not in "iu":
        got = f"dtype {y.dtype}" if isinstance(y, np.ndarray) else reprlib.repr(y)
        raise TypeError(f"y must hold integer class labels, got {got}")
    if labels.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},), one label per image of x, "
                         f"got shape {labels.shape}")
    return float(np.mean(np.argmax(predict(model, x, batch_size), axis=1) != labels))


# --------------------------------------------------------------------------- checkpoints
def _json_int(value: Any) -> bool:
    """Whether ``value`` is an int of JSON (not a bool, not a float such as 28.0)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _model_config_error(config: dict) -> str | None:
    """What keeps :func:`load_checkpoint` from rebuilding the model of ``config`` (the fields
    ``model``, ``image_shape``, ``num_classes`` and ``seed``), or None."""
    for key in ("model", "image_shape", "num_classes", "seed"):
        if key not in config:
            return f"config has no field {key!r}"
    name, shape = config["model"], config["image_shape"]
    if not isinstance(name, str) or name not in models.MODEL_NAMES:
        return f"config field 'model' must be one of {models.MODEL_NAMES}, got {name!r}"
    if (not isinstance(shape, (list, tuple)) or len(shape) != 3
            or not all(_json_int(v) and v >= 1 for v in shape)):
        return f"config field 'image_shape' must be [H, W, C] of positive ints, got {shape!r}"
    if math.prod(shape) > MAX_IMAGE_VALUES:
        return (f"config field 'image_shape' {shape!r} has {math.prod(shape)} values, more "
                f"than the {MAX_IMAGE_VALUES} a warpkit model takes")
    classes = config["num_classes"]
    if not _json_int(classes) or not 1 <= classes <= MAX_CLASSES:
        return (f"config field 'num_classes' must be an int in [1, {MAX_CLASSES}], "
                f"got {classes!r}")
    if not _json_int(config["seed"]) or config["seed"] < 0:
        return f"config field 'seed' must be an int >= 0, got {config['seed']!r}"
    return None


def _experiment_config_error(config: dict) -> str | None:
    """What keeps :func:`evaluate` from rebuilding the experiment of ``config`` (the fields
    ``data``, ``distortion`` and, when present, ``data_dir``, ``max_train``, ``max_test``),
    or None."""
    for key, names in (("data", DATA_NAMES), ("distortion", DISTORTIONS)):
        if key not in config:
            return f"config has no field {key!r}"
        if not isinstance(config[key], str) or config[key] not in names:
            return f"config field {key!r} must be one of {names}, got {config[key]!r}"
    if not isinstance(config.get("data_dir"), (str, type(None))):
        return f"config field 'data_dir' must be a path or null, got {config['data_dir']!r}"
    for key in ("max_train", "max_test"):
        value = config.get(key)
        if value is not None and (not _json_int(value) or value < 1):
            return f"config field {key!r} must be a positive int or null, got {value!r}"
    return None


def _rebuild(config: dict, state: dict[str, np.ndarray]) -> Any:
    """The model of a checked ``config`` with the parameters ``state`` (strictly)."""
    model = models.build(
        config["model"], tuple(config["image_shape"]), config["num_classes"], seed=config["seed"]
    )
    model.load_state_dict(state)
    return model


def save_checkpoint(path: str | os.PathLike, model: Any, config: dict) -> None:
    """Write ``model.state_dict()`` and ``config`` to an ``.npz`` that :func:`load_checkpoint`
    reads back.

    Parameters
    ----------
    path : path
        The file to write (its name is kept as it is: no ``.npz`` is appended).
    model : Sequential
        Built by :func:`warpkit.nn.models.build`.
    config : dict
        JSON-serialisable. It must hold what :func:`load_checkpoint` rebuilds the model from:
        ``model`` (one of :data:`warpkit.nn.models.MODEL_NAMES`), ``image_shape`` (H, W, C
        positive ints, at most :data:`MAX_IMAGE_VALUES` values), ``num_classes`` (an int in
        [1, :data:`MAX_CLASSES`]) and ``seed`` (an int >= 0); :func:`evaluate` also needs
        ``data`` and ``distortion``. The keys ``format`` and ``version`` are written by this
        function, whatever ``config`` holds.

    Raises
    ------
    TypeError
        If ``config`` is not a dict or not JSON-serialisable.
    ValueError
        If ``config`` lacks one of the fields above or holds a bad value there (nothing is
        written).
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    problem = _model_config_error(config)
    if problem is None:
        try:  # what load_checkpoint does: build the model of config, load the parameters
            _rebuild(config, model.state_dict())
        except (KeyError, ValueError) as exc:
            problem = f"the model does not match it: {exc.args[0]}"
    if problem:
        raise ValueError(f"cannot save a checkpoint that load_checkpoint cannot load: {problem}")
    meta = {**config, "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION}
    try:
        text = json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"config must be JSON-serialisable: {exc}") from None
    arrays = {_PARAM_PREFIX + k: v for k, v in model.state_dict().items()}
    arrays["config"] = np.array(text)
    with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to the name
        np.savez(f, **arrays)


def _checkpoint_file(path: str | os.PathLike) -> Path:
    """The checkpoint file ``path`` names: itself, or a run folder's ``checkpoint.npz``."""
    path = Path(path)
    return path / "checkpoint.npz" if path.is_dir() else path


def load_checkpoint(path: str | os.PathLike) -> tuple[Any, dict]:
    """Rebuild the model saved by :func:`save_checkpoint` (or :func:`train`).

    Parameters
    ----------
    path : path
        The ``.npz`` file, or a run folder of :func:`train` (its ``checkpoint.npz``).

    Returns
    -------
    model : Sequential
        ``models.build(config["model"], config["image_shape"], config["num_classes"])`` with
        the saved parameters loaded (strictly).
    config : dict
        The saved configuration.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a warpkit checkpoint: not an ``.npz``, damaged, without a
        ``config`` entry, a config that is not a JSON object or lacks a field the model is
        rebuilt from (``model``, ``image_shape``, ``num_classes``, ``seed``; see
        :func:`save_checkpoint` for their ranges), parameters that are not real numbers or
        do not match the model. The message names the file and the field.
    """
    path = _checkpoint_file(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):  # np.load would blame pickling, or return a plain array
        raise ValueError(f"{path} is not a warpkit checkpoint (not an .npz archive)")

    def invalid(why: str) -> ValueError:
        return ValueError(f"{path} is not a warpkit checkpoint ({why})")

    try:
        with np.load(path, allow_pickle=False) as f:
            if "config" not in f.files:
                raise invalid("no 'config' entry")
            text = str(f["config"])
            state = {k[len(_PARAM_PREFIX) :]: f[k] for k in f.files
                     if k.startswith(_PARAM_PREFIX)}
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a damaged archive
        raise invalid(f"damaged: {exc}") from None
    try:
        config = json.loads(text)
    except ValueError as exc:  # json.JSONDecodeError
        raise invalid(f"its config is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise invalid("its config is not an object")
    if config.get("format") != CHECKPOINT_FORMAT:
        raise invalid(f"format {config.get('format')!r}")
    problem = _model_config_error(config)
    if problem:
        raise invalid(problem)
    for name, value in state.items():
        if value.dtype.kind not in "biuf":  # strings would be parsed, complex truncated
            raise invalid(f"parameter {name!r} must hold real numbers, got {value.dtype}")
    try:
        model = _rebuild(config, state)
    except (KeyError, ValueError) as exc:
        raise invalid(f"the model does not match its parameters: {exc.args[0]}") from None
    return model, config


# --------------------------------------------------------------------------- transforms.png
def transforms_image(model: Any, x: np.ndarray, upscale: int = 3) -> tuple[np.ndarray, bool]:
    """A gray uint8 picture of inputs (top row) and the spatial transformer's outputs (bottom).

    Parameters
    ----------
    model : Sequential
        If ``model.layers[0]`` is a :class:`SpatialTransformer` its outputs form the bottom
        row; otherwise the picture has the top row only.
    x : ndarray, shape (k, H, W, 1)
    upscale : int
        Nearest-neighbour magnification.

    Returns
    -------
    image : ndarray, shape (rows, cols), uint8
    has_transformer : bool
    """
    rows = [x[..., 0]]
    st = model.layers[0] if getattr(model, "layers", None) else None
    has_st = isinstance(st, SpatialTransformer)
    if has_st:
        rows.append(st.forward(x, training=False)[..., 0])
    cell = max(max(r.shape[1] for r in rows), max(r.shape[2] for r in rows))
    gap = 2
    k = len(x)
    canvas = np.full((len(rows) * (cell + gap) + gap, k * (cell + gap) + gap), 0.5, np.float32)
    for ri, row in enumerate(rows):
        for ci, img in enumerate(row):
            top = gap + ri * (cell + gap) + (cell - img.shape[0]) // 2
            left = gap + ci * (cell + gap) + (cell - img.shape[1]) // 2
            canvas[top : top + img.shape[0], left : left + img.shape[1]] = img
    image = np.round(np.clip(canvas, 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(np.repeat(image, upscale, axis=0), upscale, axis=1), has_st


def _write_png(path: Path, image: np.ndarray) -> None:
    import imageio.v3 as iio

    iio.imwrite(path, image)


# --------------------------------------------------------------------------- training
class _Subset:
    """The parameters of ``model`` whose names ``keep`` accepts (an optimizer's group)."""

    def __init__(self, model: Any, keep: Any) -> None:
        self.model, self.keep = model, keep

    def named_parameters(self) -> Any:
        return ((n, p, g) for n, p, g in self.model.named_parameters() if self.keep(n))


def _optimizers(net: Any, lr: float, loc_lr: float | None) -> list[Adam]:
    """One Adam for the whole model, or (with ``loc_lr``) one for the localization nets of
    its spatial transformers and one for everything else."""
    if loc_lr is None:
        return [Adam(net, lr=lr)]
    prefixes = tuple(f"{i}.loc." for i, layer in enumerate(net.layers)
                     if isinstance(layer, SpatialTransformer))
    return [Adam(_Subset(net, lambda n: not n.startswith(prefixes)), lr=lr),
            Adam(_Subset(net, lambda n: n.startswith(prefixes)), lr=loc_lr)]


#: Where the defaults depart from the issue's protocol (Adam at the full rate from the first
#: step, one rate for every layer), per (distortion, model): ``warmup`` steps of linear
#: learning-rate warm-up and the localization nets' rate as a fraction of ``lr``. On TC at the
#: full rate the cnn classifiers can switch off every ReLU of their second convolution within
#: 30 steps and stay at chance, and st-cnn's localization net can send θ out of the image
#: while its classifier is still at chance; with these, st-cnn on TC ended at 13.59%, 14.04%,
#: 15.15%, 20.25%, 13.87% for seeds 0-4 (seeds 0-2: 92.20%, 92.20%, 38.16% without; cnn with
#: the warm-up: 17.66%, 15.29%, 12.45%, 12.53%, 18.64%). A 180-step warm-up costs
#: st-fcn about a point on RTS (mean of seeds 0-4: 6.38% against 5.16%), so RTS, R, P and E
#: keep the issue's protocol. 180 steps are one epoch of the embedded digits at batch 64.
RECIPES: dict[tuple[str, str], dict[str, float]] = {
    ("tc", "fcn"): {"warmup": 180},
    ("tc", "cnn"): {"warmup": 180},
    ("tc", "st-fcn"): {"warmup": 180},
    ("tc", "st-cnn"): {"warmup": 180, "loc_lr_scale": 0.1},
}


def recipe(distortion: str, model: str, lr: float) -> tuple[int, float | None]:
    """(warmup, loc_lr) that :func:`train` uses by default for ``distortion`` and ``model``
    (see :data:`RECIPES`; ``loc_lr`` None means the localization nets train at ``lr``).
    A ``distortion`` or ``model`` that is not one of the names is a ValueError."""
    _check_kind(distortion)
    models._check_name(model)
    settings = RECIPES.get((distortion, model), {})
    scale = settings.get("loc_lr_scale")
    return int(settings.get("warmup", 0)), None if scale is None else lr * scale


def _warmup_factor(step: int, warmup: int) -> float:
    """Learning-rate factor of optimizer step ``step`` (0-based): (step + 1) / warmup during
    the warm-up, exactly 1 after it."""
    return 1.0 if step + 1 >= warmup else (step + 1) / warmup


def _train_step(net: Any, optimizers: list[Adam], rates: list[float], factor: float,
                xb: np.ndarray, yb: np.ndarray) -> tuple[float, np.ndarray]:
    """One training step on the batch (xb, yb): forward, softmax cross-entropy, backward, and
    each optimizer's step at ``factor`` times its rate in ``rates``. Returns (loss, logits)."""
    net.zero_grad()
    logits = net.forward(xb, training=True)
    loss, dlogits = softmax_cross_entropy(logits, yb)
    net.backward(dlogits)
    for opt, rate in zip(optimizers, rates, strict=True):
        opt.lr = rate * factor
        opt.step()
    return loss, logits


#: The largest learning rate taken: the optimizers compute in float32, where more is inf.
_MAX_RATE = float(np.finfo(np.float32).max)


def _check_rate(value: Any, name: str) -> float:
    """``value`` as a float if it is a real number in (0, float32's largest]; a TypeError for
    what is no real number (a bool, a string), a ValueError otherwise, naming ``name``."""
    doc = f"a positive finite float (at most {_MAX_RATE:.4g}, float32's largest)"
    rate = V.real_number(value, name, doc)
    if not 0 < rate <= _MAX_RATE:
        raise ValueError(f"{name} must be {doc}, got {value!r}")
    return rate


def _run_folder(out: Any, name: str = "out") -> Path:
    """Create the folder ``out`` and check that a file can be written there: before the first
    epoch, so that a bad ``out`` fails at once and not after the whole run. A ValueError
    names ``name``."""
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(out).__name__}")
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ValueError(f"{name} {str(folder)!r} is not a folder that can be written "
                         f"({exc.strerror or exc})") from None
    return folder


def train(
    data: str = "digits",
    distortion: str = "rts",
    model: str = "st-cnn",
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    show_progress: bool = True,
    file: TextIO | None = None,
    loc_lr: float | None = None,
    warmup: int | None = None,
) -> dict:
    """Train ``model`` on ``data`` distorted by ``distortion``; score it; save the run.

    Parameters
    ----------
    data, distortion, data_dir, max_train, max_test
        Passed to :func:`warpkit.datasets.make_experiment`.
    model : {"fcn", "cnn", "st-fcn", "st-cnn"}
    epochs, batch_size : int
        One epoch is the experiment's ``train_epoch`` (8 passes over the digits), shuffled.
        Positive ints, Python's or numpy's (not bools), as are ``max_train`` and
        ``max_test`` when given.
    lr : float
        Adam learning rate (betas 0.9, 0.999): a positive finite real number, at most
        float32's largest.
    loc_lr : float, optional
        Adam learning rate of the localization nets (st-fcn, st-cnn only). Default: the
        :data:`RECIPES` entry of the distortion and model (``lr / 10`` for st-cnn on TC),
        else ``lr``. While the classifier is still at chance, the gradient reaching θ points
        at blank outputs, and Adam turns it into steps of size about ``lr``: at 1e-3 θ can
        leave the image within a few dozen steps, after which zeros padding gives it no
        gradient (the model stays at chance). A smaller rate keeps θ near the identity until
        the classifier learns, but also slows the spatial transformer where the full rate
        trains (README: st-fcn on TC 40-47% instead of 17-27%).
    warmup : int, optional
        Steps of linear learning-rate warm-up: step k (0-based) uses ``(k + 1) / warmup`` of
        every learning rate, steps from ``warmup - 1`` on the full rate; 0 turns it off.
        Default: the :data:`RECIPES` entry (180 on TC), else 0. Adam's first steps have size
        about ``lr`` whatever the gradient's size.
    seed : int
        Seeds the model initialisation and ``np.random.default_rng(seed)``, which draws the
        epochs' distortions and shuffles; an int >= 0.
    out : path, optional
        Folder for ``metrics.json``, ``checkpoint.npz`` and ``transforms.png``; created, and
        checked to be writable, before the first epoch.
    show_progress : bool
        Draw a progress bar (with loss and running accuracy) on ``file`` (stderr); True or
        False.

    Returns
    -------
    dict
        The metrics: the configuration, ``test_error`` (final), ``history`` (per epoch:
        ``train_loss``, ``train_accuracy``, ``test_error``, ``seconds`` (forward, backward
        and Adam steps), ``data_seconds`` (drawing the distortions), ``eval_seconds``),
        ``epoch_seconds`` (mean of the per-epoch ``seconds``), ``samples_per_second``
        (training samples / total step seconds), ``train_seconds`` (wall-clock time of the
        whole loop: data, steps and per-epoch evaluation) and ``transforms_png``.

    Raises
    ------
    TypeError
        If ``show_progress`` is not True or False, or ``out`` is not a path.
    ValueError
        If an argument is out of its range above (the message names it), or ``out`` cannot
        be created or written (before any training).
    """
    epochs = V.count(epochs, "epochs")
    batch_size = V.count(batch_size, "batch_size")
    lr = _check_rate(lr, "lr")
    seed = V.count(seed, "seed", minimum=0)
    max_train = None if max_train is None else V.count(max_train, "max_train")
    max_test = None if max_test is None else V.count(max_test, "max_test")
    show_progress = V.flag(show_progress, "show_progress")
    default_warmup, default_loc_lr = recipe(distortion, model, lr)
    warmup = default_warmup if warmup is None else V.count(warmup, "warmup", minimum=0)
    if loc_lr is not None:
        loc_lr = _check_rate(loc_lr, "loc_lr")
        if not model.startswith("st-"):
            raise ValueError(f"loc_lr applies to the spatial-transformer models (st-fcn, "
                             f"st-cnn), got model={model!r}")
    else:
        loc_lr = default_loc_lr
    exp = make_experiment(data, distortion, data_dir, max_train=max_train, max_test=max_test)
    net = models.build(model, exp.image_shape, exp.num_classes, seed=seed)
    folder = None if out is None else _run_folder(out)
    optimizers = _optimizers(net, lr, loc_lr)
    rates = [opt.lr for opt in optimizers]
    steps_done = 0
    rng = np.random.default_rng(seed)
    history = []
    file = sys.stderr if file is None else file
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        x, y = exp.train_epoch(rng)
        order = rng.permutation(len(x))
        t1 = time.perf_counter()
        n_batches = -(-len(x) // batch_size)
        bar = _progress_bar(n_batches, f"epoch {epoch}/{epochs}", show_progress, file)
        loss_sum, correct, seen = 0.0, 0, 0
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            xb, yb = x[idx], y[idx]
            factor = _warmup_factor(steps_done, warmup)
            # the first step compiles the kernels when numba's cache is empty: say so
            first = steps_done == 0 and show_progress
            with notice_if_compiling(f"warpkit: {COMPILING}", file=file) if first else (
                    contextlib.nullcontext()):
                loss, logits = _train_step(net, optimizers, rates, factor, xb, yb)
            steps_done += 1
            loss_sum += loss * len(idx)
            correct += int(np.sum(np.argmax(logits, axis=1) == yb))
            seen += len(idx)
            bar.update(loss=loss_sum / seen, acc=correct / seen)
        t2 = time.perf_counter()
        err = error_rate(net, exp.test_x, exp.test_y)
        t3 = time.perf_counter()
        bar.close()
        history.append({
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            "test_error": err,
            "seconds": t2 - t1,
            "data_seconds": t1 - t0,
            "eval_seconds": t3 - t2,
        })
        if show_progress:
            print(f"epoch {epoch}/{epochs}: loss {loss_sum / seen:.4f}, "
                  f"train accuracy {correct / seen:.4f}, test error {err:.4f} "
                  f"({t2 - t1:.1f} s)", file=file, flush=True)
    train_seconds = time.perf_counter() - start
    step_seconds = sum(h["seconds"] for h in history)
    config = {
        "model": model,
        "data": data,
        "distortion": distortion,
        "data_dir": None if data_dir is None else str(data_dir),
        "image_shape": list(exp.image_shape),
        "num_classes": exp.num_classes,
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "loc_lr": loc_lr,
        "warmup": warmup,
        "max_train": max_train,
        "max_test": max_test,
    }
    metrics = {
        **config,
        "experiment": exp.name,
        "train_samples_per_epoch": exp.epoch_size,
        "test_samples": len(exp.test_y),
        "test_error": history[-1]["test_error"],
        "train_seconds": train_seconds,
        "epoch_seconds": step_seconds / epochs,
        "samples_per_second": exp.epoch_size * epochs / step_seconds,
        "history": history,
    }
    step = exp.info.get("test_repeats", 1)  # 8 different test digits when there are 8
    step = step if len(exp.test_x) >= 8 * step else 1
    image, has_st = transforms_image(net, exp.test_x[::step][:8])
    metrics["transforms_png"] = (
        "test inputs (top) and spatial-transformer outputs (bottom)" if has_st
        else "test inputs only (the model has no spatial transformer)"
    )
    if folder is not None:
        final = {**config, "test_error": metrics["test_error"]}
        save_checkpoint(folder / "checkpoint.npz", net, final)
        _write_png(folder / "transforms.png", image)
        with open(folder / "metrics.json", "w") as f:
            json.dump(metrics, f, indent=2)
            f.write("\n")
    return metrics


def evaluate(
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    batch_size: int = _EVAL_BATCH,
) -> float:
    """Re-score a saved model on its experiment's fixed test set.

    Parameters
    ----------
    checkpoint : path
        A ``checkpoint.npz`` written by :func:`train`, or the run folder that holds it.
    data_dir : path, optional
        Overrides the IDX folder stored in the checkpoint (MNIST runs).
    batch_size : int
        A positive int, Python's or numpy's (not a bool).

    Returns
    -------
    float
        The test error, the same number :func:`train` reported for this model.

    Raises
    ------
    FileNotFoundError
        If there is no checkpoint at ``checkpoint``.
    ValueError
        If ``batch_size`` is not a positive int, or the file is not a warpkit checkpoint
        (:func:`load_checkpoint`) or its config lacks the experiment: ``data``,
        ``distortion`` (and, when present, ``data_dir``, ``max_train``, ``max_test``) must
        be what :func:`train` writes. The message names the file and the field.
    """
    batch_size = V.count(batch_size, "batch_size")
    model, config = load_checkpoint(checkpoint)
    problem = _experiment_config_error(config)
    if problem:
        raise ValueError(f"{_checkpoint_file(checkpoint)} is not a warpkit checkpoint of a "
                         f"train run ({problem})")
    exp = make_experiment(
        config["data"],
        config["distortion"],
        config.get("data_dir") if data_dir is None else data_dir,
        max_train=config.get("max_train"),
        max_test=config.get("max_test"),
    )
    return error_rate(model, exp.test_x, exp.test_y, batch_size)
