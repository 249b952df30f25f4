"""Shell syntax of the simulated phone: tokens (words with their quoting, operators) and the command tree.

The tree is what mksh scripts in CI use: lists (`;`, newline, `&`), and-or chains (`&&`, `||`), pipelines (`|`,
`!`), simple commands with redirections, and the compound commands `if/elif/else/fi`, `for NAME [in WORDS]; do ..;
done`, `while`/`until .. do .. done`, `case WORD in PAT|PAT) ..;; esac`, `{ ..; }` and `( .. )`, each of which
may carry redirections (`done < file`). Reserved words count only where a command starts, as POSIX sh says
(XCU 2.4 "Reserved Words")."""

from __future__ import annotations

from dataclasses import dataclass, field

from devlab.sim.shell_tokens import ShellSyntaxError, Word, tokenize

__all__ = ["ShellSyntaxError", "Word", "parse"]


@dataclass
class Redirect:
    fd: int
    op: str          # ">", ">>", "<", ">&"
    target: Word


@dataclass
class Simple:
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)


class Pipeline(list):
    """Commands joined by `|`; `negate`: a leading `!` inverts its status."""
    negate: bool = False


Items = list[tuple[Pipeline, str]]   # (pipeline, connector): how the NEXT item depends on this one: ; && || &


@dataclass
class If:
    clauses: list[tuple[Items, Items]]      # (condition, body) for `if` and each `elif`
    otherwise: Items | None
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Loop:
    condition: Items
    body: Items
    until: bool = False
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class For:
    name: str
    words: list[Word] | None                # None: `for x; do` walks "$@"
    body: Items
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Case:
    word: Word
    arms: list[tuple[list[Word], Items]]
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Group:
    body: Items
    subshell: bool                          # ( .. ): its own variables and cwd; { ..; }: this shell's
    redirects: list[Redirect] = field(default_factory=list)


Command = Simple | If | Loop | For | Case | Group


_RESERVED = {"if", "then", "elif", "else", "fi", "for", "in", "do", "done", "while", "until", "case", "esac", "{",
             "}", "!"}
_SEPARATORS = (";", "&", "\n")
_COMPOUND_STARTS = frozenset({"{", "if", "while", "until", "for", "case"})


def parse(line: str) -> Items:
    """[(pipeline, connector)] for a whole command line or script."""
    parser = _Parser(tokenize(line))
    items = parser.list_until(set())
    if parser.i < len(parser.tokens):
        raise ShellSyntaxError(f"syntax error: unexpected '{parser.text(parser.peek())}'")
    return items


