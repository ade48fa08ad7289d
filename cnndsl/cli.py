"""Command line: argument handling and exit codes only.

Exit status: 0 for a valid spec, 1 for a spec error (diagnostics on
stderr), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import ast
import functools
import gc
import json
import os
import re
import sys

from . import __version__
from .diagnostics import CODES, CnnError, Sources, render, split_allowed, visible
from .elaborate import DEFAULT_MAX_NODES, SETTING_SYNTAX
from .files import DEFAULT_MAX_BYTES
from .passes.memory import DTYPE_BYTES

INT_LIMIT = 2**63  # as for every number in a spec
# load()'s own keyword arguments: --set cannot pass a parameter of these names.
OPTIONS = ("input_shape", "max_nodes", "dtype", "max_bytes")


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
        if name.strip() in OPTIONS:
            raise UsageError(f"--set cannot set a parameter named `{name.strip()}`: the name "
                             f"is taken by an option of cnndsl.load")
        out[name.strip()] = _value(value)
    return out


def _input(text: str | None):
    """Sizes, or `H` / `W` in place of a spatial size (`3xHxW`) to get size formulas."""
    if text is None:
        return None
    parts = [d.strip() for d in re.split(r"[xX,]", text)]
    symbols = {1: "H", 2: "W"} if len(parts) == 3 else {}
    try:
        dims = tuple(symbols[i] if d.upper() == symbols.get(i) else int(d)
                     for i, d in enumerate(parts))
    except ValueError:
        raise UsageError(f"--input takes CxHxW or F, such as 3x224x224 or 3xHxW, "
                         f"got {text!r}") from None
    sizes = [d for d in dims if isinstance(d, int)]
    if len(dims) not in (1, 3) or min(sizes, default=1) < 1:
        raise UsageError(f"--input takes CxHxW or F with positive sizes, got {text!r}")
    if max(sizes, default=1) >= INT_LIMIT:
        raise UsageError(f"--input sizes must be below 2**63, got {text!r}")
    return dims


def _symbols(dims) -> tuple[str | None, str | None] | None:
    """The names given to the spatial axes by `--input 3xHxW`, or None."""
    if dims is None or not any(isinstance(d, str) for d in dims):
        return None
    return tuple(d if isinstance(d, str) else None for d in dims[1:])


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="cnndsl", description="Check, compile and draw CNN specs.")
    top.add_argument("--version", action="version", version=f"cnndsl {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _builtin_commands(sub, spec_arguments)
    from . import commands  # noqa: PLC0415
    for name, module in commands.modules().items():
        cmd = sub.add_parser(name, help=module.HELP)
        module.add_arguments(cmd)
        COMMANDS[name] = module.run
    return top


def spec_arguments(p) -> None:
    """The spec and the options every command that loads one takes (see load_spec)."""
    # Optional here so that `--set a=1 b=2 SPEC` works too: the spec is then
    # the one value of --set without `=` (see _spec_after_set).
    p.add_argument("spec", nargs="?", help="the .cnn file (a regular file), zoo:NAME, "
                   "or - for standard input")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="NAME=VALUE",
                   help="override network parameters, e.g. --set classes=10 in_channels=1")
    p.add_argument("--input", metavar="CxHxW",
                   help="override the input shape, e.g. 1x96x96; H and/or W in place "
                        "of a size (3xHxW) print each layer's size as a formula")
    p.add_argument("--max-nodes", type=int, default=DEFAULT_MAX_NODES, metavar="N",
                   help=f"refuse specs with more layers (default {DEFAULT_MAX_NODES:,})")
    p.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                   help=f"refuse specs of more bytes (default {DEFAULT_MAX_BYTES:,}) or "
                        f"more than max(N/16, 1,000,000) tokens")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--allow", action="append", default=[], metavar="CODE[,CODE]",
                   help="do not report these warnings (W0302,...); a spec line allows one "
                        "with a comment: `maxpool(3, s=2)  # allow: W0302`")


def _builtin_commands(sub, common) -> None:
    check = sub.add_parser("check", help="check a spec and print its layers, shapes and costs")
    common(check)
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.add_argument("--depth", type=int, metavar="N",
                       help="fold stages and blocks nested deeper than N into one row each")
    check.add_argument("--batch", type=int, default=1, metavar="N",
                       help="MACs and activation memory for a batch of N (default 1)")
    check.add_argument("--dtype", default="float32", choices=sorted(DTYPE_BYTES),
                       help="element type for the memory figures (default float32)")
    check.add_argument("--min-input", action="store_true",
                       help="report the smallest valid input size and the divisibility "
                            "that keeps every merge lined up")

    draw = sub.add_parser("draw", help="draw a spec as a diagram (svg, png, pdf or dot source)")
    common(draw)
    draw.add_argument("-o", "--output", metavar="FILE",
                      help="net.svg, net.png, net.pdf or net.dot (format from the suffix); "
                           "without it, dot source goes to stdout")
    draw.add_argument("--depth", type=int, metavar="N",
                      help="collapse stages, blocks and paths nested deeper than N into one box")
    draw.add_argument("--rankdir", choices=("TB", "LR"), default="TB",
                      help="layout direction: top to bottom (default) or left to right")
    draw.add_argument("--show", default="", metavar="rf,params,macs",
                      help="extra lines in every layer's box")
    draw.add_argument("--partial", action="store_true",
                      help="if the spec has errors, draw it up to them, failing layers marked")
    draw.add_argument("--dpi", type=int, metavar="N",
                      help="resolution of a png in dots per inch (default 96, a screen's; "
                           "300 for print)")

    zoo = sub.add_parser("zoo", help="list the zoo: torchvision's builders as specs (zoo:NAME)")
    zoo.add_argument("names", nargs="*", metavar="NAME", help="only these builders")
    zoo.add_argument("--json", action="store_true", help="print the list as JSON")

    comp = sub.add_parser("compile", help="compile a spec to PyTorch source, ONNX or TorchScript")
    common(comp)
    comp.add_argument("-o", "--output", metavar="MODEL.py",
                      help="write standalone PyTorch source (to stdout when no output is named)")
    comp.add_argument("--onnx", metavar="MODEL.onnx", help="export to ONNX (batch axis dynamic)")
    comp.add_argument("--torchscript", metavar="MODEL.pt", help="export with torch.jit.script")
    comp.add_argument("--optimize", choices=["inference"],
                      help="fold batch norm into convolutions (for inference only)")


def load_spec(args):
    """The Network that the options of :func:`spec_arguments` name, or CnnError/UsageError."""
    return _load(args)


def _load(args):
    from .network import loads, open_spec, read_spec  # noqa: PLC0415 (network pulls in the passes)
    dims, settings = _input(args.input), _settings(args.set)
    _allowed(args)  # a bad code is a usage error before any work
    if args.max_bytes < 1 or args.max_nodes < 1:
        raise UsageError("--max-bytes and --max-nodes take a positive integer")
    if args.spec == "-":
        file, text = read_spec("<stdin>", args.max_bytes, stream=sys.stdin.buffer)
        defaults = {}
    else:
        try:
            file, text, defaults = open_spec(args.spec, args.max_bytes)
        except ValueError as err:  # an unknown zoo name
            raise UsageError(str(err)) from None
    settings = {**defaults, **settings}
    options = dict(max_nodes=args.max_nodes, dtype=getattr(args, "dtype", "float32"),
                   max_bytes=args.max_bytes)
    if _symbols(dims) is None:
        return loads(text, file, input_shape=dims, **options, **settings)
    # Named axes: elaborate at the spec's own size for them (formulas come after).
    net = loads(text, file, **options, **settings)
    if len(net.input_shape) != 3:
        raise UsageError(f"{args.spec} takes a flat input; --input names only spatial axes")
    shape = tuple(own if isinstance(d, str) else d for d, own in zip(dims, net.input_shape))
    if shape == net.input_shape:
        return net
    return loads(text, file, input_shape=shape, **options, **settings)


def _spec_path(args) -> str | None:
    """The spec's path, that no output may overwrite (None for standard input)."""
    return None if args.spec == "-" else args.spec


