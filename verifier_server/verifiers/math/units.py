"""Unit words: which trailing words are units, and their canonical names for comparison."""

from __future__ import annotations

from rlvr.verifier_server.verifiers.math.lexer import words

_GROUPS: dict[str, tuple[str, ...]] = {
    "mm": ("mm", "millimeter", "millimeters", "millimetre", "millimetres"),
    "cm": ("cm", "centimeter", "centimeters", "centimetre", "centimetres"),
    "m": ("m", "meter", "meters", "metre", "metres"),
    "km": ("km", "kilometer", "kilometers", "kilometre", "kilometres"),
    "in": ("in", "inch", "inches"),
    "ft": ("ft", "foot", "feet"),
    "yd": ("yd", "yard", "yards"),
    "mi": ("mi", "mile", "miles"),
    "s": ("s", "sec", "secs", "second", "seconds"),
    "min": ("min", "mins", "minute", "minutes"),
    "h": ("h", "hr", "hrs", "hour", "hours"),
    "day": ("day", "days"),
    "week": ("week", "weeks"),
    "month": ("month", "months"),
    "year": ("year", "years", "yr", "yrs"),
    "g": ("g", "gram", "grams"),
    "kg": ("kg", "kilogram", "kilograms"),
    "mg": ("mg", "milligram", "milligrams"),
    "lb": ("lb", "lbs", "pound", "pounds"),
    "oz": ("oz", "ounce", "ounces"),
    "l": ("l", "liter", "liters", "litre", "litres"),
    "ml": ("ml", "milliliter", "milliliters", "millilitre", "millilitres"),
    "gal": ("gal", "gallon", "gallons"),
    "usd": ("usd", "dollar", "dollars", "$"),
    "cent": ("cent", "cents", "¢"),
    "eur": ("eur", "euro", "euros", "€"),
    "gbp": ("gbp", "£"),
    "degree": ("degree", "degrees", "deg", "°"),
    "radian": ("radian", "radians", "rad"),
    "mph": ("mph",),
    "kmh": ("kmh", "km/h"),
}

#: alias (lowercase) -> canonical unit name
UNIT_ALIASES: dict[str, str] = {alias: name for name, aliases in _GROUPS.items() for alias in aliases}

#: words that may trail an answer without being a unit we can check ("units", "square", "ways"...)
NEUTRAL_WORDS = words(
    "unit units square sq cubic cu per of the a an only approximately about exactly total each"
)


def canonical_unit(words: list[str]) -> str | None:
    """The canonical unit of trailing words, e.g. ["square", "centimeters"] -> "cm^2"; None if unknown.

    Returns "?" + the words when they are words but no known unit, so two different unknown words
    are not treated as a unit clash.
    """
    power = ""
    names: list[str] = []
    for word in words:
        low = word.lower().strip(".")
        if low in ("square", "sq"):
            power = "^2"
        elif low in ("cubic", "cu"):
            power = "^3"
        elif low in UNIT_ALIASES:
            names.append(UNIT_ALIASES[low])
        elif low.startswith("^"):
            power = low
        elif low not in NEUTRAL_WORDS:
            return None
    if len(names) != 1:
        return None
    return names[0] + power
