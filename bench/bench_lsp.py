"""How fast `cnndsl lsp` re-checks a spec after an edit (issue 13).

A real session over stdio: the server is started as editors start it
(`python -m cnndsl lsp`), the spec is opened, then each edit is one
`didChange` (the whole text, as VS Code sends on a small document) and the
time is taken from sending it to receiving the `publishDiagnostics` of that
version. Against it, a cold `cnndsl check SPEC` as a whole process, as a
user runs it. Then where the re-check's time goes, in process: parsing,
elaboration, the passes, and the server's own work (diagnostics, the rest).

    .venv/bin/python bench/bench_lsp.py                     # ResNet-50, 50 edits, 5 cold checks
    .venv/bin/python bench/bench_lsp.py --spec specs/googlenet.cnn --edits 100

Target: the re-check of ResNet-50 under 20 ms median. Wall time stretches
with the machine's load (the first line prints it); the server's CPU time
per edit and the in-process CPU breakdown do not, or much less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 20.0


class Client:
    """A minimal LSP client over a child's stdio (JSON-RPC with Content-Length framing)."""

    def __init__(self, command: list[str]):
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     cwd=ROOT)
        self.next_id = 0

    def send(self, method: str, params: dict, request: bool = False) -> int | None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return message.get("id")

    def receive(self) -> dict:
        length = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the server closed its output")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("ascii").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return json.loads(self.proc.stdout.read(length))

    def wait(self, predicate) -> dict:
        while True:
            message = self.receive()
            if predicate(message):
                return message

    def request(self, method: str, params: dict) -> dict:
        ident = self.send(method, params, request=True)
        return self.wait(lambda m: m.get("id") == ident and "method" not in m)

    def close(self) -> None:
        self.request("shutdown", {})
        self.send("exit", {})
        self.proc.wait(timeout=30)


def _diagnostics_of(uri: str, version: int):
    def match(m):
        return m.get("method") == "textDocument/publishDiagnostics" \
            and m["params"]["uri"] == uri and m["params"].get("version") == version
    return match


def edits(text: str, count: int) -> list[str]:
    """``count`` distinct versions of the spec, each one small edit of the original: a
    number in the header changed, as typing it would."""
    head, sep, rest = text.partition("classes = 1000")
    if not sep:
        return [text + f"\n# edit {i}\n" for i in range(count)]
    return [f"{head}classes = {1000 + i + 1}{rest}" for i in range(count)]


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def lsp_rechecks(spec: Path, count: int) -> tuple[list[float], int, float | None]:
    """Wall ms of each re-check, the diagnostics on open, and the server's mean CPU ms per
    edit (unlike wall time, not stretched by waiting for a core on a busy machine)."""
    client = Client([sys.executable, "-m", "cnndsl", "lsp"])
    try:
        client.request("initialize", {"processId": os.getpid(), "rootUri": ROOT.as_uri(),
                                      "capabilities": {}})
        client.send("initialized", {})
        uri = spec.resolve().as_uri()
        text = spec.read_text(encoding="utf-8")
        client.send("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "cnn", "version": 1, "text": text}})
        opened = client.wait(_diagnostics_of(uri, 1))
        errors = len(opened["params"]["diagnostics"])
        times = []
        cpu_before = _cpu_seconds(client.proc.pid)
        for version, new in enumerate(edits(text, count), start=2):
            start = time.perf_counter()
            client.send("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"text": new}]})
            client.wait(_diagnostics_of(uri, version))
            times.append((time.perf_counter() - start) * 1000)
        cpu_after = _cpu_seconds(client.proc.pid)
        cpu = None if cpu_before is None or cpu_after is None \
            else (cpu_after - cpu_before) * 1000 / count
        return times, errors, cpu
    finally:
        client.close()


def cold_checks(spec: Path, reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cnndsl", "check", str(spec)], cwd=ROOT,
                       stdout=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def breakdown(spec: Path, reps: int) -> dict[str, float]:
    """Median CPU ms of each stage of one re-check, in this process (tables warm)."""
    sys.path.insert(0, str(ROOT))
    from cnndsl.diagnostics import Sources
    from cnndsl.elaborate import elaborate
    from cnndsl.lsp.document import check
    from cnndsl.parser import parse
    from cnndsl.passes import run_all
    text = spec.read_text(encoding="utf-8")
    check(text, str(spec))  # warm: grammar tables, registry
    stages: dict[str, list[float]] = {"parse": [], "elaborate": [], "passes": [], "check": []}
    for _ in range(reps):
        clock = time.process_time
        t0 = clock()
        program = parse(text, str(spec))
        t1 = clock()
        graph = elaborate(program, Sources({str(spec): text}), {}, None)
        t2 = clock()
        run_all(graph)
        t3 = clock()
        check(text, str(spec))
        t4 = clock()
        for name, ms in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[name].append(ms * 1000)
    return {name: statistics.median(v) for name, v in stages.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="specs/resnet50.cnn")
    ap.add_argument("--edits", type=int, default=50, help="didChange edits timed (default 50)")
    ap.add_argument("--reps", type=int, default=5, help="cold checks timed (default 5)")
    args = ap.parse_args(argv)
    spec = (ROOT / args.spec) if not Path(args.spec).is_absolute() else Path(args.spec)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f}; spec {spec.relative_to(ROOT)}")
    recheck, errors, cpu = lsp_rechecks(spec, args.edits)
    cold = cold_checks(spec, args.reps)
    parts = breakdown(spec, max(args.edits, 20))
    r, c = statistics.median(recheck), statistics.median(cold)
    print(f"{'':34} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    print(f"{'lsp re-check (didChange -> diags)':34} {r:10.1f} {min(recheck):8.1f} "
          f"{max(recheck):8.1f}   ({len(recheck)} edits, {errors} diagnostics on open)")
    if cpu is not None:
        print(f"{'  server CPU per edit (mean)':34} {cpu:10.1f}")
    print(f"{'cold `cnndsl check` (process)':34} {c:10.1f} {min(cold):8.1f} {max(cold):8.1f}")
    print(f"ratio re-check / cold check: {r / c:.3f} ({c / r:.0f}x faster)")
    verdict = "met" if r < TARGET_MS else "NOT met"
    print(f"target: re-check median under {TARGET_MS:.0f} ms: {verdict}")
    total = parts["check"]
    print("\nwhere one re-check goes, in process (median CPU ms):")
    for name in ("parse", "elaborate", "passes"):
        print(f"  {name:10} {parts[name]:6.2f}  ({parts[name] / total:5.1%} of the check)")
    print(f"  {'check':10} {total:6.2f}  (loads: parse + elaborate + passes)")
    if cpu is not None:
        print(f"  {'server':10} {cpu - total:6.2f}  (per edit, beyond the check: JSON-RPC, pygls, "
              f"diagnostics)")
    return 0 if r < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
