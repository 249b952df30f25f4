"""Parameter expansion and field splitting of the simulated shell's words."""

from __future__ import annotations

import re
from typing import Callable

from devlab.sim.shell_syntax import Word

# $? $! $$ $# $@ $* $0..$9 ${NAME} $NAME
VAR = re.compile(r"\$(\?|!|\$|#|@|\*|[0-9]|\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")


def substitute(text: str, value_of: Callable[[str], str]) -> str:
    return VAR.sub(lambda match: value_of(match.group(1).strip("{}")), text)


def split_fields(word: Word, value_of: Callable[[str], str], part_of: Callable[[str, str], str]) -> list[str]:
    """The word's fields: an unquoted expansion (`$X`, `$(cmd)`) is split on blanks (IFS), quoted text never; an
    unquoted expansion that is empty and alone gives no field at all (POSIX XCU 2.6.5, 2.6.7). `part_of(text,
    mode)`: the text of a quoted or substituted part."""
    fields: list[str] = []
    current: str | None = None

    def add_value(value: str) -> None:
        nonlocal current
        pieces = value.split()
        if not pieces:
            if value and current is not None:   # only blanks: ends the field
                fields.append(current)
                current = None
            return
        if value[0].isspace() and current is not None:
            fields.append(current)
            current = None
        current = (current or "") + pieces[0]
        for piece in pieces[1:]:
            fields.append(current)
            current = piece
        if value[-1].isspace():
            fields.append(current)
            current = None

    for text, mode in word.parts:
        if mode == "sub":
            add_value(part_of(text, mode))
            continue
        if mode != "raw":
            current = (current or "") + part_of(text, mode)
            continue
        position = 0
        for match in VAR.finditer(text):
            if match.start() > position:
                current = (current or "") + text[position:match.start()]
            position = match.end()
            add_value(value_of(match.group(1).strip("{}")))
        if position < len(text):
            current = (current or "") + text[position:]
    if current is not None:
        fields.append(current)
    return fields
