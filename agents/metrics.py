"""Training metrics: JSON lines, TensorBoard when installed, and a PNG of the learning curves."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

#: Curves drawn in curves.png, when present: (metric, title).
CURVES = (
    ("reward/mean", "train reward"),
    ("eval/pass@1", "held-out greedy pass@1"),
    ("eval/mean_reward", "held-out mean reward"),
    ("kl/ref", "KL to reference"),
    ("entropy", "entropy"),
    ("completions/mean_length", "completion tokens"),
)


class MetricsLog:
    """Appends one JSON object per step to `metrics.jsonl` (and TensorBoard scalars when available)."""

    def __init__(self, output_dir: Path, *, tensorboard: bool, resume: bool):
        self.path = output_dir / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not resume and self.path.exists():
            self.path.unlink()
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(output_dir / "tensorboard"))
            except ImportError:
                self.writer = None

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        record = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        with self.path.open("a", encoding="utf-8") as sink:
            sink.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, int | float) and key != "step" and math.isfinite(value):
                    self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_metrics(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as source:
        return [json.loads(line) for line in source if line.strip()]


def plot_curves(records: list[dict[str, Any]], output: Path, *, title: str = "") -> Path | None:
    """Draw the CURVES present in `records` into `output` (PNG); None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    present = [(k, t) for k, t in CURVES if any(r.get(k) is not None for r in records)]
    if not present:
        return None
    columns = min(3, len(present))
    rows = math.ceil(len(present) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for axis, (key, name) in zip(axes.flat, present):
        points = [(r["step"], r[key]) for r in records if r.get(key) is not None]
        axis.plot(*zip(*points), marker="o" if key.startswith("eval/") else None, markersize=3)
        axis.set_title(name)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(present) :]:
        axis.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output
