"""The check every generated source passes before anyone executes or writes it.

The generator builds source only from escaped literals (``repr``) and
sanitised comments, so spec text cannot become code. This check is the
second line: should a bug ever let text out of a literal, the result is a
:class:`GeneratedSourceError` (a bug report), never a module that runs
the text nor a file that does so on import.

What a generated file may contain, decided by what importing it and
building the module would run:

- top level (runs on import): an optional module docstring, ``import`` /
  ``from ... import`` of ``torch`` and ``math`` modules, and class
  definitions, each name bound once; nothing else, so importing the file
  defines names and runs no call of its own;
- a class (its body runs on import): no decorators or keywords (a metaclass
  runs code), bases that are dotted names; in the body a docstring,
  ``pass``, method definitions and assignments of literals;
- a method (runs when the module is built or called): no decorators,
  literal defaults, annotations made of names and subscripts; no import,
  ``global``, ``nonlocal``, lambda or nested definition; every name it
  reads is its own (argument or local), the file's (an import or a class),
  or one of a few harmless builtins, so ``eval``, ``exec``, ``open``,
  ``getattr``, ``__import__`` cannot appear; attributes are never dunder
  names except the few the prelude needs (``__init__``, ``__dict__``...),
  which closes the ``().__class__.__subclasses__()`` route;
- every character printable or a newline: no control or bidi character
  anywhere, even in a comment (Trojan Source, CVE-2021-42574).

>>> verify_source("import torch\\n\\n\\nclass A:\\n    x = 1\\n")
>>> verify_source("import os\\n")
Traceback (most recent call last):
...
cnndsl.backends.verify.GeneratedSourceError: generated source line 1: imports os, not torch, math, collections or typing
"""

from __future__ import annotations

import ast

# Top-level modules a generated file may import (collections.OrderedDict and
# typing.NamedTuple for networks with several outputs).
IMPORTS = frozenset({"torch", "math", "collections", "typing"})
BUILTINS = frozenset({
    "super", "len", "int", "float", "bool", "str", "tuple", "list", "dict", "range",
    "min", "max", "abs", "round", "divmod", "sum", "any", "all", "zip", "enumerate",
    "isinstance", "slice", "ValueError", "RuntimeError", "NotImplementedError",
})
DUNDERS = frozenset({"__init__", "__setattr__", "__delattr__", "__dict__"})  # the prelude's
_NOT_IN_METHODS = (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.Lambda,
                   ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_ANNOTATION = (ast.Name, ast.Attribute, ast.Constant, ast.Subscript, ast.Tuple, ast.BinOp,
               ast.BitOr, ast.Load)


class GeneratedSourceError(RuntimeError):
    """Generated source failed its own check: a bug in cnndsl, never the user's."""


def verify_source(text: str, provided: frozenset = frozenset()) -> None:
    """Raise :class:`GeneratedSourceError` unless ``text`` is what the generator may emit.

    ``provided``: globals the loader puts in the module before executing it
    (the probed variant's ``probe``), which methods may read.
    """
    for number, line in enumerate(text.split("\n"), 1):
        if not line.isprintable():
            bad = next(c for c in line if not c.isprintable())
            _fail(number, f"holds the unprintable character U+{ord(bad):04X}")
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        raise GeneratedSourceError(f"generated source does not parse: {err}") from None
    names = set()
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names |= _check_import(stmt)
        elif isinstance(stmt, ast.ClassDef):
            if stmt.name in names:  # a second definition would silently replace the first
                _fail(stmt.lineno, f"defines {stmt.name} twice")
            names.add(stmt.name)
        elif not (i == 0 and _is_docstring(stmt)):
            _fail(stmt.lineno, f"has a top-level {type(stmt).__name__} statement; only imports "
                  "and class definitions may run on import")
    known = names | BUILTINS | set(provided)
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef):
            _check_class(stmt, known)


