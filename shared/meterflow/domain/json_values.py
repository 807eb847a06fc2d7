"""Free-form JSON values (event properties, metadata, whole request bodies) and their bounds.

A JSON value is bounded in nesting before it is parsed (`nesting_depth` reads the bytes alone), then
walked once after (`json_fault`): every key and string is text Postgres and UTF-8 accept, every number
passes the rule of its field, nesting stays within the field's levels.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate
from typing import Any

# A request body or record nested deeper than this is refused before any parser recurses into it.
MAX_JSON_DEPTH = 32
PLAIN_LIMIT = 10**18
# For the OpenAPI schema: what a fuzzer may generate. The check itself is `text_fault`.
NO_NUL_PATTERN = "^[^\\u0000]*$"


def text_fault(value: str) -> str | None:
    """Text is stored in Postgres (no NUL) and sent as UTF-8 (no lone surrogate)."""
    if "\x00" in value:
        return "must not contain the NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode (no lone surrogate)"
    return None


NumberRule = Callable[[Decimal], str | None]
_NUMBERS = (int, Decimal)  # tuples: `int | Decimal` would build a union on every call of the hot walk
_CONTAINERS = (dict, list)


def is_plain_number(value: int | Decimal) -> bool:
    """Below 10^18 in magnitude with at most 18 decimal places: inside every number rule of a
    `JsonDomain` (each must accept these; a unit test holds them to it), so the walk skips the rule for
    the numbers events nearly always carry."""
    if isinstance(value, int):
        return -PLAIN_LIMIT < value < PLAIN_LIMIT
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -18 and value.adjusted() < 18


@dataclass(frozen=True)
class JsonDomain:
    """The bounds of a free-form JSON value: nesting levels, the number rule, and optional lengths of
    every string and every key at any depth."""

    depth: int
    number_rule: NumberRule
    max_chars: int | None = None
    max_key_chars: int | None = None

    def string_fault(self, value: str, limit: int | None) -> str | None:
        if limit is not None and len(value) > limit:
            return f"is longer than {limit} characters"
        if value.isascii() and "\x00" not in value:  # the common case, without a call
            return None
        return text_fault(value)


def json_fault(value: object, domain: JsonDomain, path: str = "", depth: int | None = None) -> tuple[str, str] | None:
    """The first (path, reason) at which a decoded JSON value leaves `domain`; None if it stays inside."""
    levels = domain.depth if depth is None else depth
    if isinstance(value, str):
        fault = domain.string_fault(value, domain.max_chars)
        return (path, fault) if fault else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, _NUMBERS):
        fault = None if is_plain_number(value) else domain.number_rule(Decimal(value))
        return (path, fault) if fault else None
    if isinstance(value, _CONTAINERS):
        if levels < 1:
            return path, "is nested too deeply"
        return _container_fault(value, domain, path, levels - 1)
    return path, "must be a JSON value"


def _container_fault(value: dict[Any, Any] | list[Any], domain: JsonDomain, path: str,
                     depth: int) -> tuple[str, str] | None:
    items = value.items() if isinstance(value, dict) else enumerate(value)
    unbounded = domain.max_chars is None and domain.max_key_chars is None
    for key, item in items:
        # The common case checked inline, exactly as `string_fault` and `is_plain_number` would: a plain
        # ASCII key and an ASCII string or a plain integer as its value (a call per property adds up).
        kind = type(item)
        plain_key = type(key) is int or (isinstance(key, str) and key.isascii() and "\x00" not in key)
        if unbounded and plain_key and (
                (kind is str and item.isascii() and "\x00" not in item)
                or (kind is int and -PLAIN_LIMIT < item < PLAIN_LIMIT)):
            continue
        key_fault = domain.string_fault(key, domain.max_key_chars) if isinstance(key, str) else None
        if key_fault:
            return _item_path(path, key), key_fault
        if isinstance(item, dict | list):
            fault = json_fault(item, domain, _item_path(path, key), depth)
        else:  # a scalar's fault is at its own path: only spelled out when there is one (the hot path)
            fault = json_fault(item, domain, "", depth)
            fault = (_item_path(path, key), fault[1]) if fault else None
        if fault:
            return fault
    return None


def _item_path(path: str, key: object) -> str:
    return joined_param(path, f"[{key}]" if isinstance(key, int) else printable(str(key)))


def printable(text: str) -> str:
    """`text` as it can be written back to the client in an error: a lone surrogate escaped
    (`k\\ud800`), since an answer that cannot be encoded would be a 500 instead of the 400."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def joined_param(param: str, inner: str) -> str:
    """`metadata` + `a[0]` → `metadata.a[0]`."""
    if inner and param:
        return f"{param}{inner}" if inner.startswith("[") else f"{param}.{inner}"
    return inner or param


