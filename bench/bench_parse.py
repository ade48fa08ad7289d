"""cnndsl's parser with lark's plugins (cnndsl/lark_plugins.py) against stock lark.

The same grammar, options, post-lexer and AST builder, once with the
plugins and once without, parse the same written-out spec in one process,
alternating; the table gives the best and median times and their ratio.
The ASTs are compared too (they must be equal).

    .venv/bin/python bench/bench_parse.py                 # 10,000 layers, 7 rounds
    .venv/bin/python bench/bench_parse.py --layers 100000 --rounds 3
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import lark

from cnndsl import lark_plugins, parser


def spec(layers: int) -> str:
    """bench_check.py's written-out spec: conv and relu, a layer a line."""
    return "network flat\ninput [8, 16, 16]\n" + "conv(8, k=3, p=1)\nrelu\n" * (layers // 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args()
    grammar = parser.grammar_path().read_text(encoding="utf-8") + parser.SHORTCUT
    parsers = {name: lark.Lark(grammar, **parser.OPTIONS, postlex=parser._Guard(),
                               transformer=parser.Builder(parser._segment), _plugins=plugins)
               for name, plugins in (("stock lark", {}), ("plugins", lark_plugins.PLUGINS))}
    text = spec(args.layers)
    times: dict = {name: [] for name in parsers}
    trees = {}
    gc.disable()  # as parser.parse does
    for _ in range(args.rounds):
        for name, lark_parser in parsers.items():
            trees.pop(name, None)  # freed before the clock starts
            lark_parser.options.transformer.reset("bench.cnn", None)
            start = time.perf_counter()
            tree = lark_parser.parse(text)
            times[name].append(time.perf_counter() - start)
            trees[name] = tree
    assert trees["plugins"] == trees["stock lark"], "the plugins changed the AST"
    print(f"parse of a written-out {args.layers:,}-layer spec, {args.rounds} rounds alternating")
    print(f"{'parser':<12} {'best s':>8} {'median s':>9}")
    for name, ts in times.items():
        print(f"{name:<12} {min(ts):8.3f} {statistics.median(ts):9.3f}")
    ratio = statistics.median(times["stock lark"]) / statistics.median(times["plugins"])
    print(f"plugins {ratio:.2f}x as fast as stock lark (medians)")


if __name__ == "__main__":
    main()
