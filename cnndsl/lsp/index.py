"""What the language server knows of a spec's text: names, where they are defined,
blocks with their doc comments, stages, and a class for every token.

Built from the grammar's own parse with every token kept (the formatter's
parser, :func:`cnndsl.fmt._lark`), so it follows the grammar as it grows.
Positions are 0-based (line, column) in code points, end exclusive; the
server converts them to the client's units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lark import Token, Tree

Range = tuple[int, int, int, int]  # line, column, end line, end column (0-based)

KEYWORDS = frozenset({"network", "input", "block", "stage", "repeat", "for", "in", "path", "if",
                      "else", "as", "from", "output", "not", "and", "or", "true", "false"})
TOKEN_TYPES = ["keyword", "function", "class", "parameter", "variable", "number", "string",
               "comment", "operator", "property", "namespace"]
TOKEN_MODIFIERS = ["declaration", "defaultLibrary"]
OPERATORS = frozenset({"->", "+", "-", "*", "/", "//", "%", "**", "=", "==", "!=", "<", "<=",
                       ">", ">="})


def token_range(tok: Token) -> Range:
    return tok.line - 1, tok.column - 1, tok.end_line - 1, tok.end_column - 1


def contains(r: Range, line: int, col: int) -> bool:
    """Whether (line, col) lies in ``r``, its end included (a cursor just after a word)."""
    return (r[0], r[1]) <= (line, col) <= (r[2], r[3])


@dataclass
class Definition:
    kind: str  # "variable", "tensor", "block"
    name: str
    range: Range  # the name where it is defined
    scope: str | None  # the block it belongs to; None at the top level


@dataclass
class Use:
    kind: str  # "variable" (a name in an expression), "tensor" (`from x`), "call" (a layer)
    name: str
    range: Range
    scope: str | None


@dataclass
class BlockInfo:
    name: str
    name_range: Range
    range: Range
    params: list[tuple[str, str | None]]  # name, default as written
    doc: str  # the comment lines right above `block`

    def signature(self) -> str:
        shown = [p if d is None else f"{p} = {d}" for p, d in self.params]
        return f"block {self.name}({', '.join(shown)})"


@dataclass
class Symbol:
    kind: str  # "stage", "block", "network"
    name: str
    range: Range
    name_range: Range
    children: list["Symbol"] = field(default_factory=list)


@dataclass
class Index:
    definitions: list[Definition] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    blocks: dict[str, BlockInfo] = field(default_factory=dict)
    symbols: list[Symbol] = field(default_factory=list)
    # (range, token type, modifiers) in text order, comments included
    tokens: list[tuple[Range, str, tuple[str, ...]]] = field(default_factory=list)

    def use_at(self, line: int, col: int) -> Use | None:
        return next((u for u in self.uses if contains(u.range, line, col)), None)

    def definition_at(self, line: int, col: int) -> Definition | None:
        return next((d for d in self.definitions if contains(d.range, line, col)), None)

    def resolve(self, use: Use) -> Definition | None:
        """Where ``use`` is defined: a block, or the nearest definition of its name in its
        own block before it (after it, in a loop), else at the top level."""
        if use.kind == "call":
            block = self.blocks.get(use.name)
            return None if block is None else Definition("block", block.name,
                                                         block.name_range, None)
        kinds = ("tensor",) if use.kind == "tensor" else ("variable", "tensor")
        for scope in dict.fromkeys((use.scope, None)):
            found = [d for d in self.definitions
                     if d.name == use.name and d.scope == scope and d.kind in kinds]
            if not found:
                continue
            before = [d for d in found if d.range[:2] <= use.range[:2]]
            return (before or found)[-1]
        return None


def _text(node) -> str:
    """The source text of a subtree, tokens joined by single spaces (for signatures)."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Token):
            out.append(n.value)
        else:
            stack.extend(reversed(n.children))
    text = " ".join(out)
    for a, b in ((" ,", ","), ("( ", "("), (" )", ")"), ("[ ", "["), (" ]", "]"), (" .", "."),
                 (". ", ".")):
        text = text.replace(a, b)
    return text


