"""One exception type for every expected failure: the CLI prints its message as one line."""


class DigitedgeError(Exception):
    """A problem the user can fix (bad input, missing file, bad flag); never a bug."""


class DataError(DigitedgeError):
    """MNIST files missing, corrupt, or not what they claim to be."""