class _Parser:
    def __init__(self, tokens: list[object]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> object | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    @staticmethod
    def text(tok: object) -> str:
        if isinstance(tok, Word):
            return "".join(t for t, _ in tok.parts)
        return "newline" if tok == "\n" else "end of input" if tok is None else str(tok)

    def at_word(self, *words: str) -> bool:
        tok = self.peek()
        return isinstance(tok, Word) and tok.plain in words

    def expect(self, word: str) -> None:
        if not self.at_word(word):
            raise ShellSyntaxError(f"syntax error: '{self.text(self.peek())}' unexpected, expected '{word}'")
        self.i += 1

    def skip_newlines(self) -> None:
        while self.peek() == "\n":
            self.i += 1

    def list_until(self, ends: set[str]) -> Items:
        """A command list up to one of the reserved words `ends` (not consumed), `)`, `;;` or the end."""
        items: Items = []
        while True:
            self.skip_newlines()
            tok = self.peek()
            if tok is None or tok in (")", ";;") or (isinstance(tok, Word) and tok.plain in ends):
                return items
            items.extend(self.and_or())
            tok = self.peek()
            if tok in _SEPARATORS:
                connector = ";" if tok == "\n" else str(tok)
                items[-1] = (items[-1][0], connector)
                self.i += 1
            elif not (tok is None or tok in (")", ";;") or (isinstance(tok, Word) and tok.plain in ends)):
                raise ShellSyntaxError(f"syntax error: unexpected '{self.text(tok)}'")

    def and_or(self) -> Items:
        items: Items = [(self.pipeline(), ";")]
        while self.peek() in ("&&", "||"):
            items[-1] = (items[-1][0], str(self.peek()))
            self.i += 1
            self.skip_newlines()
            items.append((self.pipeline(), ";"))
        return items

    def pipeline(self) -> Pipeline:
        pipe = Pipeline()
        if self.at_word("!"):
            pipe.negate = True
            self.i += 1
        pipe.append(self.command())
        while self.peek() == "|":
            self.i += 1
            self.skip_newlines()
            pipe.append(self.command())
        return pipe

    def command(self) -> Command:
        tok = self.peek()
        node: Command
        if isinstance(tok, Word) and tok.plain not in _COMPOUND_STARTS:
            return self.simple()
        if tok == "(":
            self.i += 1
            node = Group(self.list_until(set()), subshell=True)
            if self.peek() != ")":
                raise ShellSyntaxError(f"syntax error: '{self.text(self.peek())}' unexpected, expected ')'")
            self.i += 1
        elif self.at_word("{"):
            self.i += 1
            node = Group(self.list_until({"}"}), subshell=False)
            self.expect("}")
        elif self.at_word("if"):
            node = self.if_clause()
        elif self.at_word("while", "until"):
            until = self.at_word("until")
            self.i += 1
            condition = self.list_until({"do"})
            node = Loop(condition, self.do_group(), until=until)
        elif self.at_word("for"):
            node = self.for_clause()
        elif self.at_word("case"):
            node = self.case_clause()
        else:
            return self.simple()
        self.redirects(node.redirects)
        return node

    def do_group(self) -> Items:
        self.expect("do")
        body = self.list_until({"done"})
        self.expect("done")
        return body

    def if_clause(self) -> If:
        clauses: list[tuple[Items, Items]] = []
        otherwise: Items | None = None
        self.i += 1   # if
        while True:
            condition = self.list_until({"then"})
            self.expect("then")
            clauses.append((condition, self.list_until({"elif", "else", "fi"})))
            if self.at_word("elif"):
                self.i += 1
                continue
            if self.at_word("else"):
                self.i += 1
                otherwise = self.list_until({"fi"})
            self.expect("fi")
            return If(clauses, otherwise)

    def for_clause(self) -> For:
        self.i += 1   # for
        name = self.peek()
        if not isinstance(name, Word) or not name.plain or not name.plain.isidentifier():
            raise ShellSyntaxError(f"for: bad identifier '{self.text(name)}'")
        self.i += 1
        self.skip_newlines()
        words: list[Word] | None = None
        if self.at_word("in"):
            self.i += 1
            words = []
            while isinstance(self.peek(), Word):
                words.append(self.peek())   # type: ignore[arg-type]
                self.i += 1
        if self.peek() in (";", "\n"):
            self.i += 1
        self.skip_newlines()
        return For(name.plain, words, self.do_group())

    def case_clause(self) -> Case:
        self.i += 1   # case
        word = self.peek()
        if not isinstance(word, Word):
            raise ShellSyntaxError("syntax error: case needs a word")
        self.i += 1
        self.skip_newlines()
        self.expect("in")
        arms: list[tuple[list[Word], Items]] = []
        while True:
            self.skip_newlines()
            if self.at_word("esac"):
                self.i += 1
                return Case(word, arms)
            if self.peek() == "(":
                self.i += 1
            patterns: list[Word] = []
            while True:
                tok = self.peek()
                if not isinstance(tok, Word):
                    raise ShellSyntaxError(f"syntax error: '{self.text(tok)}' unexpected in a case pattern")
                patterns.append(tok)
                self.i += 1
                if self.peek() == "|":
                    self.i += 1
                    continue
                if self.peek() != ")":
                    raise ShellSyntaxError(f"syntax error: '{self.text(self.peek())}' unexpected, expected ')'")
                self.i += 1
                break
            arms.append((patterns, self.list_until({"esac"})))
            if self.peek() == ";;":
                self.i += 1
            elif not self.at_word("esac"):
                raise ShellSyntaxError(f"syntax error: '{self.text(self.peek())}' unexpected, expected ';;'")

    def redirects(self, into: list[Redirect]) -> None:
        while True:
            tok = self.peek()
            if not (isinstance(tok, str) and tok[-1] in "<>&" and tok[0].isdigit()):
                return
            self.i += 1
            target = self.peek()
            if not isinstance(target, Word):
                raise ShellSyntaxError(f"syntax error: missing redirection target after {tok.lstrip('0123456789')}")
            into.append(Redirect(int(tok.rstrip("<>&")), tok.lstrip("0123456789"), target))
            self.i += 1

    def simple(self) -> Simple:
        cmd = Simple()
        while True:
            tok = self.peek()
            if isinstance(tok, Word):
                cmd.words.append(tok)
                self.i += 1
            elif isinstance(tok, str) and tok[-1] in "<>&" and tok[0].isdigit():
                self.redirects(cmd.redirects)
            else:
                break
        if not cmd.words and not cmd.redirects:
            raise ShellSyntaxError(f"syntax error: unexpected '{self.text(self.peek())}'")
        return cmd
