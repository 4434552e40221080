"""Mutants of the rules that live in patterns: regexes and letter sets.

mutmut changes a string literal as a whole ("XX" around it, upper or lower
case), which says little about a regex: a postcode pattern that lost the
letter J from one position still looks fine and still matches most postcodes.
These mutants change one rule of a pattern at a time, the way a slip while
editing it would:

- a character class loses one member, a range end moves by one
  ("[0-9]" -> "[1-9]", "[\\x00-\\x1f]" -> "[\\x00-\\x20]"), a class of digits
  or capitals gains one it excluded;
- a letter set ("A-PR-UWYZ": the letters allowed in one position of a
  postcode) loses or gains one letter;
- a counted repeat moves by one ("{1,2}" -> "{1}"), an optional part becomes
  required or is never allowed, a required repeat becomes optional, an
  alternative of a group is dropped;
- an anchor goes.

The work is on the literal's source text (raw strings, and f-strings with
their `{name}` placeholders kept whole), so a mutant reads exactly as the
slip a developer could have typed. Mutants that are not valid regexes are
not made: an error at import would be "killed" without testing any rule.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass

DIGITS = string.digits
CAPITALS = string.ascii_uppercase
_LETTER_SET = re.compile(r"(?:[A-Z](?:-[A-Z])?)+")
_COUNT = re.compile(r"\{(\d+)(?:(,)(\d*))?\}")
_DOUBLED_COUNT = re.compile(r"\{\{\d+(?:,\d*)?\}\}")  # "{{1,2}}" in an f-string is "{1,2}"
_F_PIECE = re.compile(r"\{\{|\}\}|\{[^{}]*\}")
_ESCAPE_POINT = re.compile(r"\\x([0-9A-Fa-f]{2})|\\u([0-9A-Fa-f]{4})")


@dataclass(frozen=True, slots=True)
class TextMutant:
    """A changed literal text and what changed, for the survivors' list."""

    text: str
    what: str


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # lit, esc, hole, class, count, star, plus, query, open, close, alt, anchor
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Member:
    """One member of a character class: a single atom or a range of two."""

    start: int
    end: int
    low: str
    high: str | None


# --- entry points --------------------------------------------------------------------


def pattern_mutants(text: str, *, fstring: bool = False) -> list[TextMutant]:
    """Every one-rule mutant of a literal's text; empty when it is neither a regex nor a set."""
    if not fstring and is_letter_set(text):
        return _letter_set_mutants(text)
    tokens = list(_tokens(text, fstring))
    if not _looks_like_regex(text, tokens):
        return []
    found: dict[str, TextMutant] = {}
    for mutant in _regex_mutants(text, tokens, fstring):
        if mutant.text != text and mutant.text not in found and _compiles(mutant.text, fstring):
            found[mutant.text] = mutant
    return list(found.values())


def is_letter_set(text: str) -> bool:
    """A run of capitals and ranges in alphabetical order ("ABD-HJLNP-UW-Z"), 4 letters or more.

    That shape is a character class written without its brackets (the letters
    allowed in one position of a code); a word or an acronym is not in order.
    """
    if not _LETTER_SET.fullmatch(text):
        return False
    letters = _expand_letters(text)
    return len(letters) >= 4 and letters == sorted(set(letters))


# --- letter sets ---------------------------------------------------------------------


def _expand_letters(text: str) -> list[str]:
    letters: list[str] = []
    for match in re.finditer(r"([A-Z])(?:-([A-Z]))?", text):
        low, high = match.group(1), match.group(2) or match.group(1)
        letters.extend(chr(c) for c in range(ord(low), ord(high) + 1))
    return letters


def _compress(letters: set[str]) -> str:
    """Letters back in the set's written form, ranges for runs of three or more."""
    ordered = sorted(letters)
    out: list[str] = []
    run: list[str] = []
    for letter in [*ordered, None]:
        if letter is not None and run and ord(letter) == ord(run[-1]) + 1:
            run.append(letter)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) >= 3 else "".join(run))
        run = [letter] if letter is not None else []
    return "".join(out)


