"""What can go wrong in a conversion, each a one-line DigitedgeError."""

from __future__ import annotations

from digitedge.errors import DigitedgeError


class ConvertError(DigitedgeError):
    """A conversion that cannot be done as asked."""


class SourceModelError(ConvertError):
    """The Keras model is missing, corrupt, not a Keras model, or not an MNIST classifier."""


class FormatError(ConvertError):
    """An unknown format or --io name, or a flag out of range."""


class OutputError(ConvertError):
    """The output folder cannot be written."""


class AccuracyGateError(ConvertError):
    """A converted model lost more accuracy than allowed; nothing was written."""
