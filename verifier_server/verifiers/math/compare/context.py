"""`ComparisonContext`: one comparison's config and what the answers' text says about their precision."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from rlvr.verifier_server.verifiers.math.compare.decision import Decision

if TYPE_CHECKING:
    from rlvr.verifier_server.verifiers.math.compare.answers import CompareConfig


class ComparisonContext(ABC):
    """The state every kind of comparison reads; `equal` (comparison.py) picks the kind for two values."""

    def __init__(
        self,
        config: CompareConfig,
        tolerance: float | None,
        ref_decimals: int | None,
        cand_decimals: int | None,
    ):
        self.config = config
        self.tolerance = tolerance
        self.ref_decimals = ref_decimals
        self.cand_decimals = cand_decimals
        #: the variable a set reference names (`x \in [-2, 7]` -> "x"), else None
        self.set_variable: str | None = None

    @abstractmethod
    def equal(self, ref: Any, cand: Any) -> Decision:
        """Whether `cand` is the value `ref`, compared as the kind of value they are."""
