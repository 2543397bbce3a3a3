"""One SGD step of a symconv.torch network: on the whole batch in one process, and under
DistributedDataParallel (gloo, two local processes, half the batch each).

    python -m tests.ddp_step FOLDER

Prints the largest difference between the two resulting parameter sets as JSON.
DDP averages the two halves' gradients; with a mean loss that is the whole batch's
gradient, so the parameters must agree to rounding.  The ranks run batches of 4 and
the single process a batch of 8: `Conv` makes kernels for each size it meets.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from symconv import ConvSpec
from symconv.torch import Conv

SPEC = ConvSpec((6, 6), 3, 2, 3, batch=4, stride=2, padding=1, bias=True, dtype="float64")
BATCH = 8


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(Conv(SPEC), nn.Flatten(), nn.Linear(3 * 3 * 3, 4).double())


def data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, 2, 6, 6, generator=generator, dtype=torch.float64)
    return x, torch.randint(0, 4, (BATCH,), generator=generator)


def step(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    nn.functional.cross_entropy(net(x), y).backward()
    optimizer.step()


def rank_main(rank: int, folder: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2
    )
    net = nn.parallel.DistributedDataParallel(model())
    x, y = data()
    half = slice(rank * BATCH // 2, (rank + 1) * BATCH // 2)
    step(net, x[half], y[half])
    if rank == 0:
        torch.save(net.module.state_dict(), f"{folder}/ddp.pt")
    dist.barrier()
    # Leave without running C++ destructors: a gloo thread torn down at interpreter exit
    # can abort the process ("terminate called without an active exception") after the
    # work is done, which would read as a failure.  Everything is written by now.
    sys.stdout.flush()
    os._exit(0)


def main(folder: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    mp.spawn(rank_main, args=(folder,), nprocs=2, join=True)
    single = model()
    step(single, *data())
    ddp = torch.load(Path(folder) / "ddp.pt")
    difference = max(
        float((ddp[name] - value).abs().max()) for name, value in single.state_dict().items()
    )
    moved = float((single[0].weight - model()[0].weight).abs().max())
    print(json.dumps({"max_difference": difference, "weight_change": moved}))


if __name__ == "__main__":
    main(sys.argv[1])
