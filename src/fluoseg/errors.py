"""Exceptions shared by the package.

``InputError`` means the user gave something malformed: the CLI prints its message on
one line to stderr and exits with status 2. Every other exception exits with status 1.
"""


class InputError(ValueError):
    """Bad input from the user: a file, an array or an option of the wrong form.

    The message names the problem and the expected form, e.g.
    ``"image.tif: expected a 3D volume (Z, Y, X, C), got a 2D image (512, 512)"``.
    """
