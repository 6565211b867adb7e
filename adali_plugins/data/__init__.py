"""Datasets that need no download: bundled real data and data we generate."""

from .digits import DigitsSplit, direct_encode, load_digits_split, rate_encode

__all__ = ["DigitsSplit", "direct_encode", "load_digits_split", "rate_encode"]