def _first_token(node) -> Token | None:
    while isinstance(node, Tree):
        if not node.children:
            return None
        node = node.children[0]
    return node


def _last_token(node) -> Token | None:
    while isinstance(node, Tree):
        if not node.children:
            return None
        node = node.children[-1]
    return node


def _span(node) -> Range:
    first, last = _first_token(node), _last_token(node)
    return first.line - 1, first.column - 1, last.end_line - 1, last.end_column - 1


def _doc_comment(lines: list[str], line: int) -> str:
    """The `#` lines right above 0-based ``line``, without their `#`."""
    out = []
    i = line - 1
    while i >= 0 and lines[i].lstrip().startswith("#"):
        out.append(lines[i].lstrip()[1:].strip())
        i -= 1
    return "\n".join(reversed(out))


def build(tree: Tree, text: str, comments: list[tuple[int, int, str]], is_op) -> Index:
    """The index of a parsed spec; ``is_op(name)`` tells a registered layer from a block."""
    from ..diagnostics import split_lines
    lines = split_lines(text)
    index = Index()
    block_names = {str(c.children[1]) for c in tree.children
                   if isinstance(c, Tree) and c.data == "block_def"}
    tokens: list = []
    # (node, parent rule, block scope, symbol list to add to)
    stack: list = [(tree, None, None, index.symbols)]
    while stack:
        node, parent, scope, symbols = stack.pop()
        if isinstance(node, Token):
            tokens.append(_classify(node, parent, block_names, is_op))
            continue
        rule, kids = node.data, node.children
        if rule == "block_def":
            name = kids[1]
            scope = str(name)
            params = _params(kids[2]) if len(kids) > 2 and isinstance(kids[2], Tree) else []
            info = BlockInfo(scope, token_range(name), _span(node), params,
                             _doc_comment(lines, name.line - 1))
            index.blocks.setdefault(scope, info)
            index.definitions.append(Definition("block", scope, token_range(name), None))
            sym = Symbol("block", scope, _span(node), token_range(name))
            symbols.append(sym)
            symbols = sym.children
        elif rule == "stage" and len(kids) > 1:
            name = kids[1]
            shown = name.value if isinstance(name, Token) else _text(name)
            first = _first_token(name)
            sym = Symbol("stage", shown, _span(node), token_range(first) if first else _span(node))
            symbols.append(sym)
            symbols = sym.children
        elif rule == "header" and len(kids) > 1:
            index.symbols.append(Symbol("network", str(kids[1]), _span(node),
                                        token_range(kids[1])))
        _record(node, rule, scope, index)
        for i in range(len(kids) - 1, -1, -1):
            child = kids[i]
            # A layer's `as` name and an output's flag are not the call or the output's name.
            later = i > 1 and rule in ("layer", "output")
            stack.append((child, f"{rule}_later" if later else rule, scope, symbols))
    where = _Lines(text)
    for start, end, comment in comments:
        line, col = where.at(start)
        tokens.append(((line, col, line, col + len(comment)), "comment", ()))
    index.tokens = sorted((t for t in tokens if t is not None), key=lambda t: t[0][:2])
    return index


class _Lines:
    """0-based (line, column) of a text offset, by bisection over the line starts."""

    def __init__(self, text: str):
        import re
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> tuple[int, int]:
        import bisect
        line = bisect.bisect_right(self.starts, offset) - 1
        return line, offset - self.starts[line]


def _params(params: Tree) -> list[tuple[str, str | None]]:
    out = []
    for p in params.children:
        if isinstance(p, Tree) and p.data == "param":
            default = _text(p.children[2]) if len(p.children) > 2 else None
            out.append((str(p.children[0]), default))
    return out


