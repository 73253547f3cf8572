"""The 12 torchvision models issue 21 measures every counter on, as factories: for `convcost import` and
`verify --reference` (`tests/torchvision_zoo.py:resnet50`) and for tests/test_conventions_zoo.py.

Random weights (``weights=None``): counts do not depend on them. GoogLeNet without its aux heads (as torchvision
runs it in eval), DeepLabV3 without its aux classifier. ``INPUTS`` holds each model's input (C, ...) at the size its
weights were published for: 224², r3d_18 16 frames at 112², DeepLabV3 520².
"""

from __future__ import annotations

import sys
import types

# torchvision's PyPI wheel is built for CUDA torch: beside the CPU torch its _meta_registrations fails on import;
# its model code does not need it (tests/conftest.py does the same)
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))

from torch import nn  # noqa: E402
from torchvision import models  # noqa: E402
from torchvision.models import segmentation, video  # noqa: E402


def resnet50() -> nn.Module:
    return models.resnet50()


def mobilenet_v2() -> nn.Module:
    return models.mobilenet_v2()


def mobilenet_v3_large() -> nn.Module:
    return models.mobilenet_v3_large()


def googlenet() -> nn.Module:
    return models.googlenet(aux_logits=False, init_weights=False)


def efficientnet_b0() -> nn.Module:
    return models.efficientnet_b0()


def shufflenet_v2_x1_0() -> nn.Module:
    return models.shufflenet_v2_x1_0()


def convnext_tiny() -> nn.Module:
    return models.convnext_tiny()


def swin_t() -> nn.Module:
    return models.swin_t()


def vit_b_16() -> nn.Module:
    return models.vit_b_16()


def regnet_y_400mf() -> nn.Module:
    return models.regnet_y_400mf()


def r3d_18() -> nn.Module:
    return video.r3d_18()


def deeplabv3_resnet50() -> nn.Module:
    return segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=False)


IMAGE = (3, 224, 224)
INPUTS: dict[str, tuple[int, ...]] = {
    "resnet50": IMAGE, "mobilenet_v2": IMAGE, "mobilenet_v3_large": IMAGE, "googlenet": IMAGE, "efficientnet_b0": IMAGE,
    "shufflenet_v2_x1_0": IMAGE, "convnext_tiny": IMAGE, "swin_t": IMAGE, "vit_b_16": IMAGE, "regnet_y_400mf": IMAGE,
    "r3d_18": (3, 16, 112, 112), "deeplabv3_resnet50": (3, 520, 520),
}
