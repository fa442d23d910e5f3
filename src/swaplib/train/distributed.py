"""Data-parallel training: one process (rank) per device, each on its share of every batch.

torchrun (or a scheduler's launcher) starts the ranks and sets RANK, WORLD_SIZE, LOCAL_RANK and
the rendezvous address; joined() connects them (gradients on GPUs travel by NCCL, everything else by
gloo). After the
backward pass each rank's gradients and losses are averaged over the ranks (Ranks.average), so every
rank takes the step of the whole batch and the weights stay equal without ever being sent. Rank 0
alone reads and writes the state folder and the outputs; what it reads reaches the others by
Ranks.first. A rank that dies breaks the others' next collective: they stop with RankLost, and the
run resumes from the last checkpoint.

In a single process (no torchrun) SINGLE stands in: every collective is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from swaplib.core.errors import SwaplibError

BUCKET = 1 << 24  # elements per all-reduce: few calls, and a copy of at most 64 MB (fp32) at a time


class RankLost(SwaplibError):
    """Another rank of the run stopped (killed, crashed, out of memory): this one stops too."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among the run's ranks, and the collectives training needs."""

    rank: int = 0
    size: int = 1
    local: int = 0  # the rank on its machine: which GPU it takes

    @property
    def main(self) -> bool:
        return self.rank == 0

    def share(self, batch_size: int) -> slice:
        """This rank's samples of a batch: rank r takes the r-th of `size` equal parts."""
        part = split(batch_size, self.size)
        return slice(self.rank * part, (self.rank + 1) * part)

    def device(self, device: torch.device) -> torch.device:
        """The device this rank trains on: its own GPU (by its local rank) where the run is on GPUs."""
        if self.size == 1 or device.type != "cuda":
            return device
        torch.cuda.set_device(self.local)
        return torch.device("cuda", self.local)

    def average(self, tensors: list[torch.Tensor]) -> None:
        """Each tensor, in place, the mean of its values on every rank (a NaN on one reaches all)."""
        if self.size == 1:
            return
        for bucket in _buckets(tensors):
            flat = torch.cat([t.reshape(-1) for t in bucket])
            self._collective(dist.all_reduce, flat)
            flat /= self.size
            for t, part in zip(bucket, flat.split([t.numel() for t in bucket])):
                t.copy_(part.view_as(t))

    def most(self, value: int) -> int:
        """The largest of the ranks' values (which reason to stop, when any rank has one)."""
        if self.size == 1:
            return value
        t = torch.tensor([value], dtype=torch.int64)
        self._collective(dist.all_reduce, t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def first(self, obj):
        """Rank 0's `obj` on every rank (a checkpoint it read, say)."""
        if self.size == 1:
            return obj
        box = [obj if self.main else None]
        self._collective(dist.broadcast_object_list, box, src=0, device=torch.device("cpu"))
        return box[0]

    def _collective(self, collective, *args, **kwargs):
        try:
            return collective(*args, **kwargs)
        except RuntimeError as e:  # gloo: the connection closed; NCCL: the watchdog's timeout
            raise RankLost(
                f"rank {self.rank} of {self.size}: another rank of this training stopped "
                f"({str(e).splitlines()[0][:200]}); this one stops too, and the run resumes from "
                f"the last checkpoint"
            ) from None


SINGLE = Ranks()


def split(batch_size: int, ranks: int) -> int:
    """Each rank's part of a batch; the setting to change when the batch does not split evenly."""
    if batch_size % ranks:
        raise SwaplibError(
            f"train.batch_size {batch_size} does not split evenly over {ranks} ranks (train.devices x "
            f"train.nodes): make it a multiple of {ranks}"
        )
    return batch_size // ranks


def _buckets(tensors: list[torch.Tensor]):
    """Runs of tensors of one dtype and device, each at most BUCKET elements (or one larger tensor)."""
    bucket, size = [], 0
    for t in tensors:
        if bucket and (t.dtype != bucket[0].dtype or t.device != bucket[0].device or size + t.numel() > BUCKET):
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += t.numel()
    if bucket:
        yield bucket


def launched() -> bool:
    """Whether this process is one rank of several, started by torchrun or a scheduler's launcher."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current() -> Ranks:
    """The ranks of the process group joined(), or SINGLE."""
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


@contextlib.contextmanager
def joined():
    """Within it, this process is a rank of the run torchrun started (SINGLE when it started none)."""
    if not launched() or (dist.is_available() and dist.is_initialized()):
        yield current()
        return
    backend = "gloo"  # CPU tensors: the small messages, and every tensor of a run on CPUs
    if torch.cuda.is_available() and dist.is_nccl_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "cpu:gloo,cuda:nccl"  # a collective goes by its tensors' device
    dist.init_process_group(backend)
    try:
        yield current()
    finally:
        dist.destroy_process_group()