def _check(args) -> int:
    from . import report, symbolic  # noqa: PLC0415
    # Everything built here lives until the process exits: the cyclic garbage
    # collector would only rescan it (about 2x on a 100,000-layer spec,
    # bench/bench_check.py). Reference counting still frees temporaries.
    gc.disable()
    if args.batch < 1 or args.depth is not None and args.depth < 0:
        raise UsageError("--batch takes an integer >= 1 and --depth one >= 0")
    net = _load(args)
    symbols = _symbols(_input(args.input))
    formulas = symbolic.formulas(net.graph) if symbols or args.min_input else None
    sizes = symbolic.valid_sizes(net.graph, formulas) if args.min_input else None
    if args.json:
        doc = report.to_json(net, lazy=True)  # its layers made as they are written
        if symbols:
            report.add_formulas(doc, net, formulas, symbols)
        if args.min_input:
            doc["min_input"] = report.min_input_json(net, sizes)
        if args.batch != 1:  # the figures that grow with the batch, for this one
            g = net.graph.graph
            doc["batch"] = {"size": args.batch, "macs": g["macs"] * args.batch,
                            "flops": g["flops"] * args.batch,
                            "inference_peak": g["memory"]["inference_peak"] * args.batch,
                            "training_saved": g["memory"]["training_saved"] * args.batch}
        report.write_json(doc, sys.stdout.write)
        print()
    else:
        if symbols:
            print(report.formula_table(net, formulas, symbols))
        else:  # a line at a time: a long table is never all in memory
            write = sys.stdout.write
            for line in report.table_lines(net, args.depth, args.batch):
                write(line + "\n")
        if args.min_input:
            print(report.min_input_text(net, sizes))
    return _warn(net, args)