def _record(node: Tree, rule: str, scope: str | None, index: Index) -> None:
    """The definitions and uses one rule makes (its direct tokens only)."""
    kids = node.children
    names = [k for k in kids if isinstance(k, Token) and k.type == "NAME"]
    add_def = index.definitions.append
    if rule == "param":
        add_def(Definition("variable", str(kids[0]), token_range(kids[0]), scope))
    elif rule == "assign":
        add_def(Definition("variable", str(kids[0]), token_range(kids[0]), scope))
    elif rule in ("one_target", "tuple_target"):
        for n in names:
            add_def(Definition("variable", str(n), token_range(n), scope))
    elif rule == "bind" and names:
        add_def(Definition("tensor", str(names[0]), token_range(names[0]), scope))
    elif rule == "from_stmt" and names:
        index.uses.append(Use("tensor", str(names[0]), token_range(names[0]), scope))
    elif rule == "var" and names:
        index.uses.append(Use("variable", str(names[0]), token_range(names[0]), scope))
    elif rule == "layer" and names:
        index.uses.append(Use("call", str(names[0]), token_range(names[0]), scope))


def _classify(tok: Token, parent: str | None, blocks: set, is_op):
    kind = tok.type
    r = token_range(tok)
    if kind in ("INT", "FLOAT"):
        return r, "number", ()
    if kind == "STRING":
        return r, "string", ()
    if kind == "NAME":
        if parent == "layer":
            return None if tok.value in KEYWORDS else _call_class(tok, r, blocks, is_op)
        if parent == "merge":
            return r, "function", ("defaultLibrary",)
        if parent == "block_def":
            return r, "class", ("declaration",)
        if parent in ("header", "stage", "path"):
            return r, "namespace", ("declaration",)
        if parent == "param":
            return r, "parameter", ("declaration",)
        if parent == "kwarg":
            return r, "parameter", ()
        if parent in ("assign", "one_target", "tuple_target", "bind"):
            return r, "variable", ("declaration",)
        if parent == "fcall":
            return r, "function", ("defaultLibrary",)
        if parent == "attr":
            return r, "property", ()
        if parent == "output":
            return r, "variable", ("declaration",)
        if parent == "layer_later":
            return r, "namespace", ("declaration",)
        if parent == "output_later":
            return r, "keyword", ()
        return r, "variable", ()
    if tok.value in KEYWORDS:
        return r, "keyword", ()
    if tok.value in OPERATORS:
        return r, "operator", ()
    return None


def _call_class(tok: Token, r: Range, blocks: set, is_op):
    """A layer's name (`as` names are handled by their position after `as`)."""
    if tok.value in blocks:
        return r, "class", ()
    return r, "function", ("defaultLibrary",) if is_op(tok.value) else ()


def lexed_tokens(text: str, lark_parser, is_op) -> list[tuple[Range, str, tuple[str, ...]]]:
    """Token classes from the lexer alone, for text that does not parse: keywords,
    numbers, strings, comments, and a name before `(` or known as a layer a function."""
    import re

    from lark.exceptions import LarkError
    out, toks = [], []
    try:
        for tok in lark_parser.lex(text):
            toks.append(tok)
    except LarkError:  # stop at the first character the lexer refuses
        pass
    prev_end = 0
    where = _Lines(text)
    for i, tok in enumerate(toks):
        for m in re.finditer(r"#[^\n]*", text[prev_end:tok.start_pos]):
            line, col = where.at(prev_end + m.start())
            out.append(((line, col, line, col + len(m.group().rstrip())), "comment", ()))
        prev_end = tok.end_pos
        nxt = toks[i + 1].value if i + 1 < len(toks) else ""
        if tok.type == "NAME" and (nxt == "(" or is_op(tok.value)):
            out.append((token_range(tok), "function", ("defaultLibrary",) if is_op(tok.value)
                        else ()))
        else:
            item = _classify(tok, None, set(), is_op)
            if item is not None:
                out.append(item)
    return sorted(out, key=lambda t: t[0][:2])
