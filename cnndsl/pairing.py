"""Pair two state_dicts entry by entry through their module trees, not their order.

Keys and shapes only (no torch): ``transfer_weights`` falls back on this
when pairing the two ``state_dict`` sequences position by position fails.

A *unit* is what travels as one: a layer's entries (every entry of a
module with no submodules holding entries: a conv's weight and bias, a
batch norm's five), or one bare parameter or buffer that a module holds
next to its submodules (ConvNeXt's layer scale). A unit's signature is the
tuple of its entries' shapes; names never count. The key prefixes make a
tree, and ``match`` walks both trees at once, from the roots down:

- two lists of items (subtrees) whose concatenated signatures agree pair
  in order, unit by unit;
- otherwise both lists are cut wherever the units seen so far on the two
  sides are equal as multisets. A stretch between two cuts holds the same
  units on both sides, perhaps reordered (a concat's paths registered in
  another order, a scale registered first here and last there), and the
  stretches pair in order: order decides wherever it can. After a
  difference (a layer only one side has) the last stretch never balances;
- in a stretch, items pair with the item of identical content on the other
  side, then with one of the same units grouped otherwise (whose children
  are then matched); an item bigger than everything on the other side is
  opened (its children replace it) and the stretch matched again; at the
  same granularity what one side has more of pairs in order (difflib), and
  the rest is opened. So matches never leave the stretch: that is how the
  trees restrict matches to corresponding parents;
- identical items in a stretch (twins) keep their relative order when they
  are siblings on each side and every longest in-order chain of the
  stretch holds them; any other twin could be either of two candidates, and
  is refused, naming both;
- layers of one module keep their order: plain layers with the same parent
  on each side that would pair across each other are refused, since the
  layers inside one module are registered in their order of use everywhere
  (what differs between libraries is where submodules and bare parameters
  go).

Each unit takes part in a bounded number of matches per tree level, so the
work is about linear in the number of entries times the tree depth
(75,000 entries: about a second).

>>> a = [("layer_scale", (4, 1, 1)), ("block.0.weight", (4, 1, 7, 7)), ("block.0.bias", (4,))]
>>> b = [("conv.weight", (4, 1, 7, 7)), ("conv.bias", (4,)), ("scale.gamma", (4, 1, 1))]
>>> pair_by_structure(a, b).pairs
[(0, 2), (1, 0), (2, 1)]
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import chain


@dataclass
class Pairing:
    """``pairs`` are (source index, destination index); ``problems`` say why some did not."""
    pairs: list[tuple[int, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class _Node:
    """A module (it has children) or a unit (it has entries)."""
    __slots__ = ("name", "parent", "children", "entries", "bare", "units", "flat",
                 "content", "bag")

    def __init__(self, name: str, parent: _Node | None, bare: bool = False):
        self.name, self.parent, self.bare = name, parent, bare
        self.children: list[_Node] = []
        self.entries: list[int] = []
        self.units: list[_Node] = []
        self.flat: tuple[int, ...] = ()
        self.content = self.bag = None  # ids, interned on demand
        if parent is not None:
            parent.children.append(self)


def _tree(keys: Sequence[str], shapes: Sequence[tuple], sigs: dict) -> _Node | None:
    owners = [k.rpartition(".")[0] for k in keys]
    has_children = set()  # modules with entries further down: their own entries are bare
    for owner in set(owners):
        while owner:
            owner = owner.rpartition(".")[0]
            if owner in has_children:
                break
            has_children.add(owner)
    modules: dict[str, _Node] = {}

    def module(name: str) -> _Node:
        if name not in modules:
            modules[name] = _Node(name, module(name.rpartition(".")[0]) if name else None)
        return modules[name]

    layers: dict[str, _Node] = {}
    for i, (key, owner) in enumerate(zip(keys, owners)):
        if owner in has_children:
            unit = _Node(key, module(owner), bare=True)
        elif owner in layers:
            unit = layers[owner]
        else:
            unit = layers[owner] = _Node(owner, module(owner.rpartition(".")[0]) if owner else None)
        unit.entries.append(i)
    root = modules.get("") or layers.get("")
    if root is None:
        return None
    order, stack = [], [root]
    while stack:  # children before parents, without recursion
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    for node in reversed(order):
        if node.children:
            node.units = [u for c in node.children for u in c.units]
        else:
            node.units = [node]
            signature = tuple(tuple(shapes[i]) for i in node.entries)
            node.flat = (sigs.setdefault(signature, len(sigs)),)
    for node in reversed(order):
        if node.children:
            node.flat = tuple(chain.from_iterable(u.flat for u in node.units))
    return root


def _quote(node: _Node) -> str:
    return repr(node.name) if node.name else "(the whole module)"


def _flat(items: list[_Node]) -> tuple[int, ...]:
    return tuple(chain.from_iterable(n.flat for n in items))


def _open(a: list[_Node], b: list[_Node], wider_only: bool):
    """Both lists with items replaced by their children, or None if none opens.

    With ``wider_only`` only the items bigger than everything on the other
    side open (one coarse module against its parts): the finer side keeps
    the grouping that can still pair whole."""
    if wider_only:
        size_a, size_b = (max(len(n.flat) for n in side) for side in (a, b))
        opens = [[bool(n.children) and len(n.flat) > other for n in side]
                 for side, other in ((a, size_b), (b, size_a))]
    else:
        opens = [[bool(n.children) for n in side] for side in (a, b)]
    if not any(chain(*opens)):
        return None
    return tuple([c for n, go in zip(side, flags) for c in (n.children if go else [n])]
                 for side, flags in zip((a, b), opens))


def _segments(a: list[_Node], b: list[_Node]):
    """Cut both lists where the units so far are equal multisets: (a part, b part).

    Taking the next item from the side with fewer units reaches every such
    cut (neither side can step past one), so the regions are the smallest."""
    diff: Counter = Counter()
    i = j = start_i = start_j = n_a = n_b = 0
    while i < len(a) or j < len(b):
        if i < len(a) and (n_a <= n_b or j == len(b)):
            node, sign, i = a[i], 1, i + 1
            n_a += len(node.flat)
        else:
            node, sign, j = b[j], -1, j + 1
            n_b += len(node.flat)
        for s in node.flat:
            diff[s] += sign
            if not diff[s]:
                del diff[s]
        if not diff:
            yield a[start_i:i], b[start_j:j]
            start_i, start_j = i, j
    if start_i < len(a) or start_j < len(b):
        yield a[start_i:], b[start_j:]  # never balances: one side has units the other lacks


def _fixed(seq: list[int]) -> list[bool]:
    """For each position: is it in every longest increasing subsequence of ``seq``?"""
    def ending(values):
        tails, out = [], []
        for v in values:
            k = bisect.bisect_left(tails, v)
            tails[k:k + 1] = [v]
            out.append(k + 1)
        return out
    f = ending(seq)
    g = ending([-v for v in reversed(seq)])[::-1]
    longest = max(f, default=0)
    on_one = [x + y - 1 == longest for x, y in zip(f, g)]
    level = Counter(x for x, on in zip(f, on_one) if on)
    return [on and level[x] == 1 for x, on in zip(f, on_one)]


class _Matcher:
    def __init__(self):
        self.pairs: list[tuple[_Node, _Node]] = []
        self.problems: list[str] = []
        self._ids: dict = {}

    def _content(self, n: _Node) -> int:
        if n.content is None:
            n.content = self._ids.setdefault(("content", n.flat), len(self._ids))
        return n.content

    def _bag(self, n: _Node) -> int:
        if n.bag is None:
            n.bag = self._ids.setdefault(("bag", tuple(sorted(Counter(n.flat).items()))),
                                         len(self._ids))
        return n.bag

    def _in_order(self, a: list[_Node], b: list[_Node]) -> None:
        self.pairs.extend(zip((u for n in a for u in n.units), (u for n in b for u in n.units)))

    def match(self, a: list[_Node], b: list[_Node]) -> None:
        if not a or not b:
            return
        if _flat(a) == _flat(b):
            self._in_order(a, b)
            return
        for part_a, part_b in _segments(a, b):
            self._stretch(part_a, part_b)

    def _stretch(self, a: list[_Node], b: list[_Node]) -> None:
        """Items between two cuts: pair the whole ones, then look one level down."""
        if not a or not b:
            return
        if len(a) == len(b) == 1 and (a[0].children or b[0].children):
            self.match(a[0].children or a, b[0].children or b)
            return
        if _flat(a) == _flat(b):
            self._in_order(a, b)
            return
        for key, pair in ((self._content, self._in_order), (self._bag, self.match)):
            a, b = self._pair_by(key, pair, a, b)
            if not a or not b:
                return
        opened = _open(a, b, wider_only=True)
        if opened is None:  # the same granularity: what one side has more of pairs in order
            a, b = self._in_order_by_content(a, b)
            opened = _open(a, b, wider_only=False) if a and b else None
        if opened:
            self.match(*opened)

    def _pair_by(self, key, pair, a: list[_Node], b: list[_Node]):
        """``pair`` the items with equal ``key``; return the rest (still in order)."""
        group_a, group_b = defaultdict(list), defaultdict(list)
        for n in a:
            group_a[key(n)].append(n)
        for n in b:
            group_b[key(n)].append(n)
        even = {k for k, items in group_a.items() if len(items) == len(group_b.get(k, ()))}
        candidates = [(x, y) for k in even for x, y in zip(group_a[k], group_b[k])]
        where_a = {id(n): i for i, n in enumerate(a)}
        where_b = {id(n): i for i, n in enumerate(b)}
        candidates.sort(key=lambda p: where_a[id(p[0])])
        fixed = _fixed([where_b[id(y)] for _, y in candidates])
        refused = set()
        for (x, y), is_fixed in zip(candidates, fixed):
            k = key(x)
            twins_a, twins_b = group_a[k], group_b[k]
            if len(twins_a) < 2 or k in refused:
                continue
            siblings = len({id(n.parent) for n in twins_a}) == 1 == \
                len({id(n.parent) for n in twins_b})
            if not (is_fixed and siblings):
                refused.add(k)
                other = twins_b[1] if y is twins_b[0] else twins_b[0]
                self.problems.append(f"source {_quote(x)} fits destination {_quote(y)} and "
                                     f"{_quote(other)} equally")
        for x, y in candidates:
            if key(x) not in refused:
                pair([x], [y])
        return ([n for n in a if key(n) not in even], [n for n in b if key(n) not in even])

    def _in_order_by_content(self, a: list[_Node], b: list[_Node]):
        """Pair identical items that the other side has a different number of (a block
        more or less) in order (difflib); return the rest."""
        opcodes = SequenceMatcher(None, [self._content(n) for n in a],
                                  [self._content(n) for n in b], autojunk=False).get_opcodes()
        rest_a, rest_b = [], []
        for tag, i1, i2, j1, j2 in opcodes:
            if tag == "equal":
                self._in_order(a[i1:i2], b[j1:j2])
            else:
                rest_a += a[i1:i2]
                rest_b += b[j1:j2]
        return rest_a, rest_b

    def check_layer_order(self) -> None:
        """Drop pairs of plain layers of one module that cross the other side's order."""
        groups = defaultdict(list)
        for x, y in self.pairs:
            if not (x.bare or x.children or y.bare or y.children):
                groups[id(x.parent), id(y.parent)].append((x, y))
        dropped = set()
        for pairs in groups.values():
            pairs.sort(key=lambda p: p[0].entries[0])
            for (x1, y1), (x2, y2) in zip(pairs, pairs[1:]):
                if y2.entries[0] < y1.entries[0]:
                    if not dropped:
                        self.problems.append(
                            f"source layers {_quote(x1)} then {_quote(x2)} fit destination "
                            f"layers {_quote(y1)} and {_quote(y2)}, registered the other way "
                            f"round (the layers of one module keep their order)")
                    dropped.update(id(p[0]) for p in pairs)
                    break
        self.pairs = [(x, y) for x, y in self.pairs if id(x) not in dropped]


def pair_by_structure(source: Sequence[tuple[str, tuple]],
                      destination: Sequence[tuple[str, tuple]]) -> Pairing:
    """Pair ``[(key, shape), ...]`` lists by module structure and shape (see the module doc).

    Deterministic; entries in no pair are simply absent from ``pairs``."""
    sigs: dict = {}
    roots = [_tree([k for k, _ in side], [s for _, s in side], sigs)
             for side in (source, destination)]
    matcher = _Matcher()
    if None not in roots:
        matcher.match([roots[0]], [roots[1]])
    matcher.check_layer_order()
    pairs = sorted((i, j) for x, y in matcher.pairs for i, j in zip(x.entries, y.entries))
    return Pairing(pairs, matcher.problems)