def _draw(args) -> int:
    from .backends import graphviz_dot as gv  # noqa: PLC0415 (draw only)
    from .files import OutputError, atomic_write  # noqa: PLC0415

    fmt = gv.format_for(args.output) if args.output else "dot"
    if fmt is None:
        raise UsageError(f"-o takes a file ending in {', '.join('.' + f for f in gv.FORMATS)}, "
                         f"got {args.output!r}")
    show = tuple(x.strip() for x in args.show.split(",") if x.strip())
    if any(x not in gv.SHOW for x in show) or args.depth is not None and args.depth < 0:
        raise UsageError(f"--show takes some of {','.join(gv.SHOW)} and --depth an integer >= 0")
    low, high = gv.DPI_RANGE
    if args.dpi is not None and (fmt != "png" or not low <= args.dpi <= high):
        raise UsageError(f"--dpi takes an integer from {low} to {high}, for a .png output "
                         f"only (svg and pdf scale without it)")
    options = gv.DrawOptions(depth=args.depth, rankdir=args.rankdir, show=show)
    failure = None
    try:
        net = _load(args)
        graph, diagnostics = net.graph, ()
    except CnnError as err:
        graph = getattr(err, "graph", None)
        if graph is None or "input" not in graph:
            raise
        if not args.partial:  # the errors as `check` prints them, then what draws anyway
            _report(err, args)
            print("cnndsl: draw it up to its errors with --partial", file=sys.stderr)
            return 1
        net, failure, diagnostics = None, err, err.diagnostics
    try:
        data = gv.render(gv.to_dot(graph, options, diagnostics), fmt, dpi=args.dpi)
        if args.output:
            atomic_write(args.output, data, spec=_spec_path(args))
        else:
            sys.stdout.write(data.decode("utf-8"))
    except gv.DrawError as err:  # `dot` missing, failed or too slow; a diagram too large
        print(f"cnndsl: error: {err}", file=sys.stderr)
        return 2
    except OutputError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        print(f"cnndsl: error: cannot write {args.output!r}: {err.strerror}", file=sys.stderr)
        return 2
    if failure is not None:
        if args.output:
            print(f"cnndsl: drew {visible(args.spec)} up to its errors in {visible(args.output)}", file=sys.stderr)
        raise failure  # now report them
    return _warn(net, args)


def _allowed(args) -> set[str]:
    """The codes of --allow, or a UsageError for one that is not a warning's."""
    codes = {c.strip().upper() for item in getattr(args, "allow", []) for c in item.split(",")
             if c.strip()}
    unknown = sorted(c for c in codes if c not in CODES or not c.startswith("W"))
    if unknown:
        raise UsageError(f"--allow takes warning codes (W0301, ...), got {', '.join(unknown)}")
    return codes


def _warn(net, args) -> int:
    net.warnings, allowed = split_allowed(net.warnings, net.sources, _allowed(args))
    net.allowed = net.allowed + allowed
    if net.warnings:
        print("\n\n".join(render(w, net.sources) for w in net.warnings), file=sys.stderr)
    if args.strict and net.warnings:
        count = len(net.warnings)
        print(f"\n{count} warning{'s' if count != 1 else ''} in {visible(args.spec)}, errors under --strict",
              file=sys.stderr)
        return 1
    return 0


