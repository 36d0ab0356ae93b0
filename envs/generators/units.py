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
# speed unit -> (size in m/s, name)
_SPEEDS = {
    "m/s": (Fraction(1), "meters per second"),
    "km/h": (Fraction(1000, 3600), "kilometers per hour"),
    "mi/h": (Fraction(1609344, 3600000), "miles per hour"),
    "ft/s": (Fraction(3048, 10000), "feet per second"),
}
_EXACT = "Give the exact value (as a fraction if the decimal does not terminate)."


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
    5 speeds between km/h, m/s, mi/h and ft/s. Answers are exact: a decimal, or p/q when it does not terminate."""

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
            prompt=f"Convert {format_number(value)} {UNITS[source][2]} to {UNITS[target][2]}. {_EXACT}",
            answer=format_number(answer),
            metadata={"value": str(value), "from": source, "to": target},
        )

    def _rate(self, rng: np.random.Generator) -> Problem:
        """A speed converted between km/h, m/s, mi/h and ft/s (exact factors)."""
        source, target = (str(unit) for unit in rng.choice(list(_SPEEDS), size=2, replace=False))
        value = _amount(rng, 1)
        answer = value * _SPEEDS[source][0] / _SPEEDS[target][0]
        return Problem(
            prompt=f"An object moves at {format_number(value)} {_SPEEDS[source][1]}. What is its speed in "
            f"{_SPEEDS[target][1]}? {_EXACT}",
            answer=format_number(answer),
            metadata={"value": str(value), "from": source, "to": target},
        )
