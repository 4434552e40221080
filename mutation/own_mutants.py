"""The mutants mutmut does not make: module level, class bodies, decorators, patterns.

mutmut 3 mutates the bodies of plain functions and methods only (it swaps a
mutated copy in at call time). A module's constants, its regexes, a pydantic
model's field constraints, a validator behind a decorator and the decorator
itself are outside its reach, and in this code base that is where most rules
live. This module makes, for one source file:

- mutmut's own operators (its `mutation_operators` table, so both halves
  mutate alike) on every node mutmut leaves alone: module-level statements,
  class bodies, and functions it skips because they are decorated;
- the removal of each decorator (`@model_validator(...)`, `@cached_property`);
- pattern mutants (`mutation.patterns`) of every regex or letter-set literal,
  inside functions too, because mutmut's "XX" around a regex tests no rule.

It skips what cannot carry a rule: imports, docstrings, annotations, type
aliases, `if TYPE_CHECKING:` blocks, `__all__` (nothing here star-imports,
and ruff's F822 already fails a listed name that does not exist), and the
arguments of decorators (they run once at import; a bad one fails every test,
which proves nothing).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider
from mutmut.mutation.mutators import mutation_operators

from mutation.patterns import pattern_mutants

#: Calls mutmut never mutates (mutating them makes mostly meaningless mutants).
_NEVER_MUTATED_CALLS = frozenset({"len", "isinstance"})
#: Calls that only make a typing construct.
_TYPING_CALLS = frozenset({"TypeVar", "NewType", "ParamSpec", "TypeAliasType"})
#: The decorators mutmut can trampoline; functions with another decorator are ours.
_MUTMUT_DECORATORS = frozenset({"staticmethod", "classmethod"})


@dataclass(frozen=True, slots=True)
class Mutant:
    """One changed copy of a module, with what changed for the survivors' list."""

    line: int
    what: str
    before: str
    after: str
    source: str

    @property
    def label(self) -> str:
        return f"L{self.line} {self.what}: `{self.before}` -> `{self.after}`"


def own_mutants(source: str) -> list[Mutant]:
    """Every mutant of `source` that mutmut does not make, in source order, without repeats."""
    wrapper = MetadataWrapper(cst.parse_module(source))
    module = wrapper.module
    positions = wrapper.resolve(PositionProvider)
    seen: set[str] = {source}
    mutants: list[Mutant] = []
    for original, replacement, what in _walk(module, top=True, ours=True):
        mutated = module.deep_replace(original, replacement)
        assert isinstance(mutated, cst.Module)
        code = mutated.code
        if code in seen:
            continue
        seen.add(code)
        before, after = changed_lines(source, code)
        line = positions[original].start.line
        mutants.append(Mutant(line, what, before, after, code))
    return mutants


def _walk(
    node: cst.CSTNode,
    *,
    top: bool,
    ours: bool,
    in_class: bool = False,
    in_pattern: bool = False,
) -> Iterator[tuple[cst.CSTNode, cst.CSTNode, str]]:
    """(original node, replacement, what) for `node` and everything below it.

    `ours` is False inside a function mutmut mutates: there only pattern
    mutants are made. `top` is True for the module body and the body of a
    class at module level, whose plain functions are mutmut's. `in_pattern`
    is True for the pieces of a concatenated literal, mutated as a whole.
    """
    if _skipped(node):
        return
    if isinstance(node, cst.FunctionDef | cst.ClassDef):
        yield from _decorator_removals(node)
    if isinstance(node, cst.FunctionDef):
        for param in node.params.params:
            if ours and param.default is not None and _simple(param.default):
                yield from _walk(param.default, top=False, ours=True)
        body_ours = ours and not (top and _mutmut_mutates(node))
        yield from _walk(node.body, top=False, ours=body_ours)
        return
    if isinstance(node, cst.ClassDef):
        for argument in node.keywords:
            yield from _walk(argument, top=False, ours=ours)
        yield from _walk(node.body, top=top and not in_class, ours=ours, in_class=True)
        return
    if isinstance(node, cst.ConcatenatedString) and not in_pattern:
        yield from _concatenated_pattern_mutants(node)
        in_pattern = True
    elif isinstance(node, cst.SimpleString | cst.FormattedString) and not in_pattern:
        yield from _pattern_mutants(node)
    if ours:
        for node_type, operator in mutation_operators:
            if isinstance(node, node_type):
                for replacement in operator(node):
                    yield node, replacement, operator.__name__.removeprefix("operator_")
    # Functions directly in the module or a class body are the only ones mutmut takes.
    child_top = top and isinstance(node, cst.Module | cst.IndentedBlock)
    for child in node.children:
        yield from _walk(child, top=child_top, ours=ours, in_class=in_class, in_pattern=in_pattern)


