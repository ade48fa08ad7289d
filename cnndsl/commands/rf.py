"""`cnndsl rf`: pictures of the receptive field (cnndsl.rfplot; torch only for --effective).

    cnndsl rf specs/vgg16.cnn -o vgg16-rf.png                  # last layer of each stage
    cnndsl rf specs/vgg16.cnn --layer features.vgg_block_5 --unit 3,3 --image cat.jpg -o rf.svg
    cnndsl rf specs/vgg16.cnn specs/resnet50.cnn specs/googlenet.cnn --plot growth -o growth.png
    cnndsl rf specs/resnet18.cnn --effective --samples 16 -o erf.png
"""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "draw receptive fields on the input, their growth with depth, or the effective field"


def add_arguments(parser) -> None:
    from .. import cli  # noqa: PLC0415

    cli.spec_arguments(parser)
    parser.add_argument("more_specs", nargs="*", metavar="SPEC",
                        help="more specs, for --plot growth (one chart)")
    parser.add_argument("-o", "--output", metavar="FILE", required=True,
                        help="out.png, out.svg or out.pdf (format from the suffix)")
    parser.add_argument("--plot", choices=("field", "growth"), default="field",
                        help="field: the fields on the input (default); growth: field size "
                             "and stride against depth")
    parser.add_argument("--layer", nargs="+", action="extend", metavar="NAME",
                        help="layers to draw, as `cnndsl check` names them, or a stage or "
                             "block (its last layer); default the last layer of each stage")
    parser.add_argument("--unit", metavar="I,J",
                        help="the output unit (row, column) of the last --layer; default "
                             "the one centred on the input; the other layers take the unit "
                             "centred nearest it")
    parser.add_argument("--image", metavar="FILE",
                        help="draw on this image (png, jpeg...), resized to the input")
    parser.add_argument("--effective", action="store_true",
                        help="add the effective receptive field, from gradients (needs torch)")
    parser.add_argument("--samples", type=int, default=16, metavar="N",
                        help="random weights and inputs averaged for --effective (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --effective (default 0)")


def _unit(text: str | None):
    from ..cli import UsageError  # noqa: PLC0415

    if text is None:
        return None
    parts = text.replace("x", ",").split(",")
    try:
        unit = tuple(int(p) for p in parts)
    except ValueError:
        unit = ()
    if len(unit) != 2 or min(unit) < 0:
        raise UsageError(f"--unit takes I,J (row and column, from 0), got {text!r}")
    return unit


def run(args) -> int:
    import argparse  # noqa: PLC0415

    from .. import cli, rfplot  # noqa: PLC0415
    from ..diagnostics import render  # noqa: PLC0415
    from ..files import OutputError, atomic_write, check_target  # noqa: PLC0415

    fmt = Path(args.output).suffix.lower().lstrip(".")
    if fmt not in rfplot.FORMATS:
        raise cli.UsageError(f"-o takes a file ending in .png, .svg or .pdf, got {args.output!r}")
    growth = args.plot == "growth"
    if args.more_specs and not growth:
        raise cli.UsageError("several specs go on one chart only with --plot growth")
    if growth and (args.layer or args.unit or args.image or args.effective):
        raise cli.UsageError("--layer, --unit, --image and --effective draw fields, "
                             "not --plot growth")
    if args.samples < 1:
        raise cli.UsageError(f"--samples takes a positive integer, got {args.samples}")
    unit = _unit(args.unit)
    if args.effective:
        from ..extras import require  # noqa: PLC0415
        require("torch", "cnndsl rf --effective")  # before any work: one line naming the extra

    nets = [cli.load_spec(argparse.Namespace(**{**vars(args), "spec": spec}))
            for spec in [args.spec, *args.more_specs]]
    net = nets[0]
    if growth:
        fig = rfplot.growth_figure(nets)
    else:
        nodes = rfplot.resolve(net, args.layer)  # CnnError (exit 1) for a bad name
        if not nodes:
            raise cli.UsageError(f"{args.spec}: no layer has a receptive field to draw "
                                 f"(the input is flat, or every layer sees all of it)")
        try:
            chosen = rfplot.units(net, nodes, unit)
            image = None if args.image is None else rfplot.load_image(args.image,
                                                                      net.input_shape)
        except ValueError as err:
            raise cli.UsageError(str(err)) from None
        if args.effective:
            from ..rfplot import effective  # noqa: PLC0415 (torch)
            try:
                fig = effective.effective_figure(net, nodes, chosen, image, args.samples,
                                                 args.seed)
            except ValueError as err:
                raise cli.UsageError(str(err)) from None
            for e in fig.effective:
                print(effective.describe(e))
        else:
            fig = rfplot.field_figure(net, nodes, chosen, image)
    try:
        for spec in args.more_specs:  # atomic_write guards the first spec
            check_target(args.output, None if spec == "-" else spec)
        atomic_write(args.output, rfplot.figure_bytes(fig, fmt),
                     spec=None if args.spec == "-" else args.spec)
    except OutputError as err:
        raise cli.UsageError(str(err)) from None
    except OSError as err:
        print(f"cnndsl: error: cannot write {args.output!r}: {err.strerror}", file=sys.stderr)
        return 2
    warnings = [w for n in nets for w in n.warnings]
    if warnings:
        print("\n\n".join(render(w, n.sources) for n in nets for w in n.warnings),
              file=sys.stderr)
    return 1 if args.strict and warnings else 0
