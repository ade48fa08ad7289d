"""AST to graph: expand blocks, loops and parameters into a networkx DiGraph.

One node per layer instance, named by its dotted path through stages,
block calls and paths (``b3.inception_1.path_2.conv_1``). Each node
carries its op, bound arguments, input node ids (in order), output shape,
source span, scope and the chain of block calls that produced it.

Shapes are inferred here, node by node, because the language lets a
statement read the shape flowing into it (``if in.channels != c { ... }``). Errors
do not stop the walk: the failing tensor is *poisoned* (shape None) and
everything downstream of it stays quiet, so independent errors are all
reported in one run.

The names a spec gives (`stage`, `path`, `as`, `output`) are taken and
checked in :mod:`cnndsl.naming`.
"""

from __future__ import annotations

import contextvars
import keyword

from collections import Counter
from dataclasses import dataclass, field

import networkx as nx

from . import nodes as n
from .diagnostics import CnnError, Diagnostic, Sources, Span, suggest
from .blocks import call_label, call_values, collect_blocks, recursion_errors, shortened
from .expressions import (POISON, EvalError, Meter, Poisoned, ShapeValue, evaluate, length,
                          plain_value, show_value)
from .naming import Naming
from .ops import INPUT, NAMES, ArgError, Op, ShapeError
from .ops.base import TensorName, fmt_shape

DEFAULT_MAX_NODES = 1_000_000
MAX_DEPTH = 100  # nested block calls, stages and paths
MAX_ERRORS = 100  # distinct errors reported before elaboration stops
CALL_WIDTH = 100  # a block call's text in notes (the longest in specs/ is 57)


class _Fatal(Exception):
    """A limit was hit: stop at once, reporting what was found so far."""


@dataclass
class Scope:
    """A level of the module hierarchy: stage, block call or path."""

    path: tuple[str, ...]
    kinds: tuple[tuple[str, str, str], ...]  # ((kind, name, label), ...): stage/block/path
    used: set = field(default_factory=set)
    counters: Counter = field(default_factory=Counter)
    # Names given with `stage`, `path` or `as`: where, and in which loop turns
    # (for E0210 to tell a loop that repeats a name from two statements).
    origins: dict = field(default_factory=dict)
    prefix: str = field(init=False, repr=False)  # of its nodes' ids: `b3.inception_1.`

    def __post_init__(self):
        self.prefix = "".join(p + "." for p in self.path)

    def child(self, kind: str, name: str, label: str = "") -> "Scope":
        return Scope(self.path + (name,), self.kinds + ((kind, name, label or kind),))

    def fresh(self, base: str) -> str:
        """The next free `base_N` in this scope."""
        count = self.counters[base]
        while True:
            count += 1
            name = f"{base}_{count}"
            if name not in self.used:
                self.counters[base] = count
                self.used.add(name)
                return name


@dataclass
class Frame:
    """A block invocation: its variables, named tensors and call chain."""

    env: dict
    tensors: dict
    chain: tuple[str, ...]  # notes naming each enclosing call, innermost first
    blocks: tuple[str, ...]  # names of the active block calls (recursion guard)