def _letter_set_mutants(text: str) -> list[TextMutant]:
    members = set(_expand_letters(text))
    mutants = [
        TextMutant(_compress(members - {letter}), f"letter set {text} without {letter}")
        for letter in sorted(members)
    ]
    mutants += [
        TextMutant(_compress(members | {letter}), f"letter set {text} with {letter}")
        for letter in CAPITALS
        if letter not in members
    ]
    return mutants


# --- tokens ----------------------------------------------------------------------------


def _tokens(text: str, fstring: bool) -> Iterator[_Token]:
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if fstring and text.startswith("{{", i):
            doubled = _DOUBLED_COUNT.match(text, i)
            end = doubled.end() if doubled else i + 2
            yield _Token("count" if doubled else "lit", i, end)
            i = end
        elif fstring and text.startswith("}}", i):
            yield _Token("lit", i, i + 2)
            i += 2
        elif fstring and c == "{":
            end = _hole_end(text, i)
            yield _Token("hole", i, end)
            i = end
        elif c == "\\":
            end = _escape_end(text, i)
            yield _Token("esc", i, end)
            i = end
        elif c == "[":
            end = _class_end(text, i, fstring)
            if end is None:
                yield _Token("lit", i, i + 1)
                i += 1
            else:
                yield _Token("class", i, end)
                i = end
        elif c == "{" and (count := _COUNT.match(text, i)):
            yield _Token("count", i, count.end())
            i = count.end()
        elif c in "*+?":
            kind = {"*": "star", "+": "plus", "?": "query"}[c]
            end = i + 2 if text.startswith("?", i + 1) else i + 1  # a lazy "??", "*?"
            yield _Token(kind, i, end)
            i = end
        elif c == "(":
            group = re.match(r"\(\?(?::|P<\w+>|[=!]|<[=!])?", text[i:])
            end = i + (group.end() if group else 1)
            yield _Token("open", i, end)
            i = end
        elif c == ")":
            yield _Token("close", i, i + 1)
            i += 1
        elif c == "|":
            yield _Token("alt", i, i + 1)
            i += 1
        elif c in "^$":
            yield _Token("anchor", i, i + 1)
            i += 1
        else:
            yield _Token("lit", i, i + 1)
            i += 1


def _hole_end(text: str, start: int) -> int:
    depth, i = 0, start
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def _escape_end(text: str, start: int) -> int:
    kind = text[start + 1 : start + 2]
    width = {"x": 4, "u": 6, "U": 10}.get(kind, 2)
    if kind == "N" and text.startswith("{", start + 2):
        return text.index("}", start) + 1
    return min(start + width, len(text))


def _class_end(text: str, start: int, fstring: bool) -> int | None:
    i = start + 1
    if text.startswith("^", i):
        i += 1
    if text.startswith("]", i):
        i += 1
    while i < len(text):
        if text[i] == "\\":
            i = _escape_end(text, i)
        elif fstring and text.startswith("{{", i):
            i += 2
        elif fstring and text[i] == "{":
            i = _hole_end(text, i)
        elif text[i] == "]":
            return i + 1
        else:
            i += 1
    return None


def _class_members(text: str, token: _Token, fstring: bool) -> tuple[bool, list[_Member]]:
    """Whether the class is negated, and its members (holes of an f-string included)."""
    i, end = token.start + 1, token.end - 1
    negated = text.startswith("^", i)
    if negated:
        i += 1
    atoms: list[tuple[int, int]] = []
    while i < end:
        if text[i] == "\\":
            j = _escape_end(text, i)
        elif fstring and text[i] == "{" and not text.startswith("{{", i):
            j = _hole_end(text, i)
        elif fstring and text.startswith(("{{", "}}"), i):
            j = i + 2
        else:
            j = i + 1
        atoms.append((i, j))
        i = j
    members: list[_Member] = []
    k = 0
    while k < len(atoms):
        a_start, a_end = atoms[k]
        if k + 2 < len(atoms) and text[atoms[k + 1][0] : atoms[k + 1][1]] == "-":
            b_start, b_end = atoms[k + 2]
            members.append(_Member(a_start, b_end, text[a_start:a_end], text[b_start:b_end]))
            k += 3
        else:
            members.append(_Member(a_start, a_end, text[a_start:a_end], None))
            k += 1
    return negated, members


