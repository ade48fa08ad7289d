"""Templates to spec text, in the layout of specs/: four-space indents, a new
line at each convolution, linear layer, block call or compound statement,
short compounds on one line."""

from __future__ import annotations

from ..ops.base import NAMES, REQUIRED
from .instances import HEAVY, short
from .unify import Expr, TNode, TOpt

WIDTH = 88
SPELLING = {"batchnorm": "bn"}  # the alias specs/ use


def value(v) -> str:
    if isinstance(v, Expr):
        return v.text
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, float):
        text = repr(v)
        for digits in range(1, 17):  # 0.075, not 0.07500000000000001 (a float sum's last bit)
            short_text = f"{v:.{digits}g}"
            if abs(float(short_text) - v) <= 1e-12 * abs(v):
                text = short_text
                break
        return text if ("." in text or "e" in text or "inf" in text) else text + ".0"
    if isinstance(v, tuple):
        inner = ", ".join(value(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return str(v)


def layer_text(op_name: str, slots: dict) -> str:
    op = NAMES[op_name]
    parts = []
    for i, arg in enumerate(op.args):
        if arg.name not in slots:
            continue
        expr = slots[arg.name]
        if not isinstance(expr, Expr):
            expr = short(expr, arg.type)
            if arg.default is not REQUIRED and arg.default is not None and \
                    short(arg.type(arg.default), arg.type) == expr:
                continue
        text = value(expr)
        if i == 0 and (arg.default is REQUIRED or len(op.args) == 1) and \
                arg.name != "kernel" and not parts:
            parts.append(text)
        else:
            key = min((arg.name, *arg.aliases), key=lambda n: (len(n), n != arg.name))
            parts.append(f"{key}={text}")
    op_name = SPELLING.get(op_name, op_name)
    return op_name + (f"({', '.join(parts)})" if parts else "")


def call_text(name: str, params: list, slots: dict) -> str:
    parts, keyword = [], False
    for p in params:
        expr = slots.get(p.name)
        if p.default is not None and not isinstance(expr, Expr) and expr == p.default:
            keyword = True
            continue
        if p.default is None and not keyword:
            parts.append(value(expr))
        else:
            keyword = True
            parts.append(f"{p.name}={value(expr)}")
    return name + (f"({', '.join(parts)})" if parts else "")


class Writer:
    def __init__(self, blocks: dict):
        self.blocks = blocks  # name -> Template

    def seq(self, body: list, indent: int) -> list:
        """Lines (without indentation) of a sequence."""
        lines, current = [], ""
        for item in body:
            text, compound = self.item(item, indent)
            if compound is not None:
                if current:
                    lines.append(current)
                    current = ""
                lines.extend(compound)
                continue
            heavy = isinstance(item, TNode) and (item.kind == "call" or item.op in HEAVY)
            if current and (heavy or len(current) + 1 + len(text) + indent > WIDTH):
                lines.append(current)
                current = ""
            current = f"{current} {text}" if current else text
        if current:
            lines.append(current)
        return lines

    def item(self, item, indent: int):
        """(text, None) for a one-line statement, or (None, lines)."""
        if isinstance(item, TOpt):
            return None, self.compound(f"if {item.cond}", item.body, indent)
        slots = {n: s.expr for n, s in item.slots.items()}
        if item.kind == "layer":
            text = layer_text(item.op, slots)
            return (f"{text} as {item.name}" if item.name else text), None
        if item.kind == "call":
            text = call_text(item.op, self.blocks[item.op].params, slots)
            return (f"{text} as {item.name}" if item.name else text), None
        if item.kind == "repeat":
            return None, self.compound(f"repeat {value(slots['count'])}", item.children[0],
                                       indent)
        if item.kind == "stage":
            return None, self.compound(f"stage {item.op}", item.children[0], indent)
        # a merge
        lines = [f"{item.op} {{"]
        for path in item.children:
            lines.extend("    " + line for line in self.compound("path", path, indent + 4))
        lines.append("}")
        return None, lines

    def compound(self, head: str, body: list, indent: int) -> list:
        inner = self.seq(body, indent + 4)
        if not inner:
            return [f"{head} {{ }}"]
        joined = "  ".join(inner)
        if (len(inner) == 1 or len(inner) <= 3 and "{" not in joined) and indent + len(head) + len(joined) + 6 <= WIDTH:
            return [f"{head} {{ {joined} }}"]
        return [f"{head} {{", *("    " + line for line in inner), "}"]


def block_text(name: str, template, writer: Writer) -> list:
    params = []
    for p in template.params:
        params.append(p.name if p.default is None else f"{p.name} = {value(p.default)}")
    lines = [f"block {name}({', '.join(params)}) {{"]
    lines.extend("    " + line for line in writer.seq(template.body, 4))
    lines.append("}")
    return lines
