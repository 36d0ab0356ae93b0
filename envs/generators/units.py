"""Units: conversions between metric, imperial and time units, with exact (defined) factors."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rlvr.envs.generators.base import Generator, Problem, format_number, pick

# unit -> (quantity, size in the quantity's base unit, plural name); imperial factors are exact definitions.
UNITS: dict[str, tuple[str, Fraction, str]] = {
    "mm": ("length", Fraction(1, 1000), "millimeters"),
    "cm": ("length", Fraction(1, 100), "centimeters"),
    "m": ("length", Fraction(1), "meters"),
    "km": ("length", Fraction(1000), "kilometers"),
    "in": ("length", Fraction(254, 10000), "inches"),
    "ft": ("length", Fraction(3048, 10000), "feet"),
    "yd": ("length", Fraction(9144, 10000), "yards"),
    "mi": ("length", Fraction(1609344, 1000), "miles"),
    "mg": ("mass", Fraction(1, 1000), "milligrams"),
    "g": ("mass", Fraction(1), "grams"),
    "kg": ("mass", Fraction(1000), "kilograms"),
    "lb": ("mass", Fraction(45359237, 100000), "pounds"),
    "s": ("time", Fraction(1), "seconds"),
    "min": ("time", Fraction(60), "minutes"),
    "h": ("time", Fraction(3600), "hours"),
    "day": ("time", Fraction(86400), "days"),
    "mL": ("volume", Fraction(1, 1000), "milliliters"),
    "L": ("volume", Fraction(1), "liters"),
}
_METRIC = {"length": ("mm", "cm", "m", "km"), "mass": ("mg", "g", "kg"), "volume": ("mL", "L")}
_IMPERIAL_PAIRS = (
    ("in", "cm"),
    ("ft", "m"),
    ("yd", "m"),
    ("mi", "km"),
    ("lb", "kg"),
    ("ft", "in"),
    ("mi", "ft"),
)
_TIME = ("s", "min", "h", "day")


def convert(value: Fraction, source: str, target: str) -> Fraction:
    """`value` in unit `source`, expressed in unit `target` (same quantity), exactly."""
    if UNITS[source][0] != UNITS[target][0]:
        raise ValueError(f"cannot convert {source} to {target}: different quantities")
    return value * UNITS[source][1] / UNITS[target][1]


def _amount(rng: np.random.Generator, decimals: int) -> Fraction:
    """A positive amount with up to `decimals` decimal places."""
    return (
        Fraction(pick(rng, 1, 999 * 10**decimals), 10**decimals) if decimals else Fraction(pick(rng, 1, 99))
    )


class UnitsGenerator(Generator):
    """Levels: 1 metric prefixes (whole numbers), 2 metric with decimals, 3 time, 4 imperial ↔ metric,
    5 compound rates (km/h ↔ m/s, and per-unit prices). Answers are exact decimals."""

    name = "units"

    def make(self, rng: np.random.Generator, level: int) -> Problem:
        if level in (1, 2):
            quantity = ("length", "mass", "volume")[int(rng.integers(3))]
            source, target = rng.choice(_METRIC[quantity], size=2, replace=False)
            value = _amount(rng, 0 if level == 1 else 2)
        elif level == 3:
            source, target = rng.choice(_TIME, size=2, replace=False)
            value = _amount(rng, 1)
        elif level == 4:
            pair = _IMPERIAL_PAIRS[int(rng.integers(len(_IMPERIAL_PAIRS)))]
            source, target = pair if rng.random() < 0.5 else pair[::-1]
            value = _amount(rng, 1)
        else:
            return self._rate(rng)
        source, target = str(source), str(target)
        answer = convert(value, source, target)
        return Problem(
            prompt=f"Convert {format_number(value)} {UNITS[source][2]} to {UNITS[target][2]}. Give the exact number only.",
            answer=format_number(answer),
            metadata={"value": str(value), "from": source, "to": target},
        )

    def _rate(self, rng: np.random.Generator) -> Problem:
        """A speed in km/h ↔ m/s (1 m/s = 3.6 km/h), chosen so the answer is a terminating decimal."""
        if rng.random() < 0.5:
            value = Fraction(pick(rng, 1, 400) * 18, 10)  # km/h, a multiple of 1.8 gives whole tenths in m/s
            answer = value * 1000 / 3600
            prompt = f"A car drives at {format_number(value)} km/h. What is its speed in meters per second?"
            metadata = {"value": str(value), "from": "km/h", "to": "m/s"}
        else:
            value = Fraction(pick(rng, 1, 999), 10)
            answer = value * 3600 / 1000
            prompt = (
                f"A runner moves at {format_number(value)} m/s. What is that speed in kilometers per hour?"
            )
            metadata = {"value": str(value), "from": "m/s", "to": "km/h"}
        return Problem(
            prompt=prompt + " Give the exact number only.", answer=format_number(answer), metadata=metadata
        )