def _compile(args) -> int:
    from .extras import require  # noqa: PLC0415
    # Before any work: one line naming the extra (onnx's holds torch: one install does).
    if args.onnx:
        require("onnx", "cnndsl compile --onnx")
    else:
        require("torch", "cnndsl compile")
    from .backends import torch_module as tm  # noqa: PLC0415 (compile only: imports torch)
    from .backends.verify import GeneratedSourceError  # noqa: PLC0415
    from .files import OutputError, atomic_write  # noqa: PLC0415
    from .passes.budget import EXPORT_BATCH, module_fits  # noqa: PLC0415

    net = _load(args)
    if args.onnx:  # refuse before torch allocates the module or the example input
        too_big = module_fits(net.graph, example_batch=EXPORT_BATCH)
        if too_big is not None:
            raise CnnError([too_big], net.sources)

    @functools.cache
    def module():  # built only for the exports that need a live module
        return net.to_module(optimize=args.optimize)

    outputs = []
    if args.output or not (args.onnx or args.torchscript):
        outputs.append((args.output, lambda: net.to_source(optimize=args.optimize)))
    if args.onnx:
        outputs.append((args.onnx, lambda: tm.onnx_bytes(module(), net.input_shape,
                                                         batch=EXPORT_BATCH)))
    if args.torchscript:
        outputs.append((args.torchscript, lambda: tm.torchscript_bytes(module())))
    for target, make in outputs:
        try:
            if target is None:
                sys.stdout.write(make())
            else:
                atomic_write(target, make(), spec=_spec_path(args))
        except OutputError as err:
            raise UsageError(str(err)) from None
        except GeneratedSourceError as err:  # nothing was written
            print(f"cnndsl: internal error: {err} (a bug in cnndsl, not in the spec: please "
                  f"report it)", file=sys.stderr)
            return 1
        except OSError as err:
            print(f"cnndsl: error: cannot write {target!r}: {err.strerror}", file=sys.stderr)
            return 2
    return _warn(net, args)


def _zoo(args) -> int:
    from . import report, zoo  # noqa: PLC0415
    from .network import load  # noqa: PLC0415
    unknown = [n for n in args.names if n.removeprefix(zoo.PREFIX) not in zoo.ZOO]
    if unknown:
        try:
            zoo.resolve(unknown[0])
        except KeyError as err:  # says which name is closest
            raise UsageError(err.args[0]) from None
    names = [n.removeprefix(zoo.PREFIX) for n in args.names] or sorted(zoo.ZOO)
    entries = [report.zoo_entry(n, load(zoo.PREFIX + n)) for n in names]
    print(json.dumps(entries, indent=1) if args.json else report.zoo_table(entries))
    return 0


COMMANDS = {"check": _check, "draw": _draw, "compile": _compile, "zoo": _zoo}


def _spec_after_set(parser, args) -> None:
    """`--set` takes several values, so `--set classes=10 SPEC` reads SPEC as one of
    them: take the value without `=` as the spec, as a user means it."""
    if not hasattr(args, "set") or args.spec is not None:
        return
    loose = [item for item in args.set if "=" not in item]
    if len(loose) != 1:
        parser.error("the following arguments are required: spec")
    args.spec = loose[0]
    args.set = [item for item in args.set if item != args.spec]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _spec_after_set(parser, args)
    syntax = SETTING_SYNTAX.set("cli")  # messages say `--set name=...`, not `name=...`
    try:
        return _run(parser, args)
    finally:
        SETTING_SYNTAX.reset(syntax)


def _run(parser, args) -> int:
    from .extras import MissingExtra  # noqa: PLC0415 (light: no extra is imported)
    try:
        return COMMANDS[args.command](args)
    except UsageError as err:
        parser.error(str(err))
    except MissingExtra as err:  # a runtime error, not a usage one: the command was right
        print(f"cnndsl: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader left (`cnndsl check x | head`): stop quietly, as a tool
        # killed by SIGPIPE would (the recipe in Python's signal docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:
        print(f"cnndsl: error: cannot read {visible(repr(err.filename or args.spec))}: "
              f"{err.strerror}", file=sys.stderr)
        return 2
    except CnnError as err:
        _report(err, args)
        return 1


def _report(err: CnnError, args) -> None:
    """A spec's errors on stderr, then their count (and, for `check --json`, as JSON
    on stdout: editors and CI read them there)."""
    print(err.render(), file=sys.stderr)
    errors = sum(d.severity == "error" for d in err.diagnostics)
    if args.command == "check" and args.json:
        print(json.dumps({"errors": errors, "diagnostics": [d.to_json() for d in
                                                            err.diagnostics]}, indent=1))
    where = "standard input" if args.spec == "-" else visible(args.spec)
    print(f"\n{errors} error{'s' if errors != 1 else ''} in {where}", file=sys.stderr)


def run() -> None:
    sys.exit(main())


__all__ = ["main", "run", "Sources"]