class Elaborator(Naming):
    def __init__(self, program: n.Program, sources: Sources, overrides: dict | None = None,
                 input_shape: tuple | None = None, max_nodes: int = DEFAULT_MAX_NODES):
        self.program = program
        self.sources = sources
        self.overrides = dict(overrides or {})
        self.input_override = input_shape
        self.max_nodes = max_nodes
        self.graph = nx.DiGraph()
        self.diagnostics: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []  # found while expanding (W0305)
        self.reported: dict = {}  # an error's text -> [its index, the other call chains]
        self.blocks: dict[str, n.Block] = {}
        self.steps = 0
        self.max_steps = 10 * max_nodes + 10_000
        # Items of the values expressions build and compare, counted as steps:
        # a loop over `u = t + ()` with a large `t` is costly though short.
        self.meter = Meter()
        # The loops being expanded, outermost first: [statement, turn] each.
        self.turns: list[list] = []
        # `output` statements: (name, node, training, span) in the order they ran,
        # their names unique in the whole network.
        self.outputs: list[tuple] = []
        self.output_names = Scope((), ())
        self.handlers: dict = {}  # statement class -> its method, unbound (see _body)
        self.shapes: dict = {}  # each output shape, once (see _add_node)
        # The layers found so far (node -> its data, in spec order): the graph gets
        # them, and their inputs as its edges, at once (see _finished).
        self.nodes: dict = {}

    # --------------------------------------------------------------- driver
    def run(self) -> nx.DiGraph:
        p = self.program
        self.blocks, found = collect_blocks(p)
        self.diagnostics += found
        env = self._network_params()
        g = self.graph
        g.graph.update(name=p.name, settings=dict(env), file=p.span.file)
        shape = self._input_shape(env)
        g.graph["input"] = shape
        if not self.diagnostics:
            self.diagnostics += recursion_errors(self.blocks)
        if self.diagnostics:
            raise self._failure()
        self.nodes["input"] = {"op": INPUT, "args": {"shape": shape}, "inputs": [],
                               "shape": shape, "span": p.input_span, "scope": (), "chain": (),
                               "name": "input"}
        frame = Frame(env, {}, (), ())
        try:
            out = self._body(p.body, "input", Scope((), (), used={"input"}), frame, 0)
        except _Fatal:
            out = None
        g.graph["output"], g.graph["outputs"] = self._outputs(out)
        g.graph["warnings"] = self.warnings
        if any(d.severity == "error" for d in self.diagnostics):
            raise self._failure()
        return self._finished()

    def _finished(self) -> nx.DiGraph:
        """The graph, with the layers found."""
        add_layers(self.graph, self.nodes)
        self.nodes = {}
        return self.graph

    def _outputs(self, last):
        """The main output node and the declared outputs, (name, node, training) each.

        Without `output` statements the network has one output, its last tensor.
        Otherwise the main one is the first output of both modes; outputs of
        training mode alone (aux classifiers) need one such.
        """
        declared = [(name, node, training) for name, node, training, _ in self.outputs]
        if not self.outputs:
            return last, []
        main = next((node for _, node, training in declared if not training), None)
        if main is None:
            self._error("E0215", "every output is `(training)`: the network has no output in "
                        "eval mode", self.outputs[0][3],
                        help="declare the main output with `output NAME` (without `(training)`)")
            return last, declared
        if any(training for _, _, training in declared):
            for name, _, _, span in self.outputs:
                if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
                    self._error("E0206", f"output `{name}` cannot be a field of the training-mode "
                                "namedtuple", span, help="with `(training)` outputs, name every "
                                "output with a Python identifier not starting with `_`")
        return main, declared

    def _failure(self) -> CnnError:
        """The error to raise; it carries the graph built so far (for `draw --partial`)."""
        self._count_repeats()
        err = CnnError(self.diagnostics, self.sources)
        err.graph = self._finished()  # poisoned nodes have shape None
        return err

    def _error(self, code, message, span, label="", help="", notes=(), frame=None):
        chain = shortened(frame.chain) if frame else ()
        d = Diagnostic(code, message, span, label, tuple(notes) + chain, help)
        # A loop or a block called many times repeats its errors word for
        # word: report each once, at its first call, counting the others.
        key = (code, message, span, label, tuple(notes), help)
        if key not in self.reported:
            self.reported[key] = [len(self.diagnostics), set()]
            self.diagnostics.append(d)
        elif chain and chain != self.diagnostics[self.reported[key][0]].notes[len(notes):]:
            self.reported[key][1].add(chain)

    def _count_repeats(self) -> None:
        """Add to each error that other block calls repeated how many calls did."""
        for index, chains in self.reported.values():
            if chains:
                k = len(chains)
                self.diagnostics[index] = self.diagnostics[index].with_notes(
                    f"the same error comes from {k} other call{'s' if k != 1 else ''}")

    def _network_params(self) -> dict:
        env = {}
        declared = {prm.name: prm for prm in self.program.params}
        for name in self.overrides:
            if name not in declared:
                hint = suggest(name, declared)
                self._error("E0212", f"{setting(name)}: network `{self.program.name}` has no "
                            f"parameter `{name}`",
                            None,
                            help=hint or ("its parameters: " + ", ".join(declared)
                                          if declared else "it declares no parameters"))
        for prm in self.program.params:
            if prm.name in self.overrides:
                env[prm.name] = self.overrides[prm.name]
                problem = plain_value(env[prm.name])
                if problem:
                    self._error("E0206", f"{setting(prm.name)}: {problem}", prm.span,
                                "the parameter declared here")
                    env[prm.name] = POISON
            elif prm.default is None:
                self._error("E0213", f"network parameter `{prm.name}` has no value", prm.span,
                            help=f"give it a default or pass {setting(prm.name, '...')}")
                env[prm.name] = POISON
            else:
                env[prm.name] = self._eval(prm.default, env, None, None)
        return env

    def _input_shape(self, env) -> tuple | None:
        p = self.program
        if self.input_override is not None:
            shape = tuple(self.input_override)
        else:
            shape = tuple(self._eval(e, env, None, None) for e in p.input)
            if any(v is POISON for v in shape):
                return None
        if len(shape) not in (1, 3) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
            self._error("E0214", "the input must be [channels, height, width] or [features] "
                        "with positive integers", p.input_span,
                        "this is [" + ", ".join(show_value(d, 20) for d in shape[:4])
                        + (", ...]" if len(shape) > 4 else "]"))
            return None
        return shape

    # ----------------------------------------------------------- evaluation
    def _eval(self, e, env, frame: Frame | None, cur):
        """Evaluate, with `in` the tensor ``cur``; errors become diagnostics, POISON."""
        if type(e) is n.Const:  # most arguments are literals: no `in`, no work to meter
            return e.value
        # The header (network parameters, input) has no tensor flowing in:
        # `in` there is an error, not an unknown (poisoned) shape.
        shape_in = None if frame is None else ShapeValue(self.nodes[cur]["shape"] if cur else None)
        before = self.meter.work
        try:
            return evaluate(e, env, shape_in, self.meter)
        except EvalError as err:
            d = err.diagnostic
            self._error(d.code, d.message, d.span, d.label, d.help, frame=frame)
        except Poisoned:
            pass
        finally:
            self.steps += self.meter.work - before
        return POISON

    # ------------------------------------------------------------ statements
    def _body(self, body, cur, scope: Scope, frame: Frame, depth: int):
        handlers = self.handlers
        for stmt in body:
            if len(self.diagnostics) >= MAX_ERRORS:
                last = self.diagnostics[-1]
                self.diagnostics[-1] = last.with_notes(f"stopped after {MAX_ERRORS} errors")
                raise _Fatal()
            self.steps += 1
            if self.steps > self.max_steps:
                self._error("E0402", f"the spec takes more than {self.max_steps:,} steps to "
                            "expand", stmt.span, help="raise --max-nodes if this is intended",
                            frame=frame)
                raise _Fatal()
            handler = handlers.get(type(stmt))
            if handler is None:  # `_layer` for n.Layer, looked up once per class
                handler = handlers[type(stmt)] = getattr(
                    type(self), "_" + type(stmt).__name__.lower())
            cur = handler(self, stmt, cur, scope, frame, depth)
        return cur

    def _assign(self, s: n.Assign, cur, scope, frame, depth):
        frame.env[s.name] = self._eval(s.value, frame.env, frame, cur)
        return cur

    def _bind(self, s: n.Bind, cur, scope, frame, depth):
        frame.tensors[s.name] = cur
        return cur

    def _output(self, s: n.Output, cur, scope, frame, depth):
        name = self._declare(s.name, "output", s.span, self.output_names, frame, cur)
        if name is not None and cur is not None:
            self.outputs.append((name, cur, s.training, s.span))
        return cur

    def _from(self, s: n.From, cur, scope, frame, depth):
        passed = frame.env.get(s.name)
        if isinstance(passed, TensorName):  # a block parameter bound to a tensor: `up(skip=x)`
            return passed.node
        if s.name not in frame.tensors:
            self._error("E0211", f"no tensor named `{s.name}`", s.span,
                        help=suggest(s.name, frame.tensors) or "name a tensor with `-> name` first",
                        frame=frame)
            return None
        return frame.tensors[s.name]

    def _stage(self, s: n.Stage, cur, scope, frame, depth):
        name = self._declare(s.name, "stage", s.span, scope, frame, cur)
        if name is None:
            return None
        self._check_depth(depth, s.span, frame)
        return self._body(s.body, cur, scope.child("stage", name), frame, depth + 1)

    def _repeat(self, s: n.Repeat, cur, scope, frame, depth):
        count = self._eval(s.count, frame.env, frame, cur)
        if count is POISON:
            return None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            self._error("E0206", "`repeat` needs a non-negative integer", s.count.span,
                        f"this is {show_value(count)}", frame=frame)
            return None
        return self._loop(s, range(count), None, cur, scope, frame, depth)

    def _for(self, s: n.For, cur, scope, frame, depth):
        items = self._eval(s.iterable, frame.env, frame, cur)
        if items is POISON:
            return None
        if not isinstance(items, (tuple, range)):
            self._error("E0206", "`for` needs a list, a tuple or a range", s.iterable.span,
                        frame=frame)
            return None
        return self._loop(s, items, s.targets, cur, scope, frame, depth)

    def _loop(self, s, items, targets, cur, scope, frame, depth):
        self._check_depth(depth, s.span, frame)
        turn = [s, 0]
        self.turns.append(turn)
        try:
            return self._turns(s, items, targets, cur, scope, frame, depth, turn)
        finally:
            self.turns.pop()

    def _turns(self, s, items, targets, cur, scope, frame, depth, turn):
        before, steps, errors = len(self.nodes), self.steps, len(self.diagnostics)
        count = length(items)  # a range may be longer than len() can say
        for i, item in enumerate(items):
            turn[1] = i
            if targets is not None and not self._unpack(s, item, frame):
                return None
            cur = self._body(s.body, cur, scope, frame, depth + 1)
            if cur is None and len(self.diagnostics) > errors:
                # The loop failed and poisoned its tensor: later turns would
                # only say the same again, after as much work as the limits allow.
                return None
            if i == 0:
                # Refuse a loop that would blow a limit after its first turn,
                # before doing the rest: `repeat 1000000000 { relu }` is
                # answered at once.
                projected = before + (len(self.nodes) - before) * count
                if projected > self.max_nodes:
                    self._error("E0401", f"this loop would expand to about {projected:,} layers, "
                                f"more than the limit of {self.max_nodes:,}", s.span,
                                help="raise the limit with --max-nodes", frame=frame)
                    raise _Fatal()
                if steps + (self.steps - steps + 1) * count > self.max_steps:
                    self._error("E0402", f"this loop would take about "
                                f"{(self.steps - steps + 1) * count:,} steps to expand, more "
                                f"than the limit of {self.max_steps:,}", s.span,
                                help="raise the limit with --max-nodes", frame=frame)
                    raise _Fatal()
        return cur

    def _unpack(self, s: n.For, item, frame) -> bool:
        if not s.unpack:
            frame.env[s.targets[0]] = item
            return True
        if not isinstance(item, tuple) or len(item) != len(s.targets):
            self._error("E0206", f"cannot unpack {show_value(item)} into {len(s.targets)} names",
                        s.iterable.span, frame=frame)
            return False
        frame.env.update(zip(s.targets, item))
        return True

    def _if(self, s: n.If, cur, scope, frame, depth):
        cond = self._eval(s.condition, frame.env, frame, cur)
        if cond is POISON:
            return None
        if not isinstance(cond, bool):
            self._error("E0206", "`if` needs a boolean condition", s.condition.span,
                        f"this is a {type(cond).__name__}", frame=frame)
            return None
        self._check_depth(depth, s.span, frame)
        return self._body(s.then if cond else s.orelse, cur, scope, frame, depth + 1)

    def _merge(self, s: n.Merge, cur, scope, frame, depth):
        self._check_depth(depth, s.span, frame)
        op = NAMES.get(s.kind)
        if op is None or not op.many_inputs:
            kinds = sorted(k for k, v in NAMES.items() if v.many_inputs)
            where = Span(s.span.file, s.span.line, s.span.column, s.span.line,
                         s.span.column + len(s.kind))
            self._error("E0201", f"unknown merge `{s.kind}`", where, frame=frame,
                        help=suggest(s.kind, kinds) or "the merges are " +
                        ", ".join(f"`{k}`" for k in kinds[:-1]) + f" and `{kinds[-1]}`")
            return None
        ends = []
        for path in s.paths:
            if path.name is not None:
                name = self._declare(path.name, "path", path.span, scope, frame, cur)
                if name is None:
                    return None
            else:
                name = scope.fresh("path")
            ends.append(self._body(path.body, cur, scope.child("path", name), frame, depth + 1))
        return self._add_node(op, {}, ends, s.span, scope, frame, scope.fresh(s.kind),
                              paths=s.paths)

    def _layer(self, s: n.Layer, cur, scope, frame, depth):
        if s.name in self.blocks:
            return self._call_block(s, cur, scope, frame, depth)
        op = NAMES.get(s.name)
        if op is None or op.many_inputs:
            candidates = [k for k, v in NAMES.items() if not v.many_inputs] + list(self.blocks)
            self._error("E0201", f"unknown layer `{s.name}`", s.name_span,
                        help=suggest(s.name, candidates), frame=frame)
            return None
        positional, keywords = self._args(s, frame, cur) if s.args else ([], {})
        if positional is None:
            return None
        habit = None  # (misread reads positional arguments: most layers have none)
        if positional:
            habit = op.misread(positional, keywords,
                               [None if cur is None else self.nodes[cur]["shape"]])
        try:
            args = op.bind(positional, keywords)
        except ArgError as err:
            self._error(err.code, err.message, self._arg_span(s, err.arg),
                        help=habit or err.help, frame=frame)
            return None
        if habit is not None:  # it binds, but likely not as meant: say so, once per statement
            key = ("W0305", s.span)
            if key not in self.reported:
                self.reported[key] = [len(self.warnings), set()]
                self.warnings.append(Diagnostic(
                    "W0305", f"`{s.name}` reads its arguments in cnndsl's order, not PyTorch's",
                    s.span, help=habit, notes=shortened(frame.chain), severity="warning"))
        name = self._local_name(s, scope, op.name, frame, cur)
        if name is None:
            return None
        inputs = [cur]
        if TensorName in map(type, args.values()):  # extra inputs, bound to their index
            for key, value in args.items():
                if type(value) is TensorName:
                    args[key] = len(inputs)
                    inputs.append(value.node)
        node = self._add_node(op, args, inputs, s.span, scope, frame, name)
        if node is not None and frame.blocks:
            names = self._parameter_names(s, op, frame.blocks[-1])
            if names:
                self.nodes[node]["from_parameters"] = names
        return node

    def _parameter_names(self, s: n.Layer, op, block: str) -> dict:
        """{argument: the parameter of ``block`` it reads, as a name}: `conv(c2[0])`
        gives {"channels": "c2_0"}. Compiled classes name their constructor's
        arguments after them, as the spec does."""
        params = {p.name for p in self.blocks[block].params}
        found = {}
        for k, a in enumerate(s.args):
            v = a.value
            if type(v) is n.Var:
                param, name = v.name, v.name
            elif type(v) is n.Index and type(v.target) is n.Var and type(v.index) is n.Const \
                    and type(v.index.value) is int and v.index.value >= 0:
                param, name = v.target.name, f"{v.target.name}_{v.index.value}"
            else:
                continue
            if param in params:
                found[op.args[k].name if a.name is None else op.canonical(a.name)] = name
        return found

    def _args(self, s: n.Layer, frame, cur):
        """Evaluate call arguments; (None, None) if any failed or repeats."""
        positional, keywords, ok = [], {}, True
        for a in s.args:
            if type(a.value) is n.Const:  # a literal: most arguments
                v = a.value.value
            else:
                v = self._tensor_name(a.value, frame)
                if v is None:
                    v = self._eval(a.value, frame.env, frame, cur)
            ok &= v is not POISON
            if a.name is None:
                if keywords:
                    self._error("E0205", "a positional argument after keyword arguments", a.span,
                                frame=frame)
                    ok = False
                positional.append(v)
            elif a.name in keywords:
                self._error("E0203", f"argument `{a.name}` of `{s.name}` is given twice", a.span,
                            "given again here", frame=frame)
                ok = False
            else:
                keywords[a.name] = v
        return (positional, keywords) if ok else (None, None)

    def _tensor_name(self, e, frame) -> TensorName | None:
        """A bare name that is a named tensor (`-> x`) or the network's `input`,
        not a variable: the value of a tensor argument (`upsample(to=x)`)."""
        if not isinstance(e, n.Var) or e.name in frame.env:
            return None
        if e.name in frame.tensors:
            node = frame.tensors[e.name]
            return POISON if node is None else TensorName(node, e.name)
        if e.name == "input":
            return TensorName("input", "input")
        return None

    @staticmethod
    def _arg_span(s: n.Layer, which) -> Span:
        if which is None:  # about the call as a whole (a missing argument)
            return s.span
        if isinstance(which, int):
            pos = [a for a in s.args if a.name is None]
            return pos[which].span if which < len(pos) else s.span
        for a in s.args:
            if a.name == which:
                return a.span
        return s.span

    def _call_block(self, s: n.Layer, cur, scope, frame, depth):
        block = self.blocks[s.name]
        positional, keywords = self._args(s, frame, cur)
        if positional is None:
            return None
        names = [prm.name for prm in block.params]
        defined = f"`{block.name}` is defined at {block.name_span}"
        if len(positional) > len(names):
            self._error("E0207", f"block `{block.name}` takes {len(names)} argument"
                        f"{'s' if len(names) != 1 else ''}, got {len(positional) + len(keywords)}",
                        s.span, notes=(defined,), frame=frame)
            return None
        bound = dict(zip(names, positional))
        for key, v in keywords.items():
            if key not in names:
                self._error("E0202", f"block `{block.name}` has no parameter `{key}`",
                            self._arg_span(s, key), help=suggest(key, names), frame=frame)
                return None
            if key in bound:
                self._error("E0203", f"argument `{key}` of `{block.name}` is given twice",
                            self._arg_span(s, key), frame=frame)
                return None
            bound[key] = v
        # Blocks see the network's parameters and their own, never the caller's variables.
        env = dict(self.graph.graph["settings"])
        for prm in block.params:
            if prm.name in bound:
                env[prm.name] = bound[prm.name]
            elif prm.default is None:
                self._error("E0204", f"block `{block.name}` needs argument `{prm.name}`",
                            s.span, notes=(defined,), frame=frame)
                return None
            else:
                env[prm.name] = self._eval(prm.default, env, frame, cur)
        name = self._local_name(s, scope, block.name, frame, cur)
        if name is None:
            return None
        self._check_depth(depth, s.span, frame)
        call = self._text(s.span)  # as written, for notes
        label = call_label(block.name, positional, keywords)  # with values, for displays
        # A call may carry an expression of any length: the note shows its start.
        shown = call if len(call) <= CALL_WIDTH else call[:CALL_WIDTH - 3] + "..."
        note = f"in block `{shown}`{call_values(s, block, env)}, called from {s.span}"
        inner = Frame(env, {}, (note,) + frame.chain, frame.blocks + (block.name,))
        return self._body(block.body, cur, scope.child("block", name, label), inner, depth + 1)

    def _check_depth(self, depth, span, frame):
        if depth >= MAX_DEPTH:
            self._error("E0403", f"blocks, stages, paths, loops and conditionals nest more than "
                        f"{MAX_DEPTH} deep", span, help="expand fewer levels inside each other",
                        frame=frame)
            raise _Fatal()

    def _text(self, span: Span) -> str:
        line = self.sources.line(span.file, span.line) or ""
        end = span.end_column - 1 if span.end_line == span.line else len(line)
        return " ".join(line[span.column - 1:end].split())

    # ----------------------------------------------------------------- nodes
    def _add_node(self, op: Op, args: dict, inputs: list, span, scope: Scope, frame: Frame,
                  local: str, paths=None):
        nodes = self.nodes
        if len(nodes) >= self.max_nodes:
            self._error("E0401", f"the network has more than {self.max_nodes:,} layers", span,
                        help="raise the limit with --max-nodes", frame=frame)
            raise _Fatal()
        node_id = scope.prefix + local
        if len(inputs) == 1 and inputs[0] is not None:  # most layers
            shapes = [nodes[inputs[0]]["shape"]]
        else:  # (a missing input, None, has no shape either)
            shapes = [None if i is None else nodes[i]["shape"] for i in inputs]
        shape = None
        if None not in shapes:
            try:
                shape = op.shape(args, shapes)
            except ShapeError as err:
                where, notes = span, err.notes
                if err.culprit is not None and paths is not None:
                    where = paths[err.culprit].span
                    notes += tuple(f"the path at {paths[i].span} yields {fmt_shape(shapes[i])} "
                                   "too" for i in err.also)
                self._error(err.code, err.message, where, err.label, err.help, notes, frame)
                shape = None
            else:
                if min(shape, default=1) < 1:
                    self._error("E0304", f"`{op.name}` output would be empty "
                                f"({fmt_shape(shape)})", span, f"input is {fmt_shape(shapes[0])}",
                                frame=frame)
                    shape = None
        # Networks repeat their shapes: equal ones are one tuple (the graph is kept whole).
        shape = self.shapes.setdefault(shape, shape)
        nodes[node_id] = {"op": op, "args": args, "inputs": inputs, "shape": shape, "span": span,
                          "scope": scope.kinds, "chain": frame.chain, "name": node_id}
        return node_id if shape is not None else None