def _fail(line: int, what: str):
    raise GeneratedSourceError(f"generated source line {line}: {what}")


def _is_docstring(stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))


def _check_import(stmt) -> set[str]:
    if isinstance(stmt, ast.ImportFrom):
        modules = [stmt.module or ""] if stmt.level == 0 else ["." * stmt.level]
        bound = {a.asname or a.name for a in stmt.names}
    else:
        modules = [a.name for a in stmt.names]
        bound = {a.asname or a.name.split(".")[0] for a in stmt.names}
    for module in modules:
        if module.split(".")[0] not in IMPORTS:
            _fail(stmt.lineno, f"imports {module}, not torch, math, collections or typing")
    if "*" in bound:
        _fail(stmt.lineno, "has a star import")
    return bound


def _dotted(node, known: set[str]) -> bool:
    while isinstance(node, ast.Attribute):
        if node.attr.startswith("__"):
            return False
        node = node.value
    return isinstance(node, ast.Name) and node.id in known


def _check_class(cls: ast.ClassDef, known: set[str]) -> None:
    if cls.decorator_list or cls.keywords or not all(_dotted(b, known) for b in cls.bases):
        _fail(cls.lineno, f"class {cls.name} has decorators, keywords or bases that are not names")
    for stmt in cls.body:
        if _is_docstring(stmt) or isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.FunctionDef):
            _check_method(stmt, known)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is None:  # a NamedTuple's field
            if not isinstance(stmt.target, ast.Name) or not all(
                    isinstance(n, _ANNOTATION) and (not isinstance(n, ast.Name) or n.id in known)
                    for n in ast.walk(stmt.annotation)):
                _fail(stmt.lineno, f"class {cls.name} declares a field that is not a type name")
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if not all(isinstance(t, ast.Name) for t in targets) or not _literal(stmt.value):
                _fail(stmt.lineno, f"class {cls.name} assigns something other than a literal")
        else:
            _fail(stmt.lineno, f"class {cls.name} runs a {type(stmt).__name__} statement")


def _literal(node) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return False
    return True


def _check_method(fn: ast.FunctionDef, known: set[str]) -> None:
    args = fn.args
    every = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg,
                                                                          args.kwarg) if a]
    if fn.decorator_list or not all(_literal(d) for d in args.defaults + [
            d for d in args.kw_defaults if d is not None]):
        _fail(fn.lineno, f"method {fn.name} has decorators or defaults that are not literals")
    for note in [a.annotation for a in every] + [fn.returns]:
        if note is not None and not all(isinstance(n, _ANNOTATION) and
                                        (not isinstance(n, ast.Name) or n.id in known)
                                        for n in ast.walk(note)):
            _fail(note.lineno, f"method {fn.name} has an annotation that is not a type name")
    inner = _nodes(fn.body)
    local = {a.arg for a in every}
    local |= {n.id for n in inner if type(n) is ast.Name and type(n.ctx) is not ast.Load}
    for node in inner:
        kind = type(node)
        if kind is ast.Name:
            if node.id not in local and node.id not in known:
                _fail(node.lineno, f"method {fn.name} reads the name {node.id}, which the file "
                      "does not define")
        elif kind is ast.Attribute:
            if node.attr.startswith("__") and node.attr not in DUNDERS:
                _fail(node.lineno, f"method {fn.name} reads the attribute {node.attr}")
        elif isinstance(node, _NOT_IN_METHODS):
            _fail(node.lineno, f"method {fn.name} holds a {kind.__name__}")


def _nodes(body: list) -> list:
    """Every node under the statements, like ``ast.walk`` at half its cost
    (a method of ResNet-50 has thousands)."""
    out, stack, node_type = [], list(body), ast.AST
    while stack:
        node = stack.pop()
        out.append(node)
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                stack.extend(v for v in value if isinstance(v, node_type))
            elif isinstance(value, node_type):
                stack.append(value)
    return out
