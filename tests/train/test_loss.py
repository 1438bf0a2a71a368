from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.nn.functional as F

from rader_queue.train.loss import contrastive_logits, grouped_ce_loss, infonce_loss


def test_logits_cover_every_passage_and_target_the_group_positive():
    q = F.normalize(torch.randn(3, 8), dim=-1)
    p = F.normalize(torch.randn(3 * 4, 8), dim=-1)
    logits, target = contrastive_logits(q, p, 0.05)
    assert logits.shape == (3, 12)
    assert target.tolist() == [0, 4, 8]
    torch.testing.assert_close(logits, q @ p.T / 0.05)


def test_infonce_is_low_when_positives_match():
    q = torch.eye(4)
    p = torch.zeros(8, 4)
    p[0::2] = torch.eye(4)             # positive = same direction
    p[1::2] = -torch.eye(4)            # hard negative = opposite
    assert infonce_loss(q, p, 0.01).item() < 1e-6
    assert infonce_loss(q, p.flip(0), 0.01).item() > 10


def test_reranker_loss_targets_first_of_each_group():
    scores = torch.tensor([5.0, 0.0, 0.0, 0.0, 5.0, 0.0])
    assert grouped_ce_loss(scores, 3).item() > grouped_ce_loss(torch.tensor([5.0, 0, 0, 5.0, 0, 0]), 3).item()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, backend: str, out: dict) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    device = torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(rank)
        device = torch.device("cuda", rank)
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        gen = torch.Generator().manual_seed(100 + rank)
        q = torch.randn(2, 8, generator=gen).to(device).requires_grad_()
        p = torch.randn(6, 8, generator=gen).to(device).requires_grad_()
        logits, target = contrastive_logits(q, p, 0.1)
        loss = F.cross_entropy(logits, target)
        loss.backward()
        out[rank] = (tuple(logits.shape), target.tolist(), float(loss), q.grad is not None,
                     q.detach().cpu(), p.detach().cpu())
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("backend", [
    "gloo",
    pytest.param("nccl", marks=pytest.mark.skipif(
        not torch.cuda.is_available() or torch.cuda.device_count() < 2,
        reason="NCCL gather needs 2 GPUs (run by bench/gpu_check.py on a GPU machine)")),
])
@pytest.mark.slow
def test_gather_spans_all_ranks(backend):
    mp = torch.multiprocessing.get_context("spawn")
    with mp.Manager() as manager:
        out = manager.dict()
        torch.multiprocessing.start_processes(_worker, args=(2, _port(), backend, out), nprocs=2,
                                              join=True, start_method="spawn")
        out = dict(out)
    for rank in (0, 1):
        shape, target, loss, has_grad, _, _ = out[rank]
        assert shape == (4, 12)              # world_size × local queries, world_size × local passages
        assert target == [0, 3, 6, 9]
        assert has_grad                      # the local slice keeps its graph
    # every rank sees the same global batch: its loss equals the single-process loss on it
    q = torch.cat([out[0][4], out[1][4]])
    p = torch.cat([out[0][5], out[1][5]])
    expected = infonce_loss(q, p, 0.1, gather=False).item()
    assert out[0][2] == pytest.approx(expected, rel=1e-5)
    assert out[1][2] == pytest.approx(expected, rel=1e-5)
