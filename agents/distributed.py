"""Data parallelism under `torchrun` / `accelerate launch`: process group, rank, gradient and metric sums."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place: `rank` of `size`, and the device it trains on."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, value: float) -> float:
        """`value` summed over all ranks (itself on one process)."""
        if self.size == 1:
            return float(value)
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return float(tensor.item())

    def sum_gradients(self, parameters: list[torch.nn.Parameter]) -> None:
        """Sum every gradient over ranks (losses are normalised by global counts, so a sum is exact)."""
        if self.size == 1:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def whiten(
        self, x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True, eps: float = 1e-8
    ) -> torch.Tensor:
        """`masked_whiten` with the mean and variance of the valid elements on all ranks."""
        valid = mask.bool()
        count = self.sum(float(valid.sum()))
        mean = self.sum(float(x[valid].sum())) / max(count, 1.0)
        squares = self.sum(float(((x[valid] - mean) ** 2).sum()))
        dof = count - (1 if unbiased else 0)
        var = squares / dof if dof > 0 else 0.0
        return torch.where(valid, (x - mean) / math.sqrt(var + eps), torch.zeros_like(x))

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


def init_world() -> World:
    """The world of this process: from torchrun's env vars (gloo on CPU, NCCL on GPUs), else one process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if size == 1:
        return World(0, 1, device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), device)


def close_world(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()
