"""The kinds of links a diagram tells apart, from the graph alone.

- residual shortcuts: a merge whose output has the shape of every input is
  a sum (He et al., 2016: y = F(x) + x), and its paths shorter than the
  longest are shortcuts;
- skips: paths of a merge that start from an earlier tensor than the one
  the merge follows (`path { from x ... }`, U-Net's copy and crop);
- tensor arguments (`crop(to=x)`): inputs an op reads only for their size;
- :func:`levels`: per box, how many skips span it, so that a skip's two
  ends share a row and a U-Net reads as a U.
"""

from __future__ import annotations

from ..ops.base import TensorRef


class Links:
    """``shortcuts`` and ``skips`` (graph edges (u, v)), ``sizes`` (layer -> {input
    index: argument name}) and ``paths(m)`` of a layer graph."""

    def __init__(self, graph):
        self.g = graph
        self._paths: dict[str, list[list]] = {}
        self._by_scope: dict | None = None
        self.shortcuts = self._shortcuts()
        self.sizes = self._size_arguments()
        self.skips = self._skips()

    def _scope_of(self, v) -> tuple:
        return tuple(self.g.nodes[v].get("scope", ()))

    def paths(self, m) -> list[list]:
        """Per input of merge ``m``: the nodes of its path, in order (empty: the identity)."""
        if m not in self._paths:
            scope = self._scope_of(m)
            depth, out = len(scope), []
            for i in self.g.nodes[m]["inputs"]:
                inner = self._scope_of(i) if i is not None else ()
                if len(inner) > depth and inner[:depth] == scope:
                    out.append(self._members()[inner[: depth + 1]])
                else:
                    out.append([])
            self._paths[m] = out
        return self._paths[m]

    def _members(self) -> dict:
        """Scope prefix -> its nodes in spec order; built once (one walk, not one per merge)."""
        if self._by_scope is None:
            self._by_scope = {}
            for v in self.g.nodes:
                scope = self._scope_of(v)
                for k in range(1, len(scope) + 1):
                    self._by_scope.setdefault(scope[:k], []).append(v)
        return self._by_scope

    def _shortcuts(self) -> set:
        """Graph edges (u, v) on residual shortcut paths, identity or projection.

        Concatenations change the channel count, so Inception paths never
        qualify.
        """
        g, edges = self.g, set()
        for m, data in g.nodes(data=True):
            ins = data["inputs"]
            if not data["op"].many_inputs or len(ins) < 2 or data["shape"] is None:
                continue
            if any(i is None or g.nodes[i]["shape"] != data["shape"] for i in ins):
                continue
            paths = self.paths(m)
            longest = max(len(p) for p in paths)
            for i, path in zip(ins, paths):
                if len(path) < longest:
                    edges.add((i, m))
                    for v in path:
                        edges.update((u, v) for u in g.nodes[v]["inputs"] if u is not None)
        return edges

    def _size_arguments(self) -> dict:
        """Layer -> {input index: argument name} of its tensor arguments (`crop(to=x)`),
        the inputs the op reads only for their size."""
        out: dict = {}
        for v, data in self.g.nodes(data=True):
            args = data.get("args") or {}
            for a in data["op"].args:
                kind = getattr(a.type, "inner", a.type)  # OrNone(TensorRef()) too
                if isinstance(kind, TensorRef) and isinstance(args.get(a.name), int):
                    out.setdefault(v, {})[args[a.name]] = a.name
        return out

    def _skips(self) -> set:
        """Graph edges (u, v) that skip: into the first layer of a merge's path (or into
        the merge, for a path with no layer) from a tensor earlier than another path's
        start, the tensor the merge follows: `path { from x ... }` (U-Net's copy and
        crop). Paths that all start where the merge does (Inception, residual
        shortcuts) have none."""
        g, out = self.g, set()
        order = {v: i for i, v in enumerate(g.nodes)}
        for m, data in g.nodes(data=True):
            ins = data["inputs"]
            if not data["op"].many_inputs or len(ins) < 2 or None in ins:
                continue
            starts = []
            for i, path in zip(ins, self.paths(m)):
                head = path[0] if path else m
                start = g.nodes[head]["inputs"][0] if path else i
                if start is None:
                    break
                starts.append((start, head))
            else:
                flow = max((s for s, _ in starts), key=order.__getitem__)
                out.update((s, head) for s, head in starts if s != flow)
        return out


def levels(order: list, edges: list) -> dict:
    """Box -> how many skips span it (lie strictly between their ends, in spec
    order); empty where nothing is skipped. A U-Net's contracting path goes one
    level down per skip it enters, its expanding path one up per skip it leaves,
    and each skip's two ends share a level."""
    pos = {k: i for i, k in enumerate(order)}
    diff = [0] * (len(pos) + 1)
    for e in edges:
        if e.skip and pos[e.tail] + 1 < pos[e.head]:
            diff[pos[e.tail] + 1] += 1
            diff[pos[e.head]] -= 1
    if not any(diff):
        return {}
    out, level = {}, 0
    for k, i in pos.items():
        level += diff[i]
        out[k] = level
    return out
