"""Completion: layer and block names where a statement goes, argument names (with
their docs and defaults) inside a call's parentheses."""

from __future__ import annotations

import re

from lsprotocol import types

from ..diagnostics import visible
from ..ops import REGISTRY
from ..ops.base import REQUIRED
from .hover import _default, op_hover

STATEMENT_KEYWORDS = ("stage", "repeat", "for", "if", "from", "output", "block")
_MASK = re.compile(r'"[^"\n]*"|#[^\n]*')  # strings and comments hide their brackets
_NAME_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*$")
LOOK_BACK = 4000  # characters scanned back for the open call


def context(text: str, offset: int) -> tuple[str, str | None, set[str]]:
    """("argument", callee, names given) inside a call's `(`, where an argument name goes;
    ("value", callee, ...) after `name=`; ("statement", None, ...) elsewhere."""
    start = max(0, offset - LOOK_BACK)
    before = _MASK.sub(lambda m: " " * len(m.group()), text[start:offset])
    depth = 0
    for i in range(len(before) - 1, -1, -1):
        c = before[i]
        if c in ")]":
            depth += 1
        elif c in "([":
            if depth == 0:
                if c == "[":
                    return "value", None, set()
                m = _NAME_BEFORE.search(before[:i])
                segment = _top_level_segment(before[i + 1:])
                inside = before[i + 1:] + _rest_of_call(text, offset)
                given = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", inside))
                if m is None:
                    return "value", None, given
                where = "value" if re.search(r"(?<![=!<>])=(?!=)", segment) else "argument"
                return where, m.group(1), given
            depth -= 1
        elif c in "{}" and depth == 0:
            break
    return "statement", None, set()


def _rest_of_call(text: str, offset: int) -> str:
    """The text after the cursor up to the `)` that closes the call it is in."""
    after = _MASK.sub(lambda m: " " * len(m.group()), text[offset:offset + LOOK_BACK])
    depth = 0
    for i, c in enumerate(after):
        if c in "([":
            depth += 1
        elif c in ")]":
            if depth == 0:
                return after[:i]
            depth -= 1
        elif c in "{}":
            break
    return ""


def _top_level_segment(inside: str) -> str:
    """The text of the argument being written: after the last comma at depth 0."""
    depth, cut = 0, 0
    for i, c in enumerate(inside):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            cut = i + 1
    return inside[cut:]


def items(text: str, offset: int, index) -> list[types.CompletionItem]:
    where, callee, given = context(text, offset)
    blocks = index.blocks if index is not None else {}
    if where == "argument":
        if callee in blocks:
            return [_param_item(name, default, blocks[callee].name)
                    for name, default in blocks[callee].params if name not in given]
        op = REGISTRY.get(callee)
        if op is None:
            from ..ops import NAMES
            op = NAMES.get(callee)
        if op is not None:
            return [_arg_item(op.name, a) for a in op.args
                    if a.name not in given and not given & set(a.aliases)]
        return []
    if where == "value":
        return []
    out = [_op_item(name, op) for name, op in REGISTRY.items()]
    out += [types.CompletionItem(label=b.name, kind=types.CompletionItemKind.Class,
                                 detail=visible(b.signature()),
                                 documentation=_markdown(safe(b.doc)))
            for b in blocks.values()]
    out += [types.CompletionItem(label=k, kind=types.CompletionItemKind.Keyword)
            for k in STATEMENT_KEYWORDS]
    return out


def safe(text: str) -> str:
    """Spec text (a doc comment) shown line by line as :func:`visible` shows it."""
    return "\n".join(visible(line) for line in text.split("\n"))


def _markdown(text: str | None):
    if not text:
        return None
    return types.MarkupContent(kind=types.MarkupKind.Markdown, value=text)


def _op_item(name: str, op) -> types.CompletionItem:
    return types.CompletionItem(label=name, kind=types.CompletionItemKind.Function,
                                detail=f"{op.family} layer" if op.family else "layer",
                                documentation=_markdown(op_hover(name)))


def _arg_item(op_name: str, a) -> types.CompletionItem:
    default = "required" if a.default is REQUIRED else f"default {_default(a.default)}"
    aliases = f" (also {', '.join(a.aliases)})" if a.aliases else ""
    doc = f"`{a.name}`{aliases} of `{op_name}`: {a.doc or 'no description'}; {default}"
    return types.CompletionItem(label=a.name, kind=types.CompletionItemKind.Field,
                                detail=default, insert_text=f"{a.name}=",
                                documentation=_markdown(doc))


def _param_item(name: str, default: str | None, block: str) -> types.CompletionItem:
    shown = "required" if default is None else f"default {visible(default)}"
    return types.CompletionItem(label=name, kind=types.CompletionItemKind.Field, detail=shown,
                                insert_text=f"{name}=",
                                documentation=_markdown(f"`{name}` of block `{block}`; {shown}"))
