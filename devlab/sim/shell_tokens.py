"""Tokens of the simulated shell: words with their quoting (and command substitutions), and operators."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_OPERATORS = ("&&", "||", ";;", ";", "|", "&", "\n", "(", ")")
# an unquoted run up to the next blank, quote, operator, backquote or `$(` (one regex: the tokenizer is on the path
# of every command devlab sends)
_RAW_RUN = re.compile(r"(?:[^ \t'\"\\<>;&|\n()`$]|\$(?!\())+")


class ShellSyntaxError(Exception):
    pass


@dataclass
class Word:
    # segments of (text, mode): "lit" (quoted '..' or \x: as is), "dq" ("..": $ expanded), "raw" ($ and globs),
    # "sub" / "dqsub" (the command of a $(..) or `..`, unquoted: its output field-split, or inside "..")
    parts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, text: str, mode: str) -> None:
        self.parts.append((text, mode))

    @property
    def plain(self) -> str | None:
        """The text when the word is unquoted and has no `$` (for operators like `2>&1` and assignments)."""
        parts = self.parts
        if len(parts) == 1:
            return parts[0][0] if parts[0][1] == "raw" else None
        if all(mode == "raw" for _, mode in parts):
            return "".join(text for text, _ in parts)
        return None


# ---------------------------------------------------------------------------------------------------- tokenizer
def tokenize(line: str) -> list[object]:
    """Words (Word) and operators (str: the _OPERATORS and redirections `>`, `>>`, `<`, `N>`, `N>>`, `N>&`)."""
    tokens: list[object] = []
    word: Word | None = None
    i, n = 0, len(line)

    def finish() -> None:
        nonlocal word
        if word is not None:
            tokens.append(word)
            word = None

    while i < n:
        ch = line[i]
        if ch in " \t":
            finish()
            i += 1
        elif ch == "#" and word is None:
            while i < n and line[i] != "\n":
                i += 1
        elif ch == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated '")
            word = word or Word()
            word.add(line[i + 1:end], "lit")
            i = end + 1
        elif ch == '"':
            i += 1
            buf: list[str] = []
            word = word or Word()
            while True:
                if i >= n:
                    raise ShellSyntaxError('unterminated "')
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if line.startswith("$(", i) or c == "`":
                    if buf:
                        word.add("".join(buf), "dq")
                        buf = []
                    end = _substitution_end(line, i)
                    word.add(line[i + 2:end] if c == "$" else line[i + 1:end], "dqsub")
                    i = end + 1
                    continue
                if c == "\\" and i + 1 < n and line[i + 1] in '"\\$`\n':
                    if buf:
                        word.add("".join(buf), "dq")
                        buf = []
                    word.add(line[i + 1], "lit")
                    i += 2
                    continue
                buf.append(c)
                i += 1
            word.add("".join(buf), "dq")
        elif line.startswith("$(", i) or ch == "`":
            end = _substitution_end(line, i)
            word = word or Word()
            word.add(line[i + 2:end] if ch == "$" else line[i + 1:end], "sub")
            i = end + 1
        elif ch == "\\":
            word = word or Word()
            if i + 1 < n and line[i + 1] != "\n":
                word.add(line[i + 1], "lit")
            i += 2
        elif ch in "<>":
            fd = ""
            if word is not None and word.plain is not None and word.plain.isdigit():
                fd, word = word.plain, None
            finish()
            op = ch
            if line.startswith(">>", i):
                op = ">>"
            elif line.startswith(">&", i) or line.startswith("<&", i):
                op = ch + "&"
            i += len(op)
            tokens.append((fd or ("0" if ch == "<" else "1")) + op)
        elif ch in "&|;\n()":   # every operator starts with one of these
            finish()
            op = next(op for op in _OPERATORS if line.startswith(op, i))
            tokens.append(op)
            i += len(op)
        else:
            end = _RAW_RUN.match(line, i)
            stop = end.end() if end and end.end() > i else i + 1
            word = word or Word()
            word.add(line[i:stop], "raw")
            i = stop
    finish()
    return tokens


def _substitution_end(line: str, start: int) -> int:
    """The index of the `)` that closes the $( at `start` (quotes and nested parentheses skipped), or of the
    closing backquote."""
    if line[start] == "`":
        end = line.find("`", start + 1)
        if end < 0:
            raise ShellSyntaxError("unterminated `")
        return end
    depth, i = 1, start + 2
    while i < len(line):
        ch = line[i]
        if ch in "'\"":
            close = line.find(ch, i + 1)
            if close < 0:
                break
            i = close
        elif ch == "\\":
            i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellSyntaxError("unterminated $(")