# Every byte but quotes and brackets, for `bytes.translate` to delete.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_AS_PARENTHESES = bytes.maketrans(b"[]{}", b"()()")
# Passes of `_depth_of`'s pairwise removal (one a level) before it walks instead: a pass is one C call
# over what is left, so for the few levels of real bodies the passes cost microseconds where a walk over
# their brackets cost a millisecond (an ingest batch holds thousands), and deep text never costs more
# than this many passes.
_MAX_PASSES = 2 * MAX_JSON_DEPTH


def nesting_depth(raw: bytes) -> int:
    """How deeply the JSON text nests arrays and objects, from the bytes alone (no parsing, no
    recursion), so that a parser is never handed a body deep enough to exhaust its stack.

    Escapes are dropped first (`\\\\` then `\\"`, left to right as a JSON parser pairs them), so every
    remaining quote opens or closes a string; the text between quote pairs is dropped, and what is
    left is the brackets outside strings. All of it runs in C, but for a walk over the brackets of text
    that is unbalanced or deeper than `_MAX_PASSES`.
    """
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in raw else raw
    structure = unescaped.translate(None, _NOT_STRUCTURE)
    # Quotes alternate open and close: if removing adjacent pairs leaves none, no string held a bracket
    # and what is left is the brackets outside strings, without splitting at every quote.
    brackets = structure.replace(b'""', b"")
    if b'"' in brackets:
        brackets = b"".join(structure.split(b'"')[::2])
    return _depth_of(brackets.translate(_AS_PARENTHESES))


def _depth_of(parentheses: bytes) -> int:
    """The deepest level of `(` and `)`. Each pass removes the innermost pairs, so balanced text is
    empty after exactly as many passes as it is deep; text that is not balanced, or deeper than the
    passes allowed, is walked bracket by bracket."""
    rest, passes = parentheses, 0
    while rest and passes < _MAX_PASSES:
        shorter = rest.replace(b"()", b"")
        if len(shorter) == len(rest):
            break
        rest, passes = shorter, passes + 1
    if not rest:
        return passes
    return max(accumulate(1 if byte == 0x28 else -1 for byte in parentheses), default=0)


# A JSON string (escapes included) or one bracket: what `cut_deep` walks, strings skipped whole.
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_OPENING = frozenset(b"[{")


def cut_deep(raw: bytes, depth: int) -> tuple[bytes, list[bytes]]:
    """`raw` with every array or object that opens deeper than `depth` levels replaced by `null`, and the
    containers cut out, each cut the same way in turn (none of the texts returned nests deeper than
    `depth`), so that a parser can read all of them without deep recursion.

    If `raw` is JSON, the texts returned are; and if they all are, `raw` was: a cut is at a bracket
    outside strings of a well-formed prefix, and putting a value back where `null` stands keeps JSON
    JSON. Brackets that do not pair are a ValueError.
    """
    pieces: list[bytes] = []
    open_pieces: list[tuple[list[bytes], int]] = [([], 0)]  # per piece: its text so far, where it resumes
    level = 0
    for match in _STRING_OR_BRACKET.finditer(raw):
        at = match.start()
        bracket = raw[at]
        if bracket == 0x22:  # a string: its brackets are text
            continue
        starts_piece = level > 0 and level % depth == 0  # the container about to open is a cut one
        if bracket in _OPENING:
            if starts_piece:
                text, resume = open_pieces[-1]
                text += (raw[resume:at], b"null")
                open_pieces.append(([], at))
            level += 1
            continue
        level -= 1
        if level < 0:
            raise ValueError("a closing bracket closes nothing")
        if level > 0 and level % depth == 0:
            text, resume = open_pieces.pop()
            pieces.append(b"".join([*text, raw[resume:at + 1]]))
            open_pieces[-1] = (open_pieces[-1][0], at + 1)
    if level != 0:
        raise ValueError("an array or object is not closed")
    text, resume = open_pieces[0]
    return b"".join([*text, raw[resume:]]), pieces
