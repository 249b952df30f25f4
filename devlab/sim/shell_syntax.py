"""Shell syntax of the simulated phone: tokens (words with their quoting, operators) and the command list."""

from __future__ import annotations

from dataclasses import dataclass, field

_OPERATORS = ("&&", "||", ";", "|", "&", "\n")


class ShellSyntaxError(Exception):
    pass


@dataclass
class Word:
    # segments of (text, mode): "lit" (quoted '..' or \x: as is), "dq" ("..": $ expanded), "raw" ($ and globs)
    parts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, text: str, mode: str) -> None:
        self.parts.append((text, mode))

    @property
    def plain(self) -> str | None:
        """The text when the word is unquoted and has no `$` (for operators like `2>&1` and assignments)."""
        if all(mode == "raw" for _, mode in self.parts):
            return "".join(text for text, _ in self.parts)
        return None


@dataclass
class Redirect:
    fd: int
    op: str          # ">", ">>", "<", ">&"
    target: Word


@dataclass
class Simple:
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)


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
        elif any(line.startswith(op, i) for op in _OPERATORS):
            finish()
            op = next(op for op in _OPERATORS if line.startswith(op, i))
            tokens.append(";" if op == "\n" else op)
            i += len(op)
        else:
            start = i
            while i < n and line[i] not in " \t'\"\\<>;&|\n":
                i += 1
            word = word or Word()
            word.add(line[start:i], "raw")
    finish()
    return tokens


def parse(line: str) -> list[tuple[list[Simple], str]]:
    """[(pipeline, connector)] where connector is how the NEXT item depends on this one: ';', '&&', '||', '&'."""
    items: list[tuple[list[Simple], str]] = []
    pipeline: list[Simple] = []
    cmd = Simple()
    tokens = tokenize(line)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if isinstance(tok, Word):
            cmd.words.append(tok)
        elif tok[-1] in "<>&" and tok[0].isdigit():
            if i + 1 >= len(tokens) or not isinstance(tokens[i + 1], Word):
                raise ShellSyntaxError(f"syntax error: missing redirection target after {tok[1:]}")
            cmd.redirects.append(Redirect(int(tok[:-2] if tok.endswith((">>", ">&", "<&")) else tok[:-1]),
                                          tok.lstrip("0123456789"), tokens[i + 1]))
            i += 1
        elif tok == "|":
            if not cmd.words and not cmd.redirects:
                raise ShellSyntaxError("syntax error: unexpected '|'")
            pipeline.append(cmd)
            cmd = Simple()
        else:  # ; && || &
            if cmd.words or cmd.redirects:
                pipeline.append(cmd)
            elif pipeline or tok != ";":
                raise ShellSyntaxError(f"syntax error: unexpected '{tok}'")
            if pipeline:
                items.append((pipeline, tok))
            pipeline, cmd = [], Simple()
        i += 1
    if cmd.words or cmd.redirects:
        pipeline.append(cmd)
    elif pipeline:
        raise ShellSyntaxError("syntax error: unexpected end of line after '|'")
    if pipeline:
        items.append((pipeline, ";"))
    return items
