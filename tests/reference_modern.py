"""Hand-written torch equivalents of today's nets, an independent reference for the configs/ that
use the modern ops (LayerNorm, channel split/shuffle, transposed conv, 1-D/3-D convs).

Written from torchvision's source (convnext.py, shufflenetv2.py, video/resnet.py), the widely used
PyTorch U-Net (milesial/Pytorch-UNet: unet_parts.py) and fairseq/torchaudio's wav2vec2 feature
extractor, with plain torch.nn modules, never from convcost's graph. Imported only by tests that
need torch. Each part of issue 11 keeps its modules in its own section below.
"""

from __future__ import annotations

from torch import Tensor, nn


# ---- issue 11 part A (ranks): 1-D and 3-D nets ---------------------------------------------------
# 3-D ResNet stage (torchvision video/resnet.py r3d_18: BasicBlock, Conv3DSimple)
class BasicBlock3d(nn.Module):
    def __init__(self, inp: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv3d(inp, planes, 3, stride, 1, bias=False), nn.BatchNorm3d(planes), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv3d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv3d(inp, planes, 1, stride, bias=False), nn.BatchNorm3d(planes))

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.downsample(x))


def r3d_stem_and_layer2() -> nn.Module:
    """r3d_18's stem and its first two stages (input 3×16×112×112)."""
    stem = nn.Sequential(nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), nn.BatchNorm3d(64), nn.ReLU())
    layer1 = nn.Sequential(BasicBlock3d(64, 64), BasicBlock3d(64, 64))
    layer2 = nn.Sequential(BasicBlock3d(64, 128, 2), BasicBlock3d(128, 128))
    return nn.Sequential(stem, layer1, layer2)
