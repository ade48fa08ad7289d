"""lark's contextual lexer and LALR parser, with less Python per token.

lark lets a program swap its lexer and parser classes for its own
(``Lark(..., _plugins=PLUGINS)``; lark-cython is such a plugin). These two
run lark's own tables unchanged: the lexer matches with the regular
expressions and keyword callbacks lark builds for each parser state, the
parser shifts and reduces by lark's LALR table and calls lark's callbacks.
What they save is lark's per-token bookkeeping: a line counter object and
three calls a token in the lexer, a method call and a rule comparison a
step in the parser. A written-out 10,000-layer spec parses about a
quarter faster (bench/bench_check.py).

On anything unusual they hand over to lark's own code at the same point:
a character no terminal matches, a token the table does not expect, a
scanner lark split across several regular expressions. So every error is
lark's own object, raised from the same state.
tests/test_parser.py parses specs with and without the plugins and
compares the ASTs, the tokens and the errors.
"""

from __future__ import annotations

import lark.lexer
from lark.exceptions import UnexpectedInput
from lark.lexer import Token
from lark.parse_tree_builder import ExpandSingleChild
from lark.parsers.lalr_analysis import Shift
from lark.parsers.lalr_interactive_parser import InteractiveParser
from lark.parsers.lalr_parser import LALR_Parser
from lark.parsers.lalr_parser import _Parser as _LarkParser
from lark.parsers.lalr_parser_state import ParseConf, ParserState

__all__ = ["PLUGINS"]


class ContextualLexer(lark.lexer.ContextualLexer):
    """lark's contextual lexer, one loop for the whole text."""

    def __init__(self, conf, states, always_accept=()):
        super().__init__(conf, states, always_accept)
        self._scanners: dict = {}

    def lex(self, lexer_state, parser_state):
        scanners = self._scanners
        text = lexer_state.text  # a TextSlice from lark 1.3, a str before
        source, end = (text, len(text)) if isinstance(text, str) else (text.text, text.end)
        counter = lexer_state.line_ctr
        pos, line, line_start = counter.char_pos, counter.line, counter.line_start_pos
        parser_states = parser_state.state_stack  # its top is the parser's state
        try:
            while pos < end:
                state = parser_states[-1]
                scanner = scanners.get(state)
                if scanner is None:
                    scanner = scanners[state] = self._scanner(state)
                    if scanner is None:  # lark's own loop, then
                        break
                match, ignored, multiline, callbacks = scanner
                m = match(source, pos, end)
                if m is None:  # lark says what was expected
                    break
                kind, stop = m.lastgroup, m.end()
                next_line, next_start = line, line_start
                if kind in multiline:
                    newlines = source.count("\n", pos, stop)
                    if newlines:
                        next_line += newlines
                        next_start = source.rfind("\n", pos, stop) + 1
                if kind in ignored and kind not in callbacks:
                    pos, line, line_start = stop, next_line, next_start
                    continue
                tok = Token(kind, m.group(), pos, line, pos - line_start + 1,
                            next_line, stop - next_start + 1, stop)
                pos, line, line_start = stop, next_line, next_start
                if kind in callbacks:
                    tok = callbacks[kind](tok)
                if kind not in ignored:
                    lexer_state.last_token = tok
                    yield tok
        finally:  # where lark's line counter would be
            counter.char_pos, counter.line, counter.line_start_pos = pos, line, line_start
            counter.column = pos - line_start + 1
        if pos < end:
            yield from super().lex(lexer_state, parser_state)

    def _scanner(self, state):
        """What lark's lexer for ``state`` matches with, or None if it is not one
        expression (or this lark keeps it elsewhere: tested from lark 1.1.9 to 1.3)."""
        lexer = self.lexers[state]
        try:
            expressions = lexer.scanner._mres  # building the scanner sets lexer.callback
            scanner = lexer.ignore_types, lexer.newline_types, lexer.callback
        except AttributeError:
            return None
        return (expressions[0].match, *scanner) if len(expressions) == 1 else None


class _Parser(_LarkParser):
    """lark's LALR loop over its own table, the steps looked up once per table."""

    _steps = None

    def parse(self, lexer, start, value_stack=None, state_stack=None, start_interactive=False):
        states = self._steps if self._steps is not None else self._build_steps()
        if start_interactive or value_stack or state_stack or not states:
            return super().parse(lexer, start, value_stack, state_stack, start_interactive)
        state = ParserState(ParseConf(self.parse_table, self.callbacks, start), lexer)
        stack, values = state.state_stack, state.value_stack
        token = None
        try:
            for token in lexer.lex(state):
                kind = token.type
                while True:
                    step = states[stack[-1]].get(kind)
                    if step is None:  # lark raises its UnexpectedToken from here
                        state.feed_token(token)
                    target, reduce = step
                    if reduce is None:
                        stack.append(target)
                        values.append(token)
                        break
                    size, callback, origin = reduce
                    if callback is None:  # a `?rule` of one child: that child is its value
                        stack[-1] = states[stack[-2]][origin][0]
                        continue
                    if size:
                        children = values[-size:]
                        del stack[-size:]
                        del values[-size:]
                    else:
                        children = []
                    values.append(callback(children))
                    stack.append(states[stack[-1]][origin][0])
            end = Token.new_borrow_pos("$END", "", token) if token else Token("$END", "", 0, 1, 1)
            return state.feed_token(end, True)
        except UnexpectedInput as err:  # as lark's own loop does
            err.interactive_parser = InteractiveParser(self, state, state.lexer)
            raise

    def _build_steps(self) -> dict:
        """Per state and token type: (state to shift to, None) or (None, (size, callback,
        rule name)); empty if a token has a callback of its own (lark's loop calls it).
        The callback is None where lark's would return the one child as it is."""
        if any(isinstance(kind, str) for kind in self.callbacks):
            self._steps = {}
            return self._steps
        reductions: dict = {}

        def reduction(rule):
            found = reductions.get(id(rule))
            if found is None:
                size, callback = len(rule.expansion), self.callbacks[rule]
                if size == 1 and isinstance(callback, ExpandSingleChild):
                    callback = None
                found = reductions[id(rule)] = size, callback, str(rule.origin.name)
            return found

        self._steps = {
            state: {str(kind): (arg, None) if action is Shift else (None, reduction(arg))
                    for kind, (action, arg) in actions.items()}
            for state, actions in self.parse_table.states.items()}
        return self._steps


class LALR(LALR_Parser):
    """lark's LALR parser with the loop above."""

    def __init__(self, parser_conf, debug: bool = False, strict: bool = False):
        super().__init__(parser_conf, debug, strict)
        self.parser = _Parser(self._parse_table, parser_conf.callbacks, debug)

    @classmethod
    def deserialize(cls, data, memo, callbacks, debug=False):
        inst = super().deserialize(data, memo, callbacks, debug)
        inst.parser = _Parser(inst._parse_table, callbacks, debug)
        return inst


PLUGINS = {"ContextualLexer": ContextualLexer, "LALR_Parser": LALR}
