"""Issue 20's import targets, measured as a user meets them: `python -m convcost import` of torchvision models, each a
fresh process, its CPU seconds, wall seconds and peak RSS (the OS's accounting of the finished child, os.wait4).

Targets (issue 20, "Speed"): ResNet-50 import <= 3 s whole process on a 2-core machine; ViT-L/16 <= 15 s and <= 2 GB;
imported specs fold repeats (ResNet-50 <= 40 lines; RegNet, MobileNetV3, VGG fold too). The machine is shared: the
load average is printed before and after, quote medians, and read CPU seconds as what an idle machine's wall would be
(the import runs on one thread).

    python benchmarks/bench_import_models.py [--repeat 5] [--models resnet50,vit_l_16,...]

Models: torchvision's (random weights), resnet50 also as tests/reference_factories.py:ResNet (plain torch.nn, no
torchvision import).

Measured 2026-12-07 15:09 (branch 'speed', `--models resnet50 --repeat 5`, each tree first on PYTHONPATH in turn) on the
shared 2-core machine at a load average of 8.5, so the CPU times are inflated: ResNet-50 2.90 s CPU median (min 2.69)
against main's 3.94 s (min 3.35) -- sympy no longer loaded (importer/nosympy.py). The lead's quiet-machine figures
before (load 0.4): main 3.12 s, `import torch` alone 2.26 s.

Measured 2026-12-07 21:05 (branch 'impspeed', `--models resnet50,reference_resnet50 --repeat 5`, each tree's own copy of
this script run from it: `python -m convcost` runs the convcost of the script's checkout, whatever PYTHONPATH says) at a
load average of 5 to 6: ResNet-50 2.35 s CPU median (min 2.31) against main's 3.03 s (min 2.67), peak 252 MiB (285);
reference_resnet50 2.13 s (main 2.47 s). Paired runs in turn (A B A B ..., 5 to 7 pairs) gave a CPU ratio of 0.78 at
a load of 8 (2.44 s against 3.15 s) and 0.87 at a load of 3 to 5 (2.47 s against 3.01 s); `python -c "import torch"`
beside it took 2.01 s, the import 2.19 s. The cuts: sympy, which torchvision's import loaded through inspect's scan of
every module's __file__ (the stand-in now has none), and the meta batch norm (importer/meta_kernels.py); the specs of
resnet50, vit_l_16, mobilenet_v3_large, regnet_y_400mf, swin_t, efficientnet_b0, timm's convnext_atto and
deit_tiny_patch16_224 are byte for byte main's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACTORIES = '''
import sys, types
# torchvision's PyPI wheel beside the CPU torch: its _meta_registrations fails on import (tests/conftest.py)
sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
from torchvision import models
def resnet50(): return models.resnet50()
def vit_l_16(): return models.vit_l_16()
def regnet_y_400mf(): return models.regnet_y_400mf()
def mobilenet_v3_large(): return models.mobilenet_v3_large()
def vgg16(): return models.vgg16()
'''
TARGETS = {"resnet50": 3.0, "vit_l_16": 15.0}  # seconds, issue 20
LINES = {"resnet50": 40}  # issue 20's bound; tests/test_import.py FOLDS has each model's, derived from its stages
PEAK = {"vit_l_16": 2 * 1024**3}
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as a user runs it: bytecode cached


def run(cmd: list[str]) -> tuple[float, float, int]:
    """(cpu s, wall s, peak RSS bytes) of one run of cmd, from the OS's accounting of the child."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode() if p.stderr else ""
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}\n{err}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--models", default="resnet50,reference_resnet50,vit_l_16,regnet_y_400mf,mobilenet_v3_large,vgg16")
    opts = ap.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; {sys.executable}")
    with tempfile.TemporaryDirectory() as tmp:
        factories = Path(tmp, "tv_factories.py")
        factories.write_text(FACTORIES)
        for name in opts.models.split(","):
            target = (f"{ROOT / 'tests' / 'reference_factories.py'}:ResNet" if name == "reference_resnet50"
                      else f"{factories}:{name}")
            out = Path(tmp, f"{name}.yaml")
            cmd = [sys.executable, "-m", "convcost", "import", target, "--input", "3,224,224", "-o", str(out)]
            run(cmd)  # warm-up: bytecode caches, the page cache
            runs = [run(cmd) for _ in range(opts.repeat)]
            cpu, wall, peak = (statistics.median(r[k] for r in runs) for k in range(3))
            lines = len(out.read_text().splitlines())
            key = name.removeprefix("reference_")
            verdict = []
            if key in TARGETS:
                verdict.append(f"cpu {'<=' if cpu <= TARGETS[key] else 'OVER'} {TARGETS[key]:g} s")
            if name in PEAK:
                verdict.append(f"peak {'<=' if peak <= PEAK[name] else 'OVER'} 2 GB")
            if name in LINES:
                verdict.append(f"lines {'<=' if lines <= LINES[name] else 'OVER'} {LINES[name]}")
            print(f"{name:20s} cpu {cpu:6.2f} s (min {min(r[0] for r in runs):.2f}, max {max(r[0] for r in runs):.2f})  "
                  f"wall {wall:6.2f} s (min {min(r[1] for r in runs):.2f})  peak {peak / 2**20:6.0f} MiB  "
                  f"spec {lines} lines  {'; '.join(verdict)}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
