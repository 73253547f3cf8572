"""Hand-written torch equivalents of today's nets, an independent reference for the configs/ that
use the modern ops (LayerNorm, channel split/shuffle, transposed conv, 1-D/3-D convs).

Written from torchvision's source (convnext.py, shufflenetv2.py, video/resnet.py), the widely used
PyTorch U-Net (milesial/Pytorch-UNet: unet_parts.py) and fairseq/torchaudio's wav2vec2 feature
extractor, with plain torch.nn modules, never from convcost's graph. Imported only by tests that
need torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def count(make: Callable[[], nn.Module], shape: tuple[int, ...] = (1, 3, 224, 224)) -> tuple[int, int]:
    """(params, conv+linear MACs) of a reference module on an input of ``shape``: MACs from torch's
    FlopCounterMode (2 FLOPs per MAC), built and run on the meta device (no weights computed)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = make().eval()
        x = torch.zeros(*shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


# ---- ShuffleNetV2 (torchvision shufflenetv2.py) -------------------------------------------------
def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, -1, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        bf = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(),
            )
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(),
            nn.Conv2d(bf, bf, 3, stride, 1, groups=bf, bias=False), nn.BatchNorm2d(bf),
            nn.Conv2d(bf, bf, 1, bias=False), nn.BatchNorm2d(bf), nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, repeats: tuple[int, ...] = (4, 8, 4), chans: tuple[int, ...] = (24, 116, 232, 464, 1024)) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, chans[0], 3, 2, 1, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages = []
        cin = chans[0]
        for n, cout in zip(repeats, chans[1:]):
            stages.append(nn.Sequential(ShuffleUnit(cin, cout, 2), *[ShuffleUnit(cout, cout, 1) for _ in range(n - 1)]))
            cin = cout
        self.stage2, self.stage3, self.stage4 = stages
        self.conv5 = nn.Sequential(nn.Conv2d(cin, chans[-1], 1, bias=False), nn.BatchNorm2d(chans[-1]), nn.ReLU())
        self.fc = nn.Linear(chans[-1], 1000)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv5(self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x))))))
        return self.fc(x.mean([2, 3]))