def _looks_like_regex(text: str, tokens: list[_Token]) -> bool:
    kinds = {t.kind for t in tokens}
    escapes = {text[t.start : t.end] for t in tokens if t.kind == "esc"}
    return bool(
        {"class", "count"} & kinds
        or escapes & {r"\s", r"\d", r"\w", r"\S"}
        or text.startswith("^")
        or text.endswith("$")
    )


# --- regex mutants -----------------------------------------------------------------------


def _regex_mutants(text: str, tokens: list[_Token], fstring: bool) -> Iterator[TextMutant]:
    def replace(start: int, end: int, new: str) -> str:
        return text[:start] + new + text[end:]

    for index, token in enumerate(tokens):
        piece = text[token.start : token.end]
        if token.kind == "anchor" and (token.start == 0 or token.end == len(text)):
            yield TextMutant(replace(token.start, token.end, ""), f"anchor {piece} dropped")
        elif token.kind == "class":
            yield from _class_mutants(text, token, fstring)
        elif token.kind in {"count", "star", "plus", "query"}:
            atom_start = _atom_start(tokens, index)
            yield from _repeat_mutants(text, token, atom_start, fstring)
    yield from _alternative_mutants(text, tokens)


def _atom_start(tokens: list[_Token], index: int) -> int | None:
    """Where the atom a repeat applies to starts (a group counts as one atom)."""
    if index == 0:
        return None
    before = tokens[index - 1]
    if before.kind in {"lit", "esc", "hole", "class"}:
        return before.start
    if before.kind == "close":
        depth = 0
        for token in reversed(tokens[:index]):
            depth += token.kind == "close"
            depth -= token.kind == "open"
            if depth == 0:
                return token.start
    return None


def _repeat_mutants(
    text: str, token: _Token, atom_start: int | None, fstring: bool
) -> Iterator[TextMutant]:
    piece = text[token.start : token.end]

    def replace(new: str) -> str:
        return text[: token.start] + new + text[token.end :]

    def count(low: int, high: int | None, open_ended: bool = False) -> str:
        inner = f"{low}," if open_ended else (f"{low}" if high is None else f"{low},{high}")
        return "{{" + inner + "}}" if fstring else "{" + inner + "}"

    if atom_start is not None and token.kind in {"star", "query"}:
        atom = text[atom_start : token.start]
        yield TextMutant(text[:atom_start] + text[token.end :], f"optional {atom}{piece} dropped")
    if token.kind == "star":
        yield TextMutant(replace("+"), f"{piece} -> +")
    elif token.kind == "plus":
        yield TextMutant(replace(""), f"{piece} -> exactly one")
        yield TextMutant(replace("*"), f"{piece} -> *")
    elif token.kind == "query":
        yield TextMutant(replace(""), f"{piece} -> required")
    else:
        match = _COUNT.fullmatch(piece.replace("{{", "{").replace("}}", "}"))
        assert match is not None
        low, comma, high_text = int(match.group(1)), match.group(2), match.group(3)
        if not comma:
            options = [count(low - 1, None)] if low > 1 else []
            options.append(count(low + 1, None))
        elif not high_text:
            options = [count(low + 1, None, True)] + ([count(low - 1, None, True)] if low else [])
        else:
            high = int(high_text)
            options = [count(low, high + 1)]
            options += [count(low - 1, high)] if low else []
            options += [count(low + 1, high)] if low + 1 <= high else []
            options += [count(low, high - 1)] if high - 1 >= low else []
        for option in options:
            yield TextMutant(replace(option), f"{piece} -> {option}")


def _alternative_mutants(text: str, tokens: list[_Token]) -> Iterator[TextMutant]:
    """Drop each alternative of a group whose bars and parentheses are all in this literal."""
    stack: list[tuple[int, list[int]]] = []  # (index of the open token, indexes of its bars)
    groups: list[tuple[int, int, list[int]]] = []
    for index, token in enumerate(tokens):
        if token.kind == "open":
            stack.append((index, []))
        elif token.kind == "alt" and stack:
            stack[-1][1].append(index)
        elif token.kind == "close" and stack:
            opened, bars = stack.pop()
            groups.append((opened, index, bars))
    for opened, closed, bars in groups:
        if not bars:
            continue
        starts = [tokens[opened].end, *(tokens[b].end for b in bars)]
        ends = [*(tokens[b].start for b in bars), tokens[closed].start]
        for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
            # The first alternative goes with the bar after it, any other with the bar before.
            cut = (start, tokens[bars[0]].end) if k == 0 else (tokens[bars[k - 1]].start, end)
            yield TextMutant(
                text[: cut[0]] + text[cut[1] :],
                f"alternative {text[start:end] or '(empty)'} dropped",
            )


