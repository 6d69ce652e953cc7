"""Transformer tests run torch on one thread: on a shared 2-core machine two OpenMP threads
contend with other processes and made small steps several times slower (measured)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