def _skipped(node: cst.CSTNode) -> bool:
    if isinstance(node, cst.Import | cst.ImportFrom | cst.Annotation | cst.Decorator):
        return True
    if isinstance(node, cst.SimpleStatementLine) and len(node.body) == 1:
        statement = node.body[0]
        if isinstance(statement, cst.Expr) and isinstance(
            statement.value, cst.SimpleString | cst.ConcatenatedString
        ):
            return True  # a docstring
        if isinstance(statement, cst.Assign) and _is_typing(statement.value):
            return True  # a type alias or a TypeVar
        if isinstance(statement, cst.Assign) and _names(statement.targets[0].target) == "__all__":
            return True  # the public names: for tools and readers, checked by ruff (F822)
    if isinstance(node, cst.If) and _names(node.test) == "TYPE_CHECKING":
        return True
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Name)
        and node.func.value in _NEVER_MUTATED_CALLS
    )


def _is_typing(value: cst.BaseExpression) -> bool:
    if isinstance(value, cst.Subscript):
        return True
    return isinstance(value, cst.Call) and _names(value.func) in _TYPING_CALLS


def _names(node: cst.CSTNode) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return ""


def _simple(default: cst.BaseExpression) -> bool:
    """mutmut's rule for defaults: only names, numbers and strings (others run at import)."""
    return isinstance(default, cst.Name | cst.BaseNumber | cst.BaseString)


def _mutmut_mutates(function: cst.FunctionDef) -> bool:
    """mutmut's rule: undecorated, or decorated only with @staticmethod / @classmethod."""
    if not function.decorators:
        return True
    if len(function.decorators) > 1:
        return False
    return _names(function.decorators[0].decorator) in _MUTMUT_DECORATORS


def _decorator_removals(
    node: cst.FunctionDef | cst.ClassDef,
) -> Iterator[tuple[cst.CSTNode, cst.CSTNode, str]]:
    for index, decorator in enumerate(node.decorators):
        kept = [*node.decorators[:index], *node.decorators[index + 1 :]]
        name = cst.Module([]).code_for_node(decorator.decorator)
        yield node, node.with_changes(decorators=kept), f"decorator @{name} removed"


# --- patterns --------------------------------------------------------------------------


def _pattern_mutants(
    node: cst.SimpleString | cst.FormattedString,
) -> Iterator[tuple[cst.CSTNode, cst.CSTNode, str]]:
    parts = _literal_parts(node)
    if parts is None:
        return
    prefix, quote, text, fstring = parts
    for mutant in pattern_mutants(text, fstring=fstring):
        literal = f"{prefix}{quote}{mutant.text}{quote}"
        replacement = cst.parse_expression(literal).with_changes(lpar=node.lpar, rpar=node.rpar)
        yield node, replacement, f"pattern: {mutant.what}"


def _concatenated_pattern_mutants(
    node: cst.ConcatenatedString,
) -> Iterator[tuple[cst.CSTNode, cst.CSTNode, str]]:
    """A pattern split over adjacent literals is mutated whole (a group may span them).

    The mutant is written as one literal: raw, and an f-string if any piece was.
    """
    pieces: list[cst.CSTNode] = []

    def flatten(part: cst.BaseExpression) -> None:
        if isinstance(part, cst.ConcatenatedString):
            flatten(part.left)
            flatten(part.right)
        else:
            pieces.append(part)

    flatten(node)
    parsed = []
    for piece in pieces:
        parts = (
            _literal_parts(piece)
            if isinstance(piece, cst.SimpleString | cst.FormattedString)
            else None
        )
        if parts is None:
            return
        parsed.append(parts)
    fstring = any(is_f for _, _, _, is_f in parsed)
    text = "".join(
        piece if is_f or not fstring else piece.replace("{", "{{").replace("}", "}}")
        for _, _, piece, is_f in parsed
    )
    quote = parsed[0][1]
    prefix = "rf" if fstring else "r"
    for mutant in pattern_mutants(text, fstring=fstring):
        if quote in mutant.text:
            continue
        literal = f"{prefix}{quote}{mutant.text}{quote}"
        replacement = cst.parse_expression(literal).with_changes(lpar=node.lpar, rpar=node.rpar)
        yield node, replacement, f"pattern: {mutant.what}"


def _literal_parts(
    node: cst.SimpleString | cst.FormattedString,
) -> tuple[str, str, str, bool] | None:
    """(prefix, quote, text between the quotes, is an f-string) of a literal we can rewrite.

    Only raw literals, or literals without a backslash, are rewritten: there the
    text between the quotes is the pattern itself.
    """
    code = cst.Module([]).code_for_node(node.with_changes(lpar=[], rpar=[]))
    if isinstance(node, cst.FormattedString):
        prefix, quote = node.start[:-1], node.start[-1]
        fstring = True
    else:
        split = min(i for i in (code.find('"'), code.find("'")) if i != -1)
        prefix, quote = code[:split], code[split]
        fstring = False
    text = code[len(prefix) + 1 : -1]
    if code[len(prefix) :].startswith(quote * 3) or "b" in prefix.lower():
        return None
    if "r" not in prefix.lower() and "\\" in text:
        return None
    return prefix, quote, text, fstring


# --- reporting ---------------------------------------------------------------------------


def changed_lines(before: str, after: str) -> tuple[str, str]:
    """The first changed line before and after, stripped, for the survivors' list."""
    old, new = before.splitlines(), after.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            was = " ".join(line.strip() for line in old[i1:i2])
            now = " ".join(line.strip() for line in new[j1:j2])
            return _short(was), _short(now)
    return "", ""


def _short(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
