"""The agents tests need torch, which only the train extra installs: skip them without it."""

import pytest

pytest.importorskip("torch")
