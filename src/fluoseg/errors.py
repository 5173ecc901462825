"""Exceptions shared by the package.

``InputError`` means the user gave something malformed: the CLI prints its message on
one line to stderr and exits with status 2. Every other exception exits with status 1.
"""


class InputError(ValueError):
    """Bad input from the user: a file, an array or an option of the wrong form.

    The message names the problem and the expected form, e.g.
    ``"image.tif: expected a 3D volume (Z, Y, X, C), got a 2D image (512, 512)"``.
    """


def check_choice(value: object, choices: tuple, what: str) -> None:
    """Raise ``InputError`` unless ``value`` is one of ``choices`` (named ``what``)."""
    if value not in choices:
        raise InputError(
            f"{what} must be one of {', '.join(map(str, choices))}, got {value!r}"
        )


TENSORFLOW_INSTALL = (
    'pip install "fluoseg[cpu]" (TensorFlow for CPUs, x86_64) or '
    'pip install "fluoseg[tf]" (the standard TensorFlow build, GPU on Linux)'
)
"""How to install TensorFlow, which is an extra: a platform that has its own build
(Colab's GPU TensorFlow) keeps it when it installs plain ``fluoseg``."""


class MissingTensorFlowError(ModuleNotFoundError):
    """TensorFlow is needed (models, training, inference) but not installed."""


def require_tensorflow() -> None:
    """Raise ``MissingTensorFlowError`` naming the extra to install when TensorFlow is
    not importable; cheap (looks the module up without importing it).

    Called before every ``import keras`` / ``import tensorflow`` of the package, whose
    own error (``No module named 'tensorflow'``) would not say what to install.
    """
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        raise MissingTensorFlowError(
            f"fluoseg needs TensorFlow for models, training and inference, and it is "
            f"not installed: {TENSORFLOW_INSTALL}",
            name="tensorflow",
        )
