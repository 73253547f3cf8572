"""configs/inception_v3.yaml against torchvision's inception_v3 (torchvision 0.28): params, buffers and
FlopCounterMode's count, with and without the auxiliary classifier."""

from __future__ import annotations

import pytest
from conftest import CONFIGS

from convcost.api import analyze_file

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")


@pytest.mark.parametrize(("model", "aux"), [("inception_v3", False), ("inception_v3_aux", True)])
def test_inception_v3_equals_torchvision(model: str, aux: bool) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    (a,) = analyze_file(CONFIGS / "inception_v3.yaml", [model])
    with torch.device("meta"):
        ref = models.inception_v3(weights=None, aux_logits=aux, init_weights=False)
    assert a.total.params == sum(p.numel() for p in ref.parameters())  # 23,834,568; with the aux head 27,161,264
    assert a.total.buffers == sum(b.numel() for b in ref.buffers())
    counter = FlopCounterMode(display=False)
    ref.train(aux)  # torchvision runs the auxiliary head in training mode only (batch norm then needs 2 samples)
    with counter, torch.no_grad():
        ref(torch.empty(2, 3, 299, 299, device="meta"))
    assert a.total.macs == counter.get_total_flops() // 2 // 2  # per sample; 5,713,216,096 without the aux head
