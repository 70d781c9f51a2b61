"""Weight templates: each row of W seen as an image of the data's shape (28x28 for Fashion-MNIST).

A linear classifier scores class ``c`` as ``W[c] . x + b[c]``, so ``W[c]`` is the image the
class "looks for": positive weights where bright pixels count for the class, negative where they
count against it. Checkpoints hold the weights for raw ``[0, 1]`` pixels; a run trained on
standardised pixels stores them folded back (``W_std / std``, see
:class:`softreg.fitting.splits.Standardizer`), so its templates are in pixel space too.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from softreg.core.errors import ConfigError

SIDE = 28
# The colour limit of the templates: this percentile of |W| (see symmetric_scale).
SCALE_PERCENTILE = 99.5


def templates(W: npt.ArrayLike,
              image_shape: tuple[int, ...] = (SIDE, SIDE)) -> npt.NDArray[np.float64]:
    """The rows of W (C, D) as (C, H, W) images; colour images' (H, W, 3) weights are
    averaged over the channels (a pixel's brightness for the class).

    Raises:
        ConfigError: W is not (C, D) with D the pixels of ``image_shape``.
    """
    arr = np.asarray(W, dtype=np.float64)
    size = int(np.prod(image_shape))
    if arr.ndim != 2 or arr.shape[1] != size:
        raise ConfigError(f"W must have shape (classes, {size}), got {arr.shape}")
    imgs = arr.reshape(-1, *image_shape)  # (C, H, W[, 3])
    return imgs.mean(axis=3) if imgs.ndim == 4 else imgs


def symmetric_scale(W: npt.ArrayLike, percentile: float = SCALE_PERCENTILE) -> float:
    """One colour limit for all templates, so 0 sits at the centre of a diverging colour map
    and the classes compare directly: the ``percentile`` of |weight| (1.0 for an all-zero W).

    Not the largest |weight|: a standardised run's few border pixels (almost always 0 in
    training, so divided by a tiny std when folded) would set the scale and wash out the
    rest. Weights beyond the limit are drawn in the end colours.
    """
    mag = np.abs(np.asarray(W, dtype=np.float64))
    top = float(np.percentile(mag, percentile)) if mag.size else 0.0
    if top <= 0:
        top = float(np.max(mag, initial=0.0))
    return top if top > 0 else 1.0
