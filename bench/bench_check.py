"""`cnndsl check` against the dynamic route, and its scaling with spec size.

1. Static analysis vs a dummy forward pass. Whole processes, as a user runs
   them: `cnndsl check --json SPEC` against a Python process that builds the
   hand-written module (tests/reference_models.py) and runs
   `torchinfo.summary` and fvcore's `FlopCountAnalysis(...).total()` on a
   zero input, which is how shapes, params and MACs are found today. Runs
   alternate between the two and the table shows medians and their ratio.
   Targets (issue 3): >= 10x on VGG-16, >= 5x on GoogLeNet and ResNet-50.
2. Scaling. Generated specs of 1,000, 10,000 and 100,000 layers (conv and
   relu), written out one layer a line and as one `repeat`, checked by whole
   `cnndsl check` processes (the table) and `cnndsl check --json`, against
   `specs/lenet.cnn` checked the same way in the same run. Targets (issue
   13): a written-out 10,000-layer spec within 3x LeNet's time; per-layer
   time at 100,000 within 1.5x that at 10,000; under 300 MB peak resident
   memory at 100,000 layers (the child's own maximum RSS, from wait4).

torchinfo and fvcore live in a separate environment (bench/README.md), so
they are never test or runtime dependencies:

    .venv/bin/python bench/bench_check.py                    # both parts
    .venv/bin/python bench/bench_check.py --reps 3 --skip-scaling
    .venv/bin/python bench/bench_check.py --baseline-python .benchenv/bin/python
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
CNNDSL = [sys.executable, "-m", "cnndsl"]
BASELINE_PYTHON = os.environ.get("BENCH_PYTHON", str(ROOT / ".benchenv" / "bin" / "python"))

MODELS = {  # name: (spec, builder in tests/reference_models.py), all at 3x224x224
    "vgg16": ("specs/vgg16.cnn", "vgg16"),
    "googlenet": ("specs/googlenet.cnn", "googlenet"),
    "resnet50": ("specs/resnet50.cnn", "resnet50"),
}
TARGETS = {"vgg16": 10.0, "googlenet": 5.0, "resnet50": 5.0}

# The dynamic route: build the module, torchinfo's summary, fvcore's count.
BASELINE = """
import sys
sys.path.insert(0, {tests!r})
import torch, torchinfo
from fvcore.nn import FlopCountAnalysis
import reference_models
model = reference_models.{builder}()
torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0)
flops = FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224))
flops.unsupported_ops_warnings(False)
flops.uncalled_modules_warnings(False)
flops.total()
"""


def _run(cmd: list[str]) -> float:
    return _measure(cmd)[0]


def _measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one whole process."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    return seconds, usage.ru_maxrss / 1024  # KB on Linux


def compare(reps: int, baseline_python: str) -> None:
    print(f"cnndsl check --json vs module + torchinfo.summary + fvcore FlopCountAnalysis "
          f"(whole processes, median of {reps})")
    print(f"{'model':<10} {'cnndsl s':>9} {'baseline s':>11} {'ratio':>7} {'target':>7}")
    for name, (spec, builder) in MODELS.items():
        ours, theirs = [], []
        script = BASELINE.format(tests=str(ROOT / "tests"), builder=builder)
        _run(CNNDSL + ["check", "--json", spec])  # warm the file cache and lark's table cache
        for i in range(reps):
            pair = [lambda: ours.append(_run(CNNDSL + ["check", "--json", spec])),
                    lambda: theirs.append(_run([baseline_python, "-c", script]))]
            for step in pair if i % 2 == 0 else pair[::-1]:
                step()
        a, b = statistics.median(ours), statistics.median(theirs)
        ok = "ok" if b / a >= TARGETS[name] else "MISSED"
        print(f"{name:<10} {a:9.3f} {b:11.3f} {b / a:6.1f}x {TARGETS[name]:5.0f}x  {ok}")


def write_specs(folder: Path, layers: int) -> dict[str, Path]:
    """A written-out spec and a `repeat` spec, each of `layers` layers."""
    flat = folder / f"flat_{layers}.cnn"
    with flat.open("w") as f:
        f.write("network flat\ninput [8, 16, 16]\n")
        for _ in range(layers // 2):
            f.write("conv(8, k=3, p=1)\nrelu\n")
    looped = folder / f"repeat_{layers}.cnn"
    looped.write_text(f"network looped\ninput [8, 16, 16]\n"
                      f"repeat {layers // 2} {{ conv(8, k=3, p=1) relu }}\n")
    return {"written out": flat, "repeat": looped}


def scaling(sizes: list[int], reps: int) -> None:
    for flags in ([], ["--json"]):
        command = " ".join(["cnndsl check", *flags])
        print(f"\n{command} on generated specs (whole processes, median of {reps})")
        lenet = statistics.median(_run(CNNDSL + ["check", *flags, "specs/lenet.cnn"])
                                  for _ in range(reps))
        print(f"{'specs/lenet.cnn':<20} {lenet:8.3f} s")
        print(f"{'layers':>8} {'form':<12} {'seconds':>8} {'us/layer':>9} {'vs lenet':>9} "
              f"{'peak MB':>8}")
        per_layer: dict[tuple[str, int], float] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for layers in sizes:
                for form, path in write_specs(Path(tmp), layers).items():
                    cmd = CNNDSL + ["check", *flags, "--max-nodes", str(2 * layers), str(path)]
                    runs = [_measure(cmd) for _ in range(max(1, reps if layers < 100_000 else 1))]
                    seconds = statistics.median(r[0] for r in runs)
                    peak = max(r[1] for r in runs)
                    per_layer[form, layers] = per = seconds / layers * 1e6
                    notes = []
                    if form == "written out" and layers == 10_000:
                        notes.append(_verdict("10k within 3x lenet", seconds / lenet <= 3))
                    if layers == 100_000 and (form, 10_000) in per_layer:
                        grow = per / per_layer[form, 10_000]
                        notes.append(_verdict(f"per layer {grow:.2f}x 10k's, <= 1.5x", grow <= 1.5))
                        notes.append(_verdict("< 300 MB", peak < 300))
                    print(f"{layers:>8,} {form:<12} {seconds:8.2f} {per:9.1f} "
                          f"{seconds / lenet:8.1f}x {peak:8.0f}  {'; '.join(notes)}")


def _verdict(target: str, met: bool) -> str:
    return f"{target}: {'ok' if met else 'MISSED'}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--baseline-python", default=BASELINE_PYTHON,
                   help="a Python with torch, torchinfo and fvcore (default $BENCH_PYTHON "
                        "or .benchenv/bin/python in the repository)")
    p.add_argument("--skip-compare", action="store_true")
    p.add_argument("--skip-scaling", action="store_true")
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = p.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    if not args.skip_compare:
        compare(args.reps, args.baseline_python)
    if not args.skip_scaling:
        scaling(args.sizes, args.reps)


if __name__ == "__main__":
    main()
