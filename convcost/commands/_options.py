"""Option types shared by several commands."""

from __future__ import annotations

from enum import Enum


class Device(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


class Clock(str, Enum):
    wall = "wall"
    cpu = "cpu"
