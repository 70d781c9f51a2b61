"""The d2l API that every facade defines, one name each.

``softreg.torch``, ``softreg.tensorflow`` and ``softreg.mxnet`` export exactly these names
(tests/test_d2l_facades.py checks that each defines them). The list is this module's
``__all__`` so that documentation tools read the facades' exports statically: each facade
imports it as ``D2L_NAMES`` and sets ``__all__ = [*D2L_NAMES]``.
"""

# ruff: noqa: F822  (the names are defined by the facades, not here)
__all__ = (
    "Accumulator",
    "Animator",
    "FashionMNISTBatches",
    "Timer",
    "TrainCh3Warning",
    "accuracy",
    "evaluate_accuracy",
    "get_dataloader_workers",
    "get_fashion_mnist_labels",
    "load_data_fashion_mnist",
    "predict_ch3",
    "predict_labels",
    "set_figsize",
    "sgd",
    "show_images",
    "train_ch3",
    "train_epoch_ch3",
    "use_svg_display",
)
