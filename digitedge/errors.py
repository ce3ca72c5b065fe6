"""One exception type for every expected failure: the CLI prints its message as one line."""


class DigitedgeError(Exception):
    """A problem the user can fix (bad input, missing file, bad flag); never a bug."""


class DataError(DigitedgeError):
    """MNIST files missing, corrupt, or not what they claim to be."""


class ImageError(DigitedgeError):
    """An image that cannot be read or holds no digit: empty, not an image, truncated, too big."""


class NoDigitError(ImageError):
    """A readable image in which no digit was found (blank page, all black, too faint)."""


class ModelError(DigitedgeError):
    """A .tflite that cannot be used: missing, corrupt, wrong shape, or no interpreter installed."""


class SourceError(DigitedgeError):
    """A camera or video stream that will not open or stops delivering frames."""