def _class_mutants(text: str, token: _Token, fstring: bool) -> Iterator[TextMutant]:
    negated, members = _class_members(text, token, fstring)
    piece = text[token.start : token.end]
    plain = [m for m in members if not m.low.startswith("{")]
    if not plain:
        return

    def replace(start: int, end: int, new: str) -> str:
        return text[:start] + new + text[end:]

    if negated:
        caret = token.start + 1
        yield TextMutant(replace(caret, caret + 1, ""), f"{piece}: negation dropped")
    if len(members) > 1:
        for member in plain:
            gone = text[member.start : member.end]
            yield TextMutant(replace(member.start, member.end, ""), f"{piece} without {gone}")
    for member in plain:
        for new, what in _range_moves(member):
            yield TextMutant(replace(member.start, member.end, new), f"{piece}: {what}")
    points = [_point(m.low) for m in plain] + [_point(m.high) for m in plain if m.high]
    if all(p is not None for p in points) and len(plain) == len(members):
        covered = _covered(plain)
        for alphabet in (DIGITS, CAPITALS):
            if covered and covered <= set(alphabet):
                for extra in alphabet:
                    if extra not in covered:
                        end = token.end - 1
                        yield TextMutant(replace(end, end, extra), f"{piece} with {extra}")


def _point(atom: str | None) -> int | None:
    """The code point of a plain character or a \\xHH / \\uHHHH escape; None otherwise."""
    if atom is None:
        return None
    if len(atom) == 1:
        return ord(atom)
    escape = _ESCAPE_POINT.fullmatch(atom)
    if escape:
        return int(escape.group(1) or escape.group(2), 16)
    return None


def _spell(point: int, like: str) -> str:
    """A code point written the way `like` was (plain, \\xHH or \\uHHHH)."""
    if like.startswith("\\x") and point <= 0xFF:
        return f"\\x{point:02x}"
    if like.startswith("\\u"):
        return f"\\u{point:04x}"
    return chr(point)


def _same_kind(a: int, b: int) -> bool:
    """Both digits, both capitals, both small letters, or both non-alphanumeric escapes."""
    for alphabet in (DIGITS, CAPITALS, string.ascii_lowercase):
        if chr(a) in alphabet:
            return chr(b) in alphabet
    return not chr(b).isalnum()


def _range_moves(member: _Member) -> Iterator[tuple[str, str]]:
    """A range end moved in or out by one: the boundary slips of a class."""
    if member.high is None:
        return
    low, high = _point(member.low), _point(member.high)
    if low is None or high is None:
        return
    old = f"{member.low}-{member.high}"

    def written(a: int, b: int) -> str:
        first = _spell(a, member.low)
        return first if a == b else f"{first}-{_spell(b, member.high)}"

    moves = [(low + 1, high), (low, high - 1), (low - 1, high), (low, high + 1)]
    for a, b in moves:
        if a <= b and a >= 0 and _same_kind(low, a) and _same_kind(high, b):
            yield written(a, b), f"{old} -> {written(a, b)}"


def _covered(members: list[_Member]) -> set[str]:
    chars: set[str] = set()
    for member in members:
        low = _point(member.low)
        high = _point(member.high) if member.high else low
        assert low is not None and high is not None
        chars.update(chr(c) for c in range(low, high + 1))
    return chars


def _compiles(text: str, fstring: bool) -> bool:
    """Whether a mutant is a valid regex; a piece of a longer pattern is closed off first."""
    depth = unopened = 0
    for token in _tokens(text, fstring):
        if token.kind == "open":
            depth += 1
        elif token.kind == "close":
            if depth:
                depth -= 1
            else:
                unopened += 1
    if fstring:
        # "{{" and "}}" are literal braces; a placeholder stands for some pattern, say "x".
        text = _F_PIECE.sub(lambda m: {"{{": "{", "}}": "}"}.get(m.group(0), "x"), text)
    try:
        re.compile("(" * unopened + text + ")" * depth)
    except re.error:
        return False
    return True
