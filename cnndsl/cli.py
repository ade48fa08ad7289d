"""Command line: argument handling and exit codes only.

Exit status: 0 for a valid spec, 1 for a spec error (diagnostics on
stderr), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys

from .diagnostics import CnnError, Sources, render
from .elaborate import DEFAULT_MAX_NODES


class UsageError(Exception):
    pass


def _value(text: str):
    """A --set value: a number, true/false, or a tuple/list of them."""
    low = text.strip()
    if low in ("true", "false"):
        return low == "true"
    try:
        v = ast.literal_eval(low)  # literals only: no names, calls or attributes
    except (ValueError, SyntaxError):
        return low  # a bare word stays a string
    if isinstance(v, list):
        v = tuple(v)
    return v


def _settings(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise UsageError(f"--set takes name=value, got {item!r}")
        out[name.strip()] = _value(value)
    return out


def _input(text: str | None):
    if text is None:
        return None
    try:
        dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise UsageError(f"--input takes CxHxW or F, such as 3x224x224, got {text!r}") from None
    if len(dims) not in (1, 3) or min(dims) < 1:
        raise UsageError(f"--input takes CxHxW or F with positive sizes, got {text!r}")
    return dims


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="cnndsl", description="Check, compile and draw CNN specs.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p):
        p.add_argument("spec", help="the .cnn file")
        p.add_argument("--set", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                       help="override network parameters, e.g. --set classes=10 in_channels=1")
        p.add_argument("--input", metavar="CxHxW", help="override the input shape, e.g. 1x96x96")
        p.add_argument("--max-nodes", type=int, default=DEFAULT_MAX_NODES, metavar="N",
                       help=f"refuse specs with more layers (default {DEFAULT_MAX_NODES:,})")
        p.add_argument("--strict", action="store_true", help="treat warnings as errors")

    check = sub.add_parser("check", help="check a spec and print its layers, shapes and costs")
    common(check)
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    return top


def _load(args):
    from .network import load  # noqa: PLC0415 (kept out of argument parsing)
    return load(args.spec, input_shape=_input(args.input), max_nodes=args.max_nodes,
                **_settings(args.set))


def _check(args) -> int:
    net = _load(args)
    if args.json:
        print(json.dumps(net.to_json(), indent=1))
    else:
        print(net.summary())
    return _warn(net, args)


def _warn(net, args) -> int:
    for w in net.warnings:
        print(render(w, net.sources), file=sys.stderr)
    return 1 if args.strict and net.warnings else 0


COMMANDS = {"check": _check}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as err:
        parser.error(str(err))
    except OSError as err:
        print(f"cnndsl: error: cannot read {err.filename or args.spec!r}: {err.strerror}",
              file=sys.stderr)
        return 2
    except CnnError as err:
        print(err.render(), file=sys.stderr)
        errors = sum(d.severity == "error" for d in err.diagnostics)
        print(f"\n{errors} error{'s' if errors != 1 else ''} in {args.spec}", file=sys.stderr)
        return 1


def run() -> None:
    sys.exit(main())


__all__ = ["main", "run", "Sources"]