def add_layers(graph: nx.DiGraph, nodes: dict) -> None:
    """Add ``nodes`` (node -> its data, which the graph keeps as is), all new to
    ``graph``, and an edge from each of their inputs, as add_node and add_edge
    would one by one.

    Those cost a call and a copy of the data per layer, a quarter of the time
    taken to expand a long spec: this fills the dict-of-dict-of-dict that the
    DiGraph class documents (node -> data; node -> successor, and node ->
    predecessor, -> edge data) directly. tests/test_elaborate.py checks that
    the graph is the one add_node and add_edge build.
    """
    graph._node.update(nodes)
    succ, pred = graph._succ, graph._pred
    for v in nodes:
        succ[v], pred[v] = {}, {}
    for v, data in nodes.items():
        for u in data["inputs"]:
            if u is not None:  # (a poisoned input)
                succ[u][v] = pred[v][u] = {}  # one dict, the edge's data, seen from both ends


# How the user sets a network parameter, for messages: `--set name=...` on
# the command line (cnndsl.cli sets this), `name=...` to cnndsl.load in Python.
SETTING_SYNTAX: contextvars.ContextVar = contextvars.ContextVar("setting", default="python")


def setting(name: str, value: str = "") -> str:
    """`--set name` / `name=` (with a value: `--set name=...` / `name=...`)."""
    text = f"{name}={value}" if value or SETTING_SYNTAX.get() == "python" else name
    return f"`--set {text}`" if SETTING_SYNTAX.get() == "cli" else f"`{text}`"


def elaborate(program: n.Program, sources: Sources, overrides: dict | None = None,
              input_shape: tuple | None = None, max_nodes: int = DEFAULT_MAX_NODES) -> nx.DiGraph:
    """Expand a parsed program into its layer graph, or raise CnnError."""
    return Elaborator(program, sources, overrides, input_shape, max_nodes).run()
