"""Shell words as BuildKit's ``shell/lex.go`` reads them: quotes removed, the escape character
(``\\`` or the ``# escape=`` one) honoured, ``$VAR`` and ``${VAR...}`` expanded from the
environment the caller gives, words split on unquoted blanks (also those an expansion brings).

Expansion forms: ``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR-word}``, ``${VAR:+word}``,
``${VAR+word}``, ``${VAR:?message}``, ``${VAR?message}``, ``${VAR#pattern}``,
``${VAR##pattern}``, ``${VAR%pattern}``, ``${VAR%%pattern}``, ``${VAR/pattern/word}`` and
``${VAR//pattern/word}``; patterns know ``*`` and ``?``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping

from hybridock.errors import DockerfileError

_SPECIAL_PARAMETERS = "@*#?-$!0"


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (close enough: JSON's escaping of the same characters)."""
    return json.dumps(text, ensure_ascii=False)


class _Words:
    """The words of one pass: quoted text and escaped characters never split a word."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""
        self.in_word = False

    def add_char(self, char: str) -> None:
        if char.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(char)

    def add_text(self, text: str) -> None:
        for char in text:
            self.add_char(char)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def done(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
        return self.words


class _Scan:
    def __init__(self, lexer: Lexer, text: str, env: Mapping[str, str]) -> None:
        self.lexer = lexer
        self.text = text
        self.position = 0
        self.env = env
        self.read: set[str] = set()

    def peek(self) -> str:
        return self.text[self.position : self.position + 1]

    def next(self) -> str:
        char = self.peek()
        self.position += len(char)
        return char

    def until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Characters up to ``stop`` (consumed; "" for the end of the text) as one string and
        as words."""
        result: list[str] = []
        words = _Words()
        escape = self.lexer.escape
        while self.peek():
            char = self.peek()
            if stop and char == stop:
                self.next()
                return "".join(result), words.done()
            if char == "$":
                value = self.dollar()
                result.append(value)
                words.add_text(value)
            elif char in "'\"" and not self.lexer.skip_quotes:
                value = self.single_quoted() if char == "'" else self.double_quoted()
                result.append(value)
                words.add_raw(value)
            else:
                char = self.next()
                if char == escape:
                    if raw_escapes:
                        words.add_raw(char)
                        result.append(char)
                    char = self.next()
                    if not char:
                        break
                    words.add_raw(char)
                else:
                    words.add_char(char)
                result.append(char)
        if stop:
            raise _Failure(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.done()

    def single_quoted(self) -> str:
        raw = self.lexer.raw_quotes
        opening = self.next()
        result = [opening] if raw else []
        while True:
            char = self.next()
            if not char:
                raise _Failure(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if char == "'":
                return "".join([*result, char] if raw else result)
            result.append(char)

    def double_quoted(self) -> str:
        raw = self.lexer.raw_quotes
        opening = self.next()
        result = [opening] if raw else []
        escape = self.lexer.escape
        while True:
            char = self.peek()
            if not char:
                raise _Failure(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if char == '"':
                self.next()
                return "".join([*result, char] if raw else result)
            if char == "$":
                result.append(self.dollar())
                continue
            char = self.next()
            if char == escape:
                if self.lexer.raw_escapes:
                    result.append(char)
                following = self.peek()
                if not following:
                    continue
                if following in ('"', "$", escape):
                    char = self.next()
            result.append(char)

    def name(self) -> str:
        first = self.peek()
        if first.isdigit():
            digits = ""
            while self.peek().isdigit():
                digits += self.next()
            return digits
        if first and first in _SPECIAL_PARAMETERS:
            return self.next()
        name = ""
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            name += self.next()
        return name

    def lookup(self, name: str) -> tuple[str, bool]:
        self.read.add(name)
        if name in self.env:
            return self.env[name], True
        return "", False

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            return value if found or not self.lexer.skip_unset else f"${name}"
        self.next()
        if not self.peek():
            raise _Failure("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise _Failure("syntax error: bad substitution")
        name = self.name()
        modifier = self.next()
        if modifier == "}":
            value, found = self.lookup(name)
            return value if found or not self.lexer.skip_unset else f"${{{name}}}"
        if not modifier:
            raise _Failure("syntax error: missing '}'")
        if modifier == "/":
            return self.replace(name)
        return self.modified(name, modifier)

    def modified(self, name: str, modifier: str) -> str:
        """``${name:-word}`` and the other forms with a word, after the modifier's first
        character."""
        null_is_unset = modifier == ":"
        operator = self.next() if null_is_unset else modifier
        spelled = modifier + operator if null_is_unset else modifier
        if operator not in ("-", "+", "?", "#", "%"):
            raise _Failure(f"unsupported modifier ({spelled}) in substitution")
        try:
            word, _ = self.until("}", raw_escapes=operator in "#%")
        except _Failure:
            if not self.peek():
                raise _Failure("syntax error: missing '}'") from None
            raise
        value, found = self.lookup(name)
        if self.lexer.skip_unset and not found:
            return f"${{{name}{spelled}{word}}}"
        empty = not found or (null_is_unset and not value)
        if operator == "-":
            return word if empty else value
        if operator == "+":
            return "" if empty else word
        if operator == "?":
            if empty:
                unset = "is not allowed to be unset" if not found else "is not allowed to be empty"
                raise _Failure(f"{name}: {word or unset}")
            return value
        longest = word.startswith(operator)
        pattern = _pattern(word[1:] if longest else word)
        return _trim(value, pattern, suffix=operator == "%", longest=longest)

    def replace(self, name: str) -> str:
        every = self.peek() == "/"
        if every:
            self.next()
        try:
            pattern, _ = self.until("/", raw_escapes=True)
            replacement, _ = self.until("}", raw_escapes=True)
        except _Failure:
            if not self.peek():
                raise _Failure("syntax error: missing '}'") from None
            raise
        value, _found = self.lookup(name)
        compiled = re.compile(_pattern(pattern))
        return compiled.sub(lambda _match: replacement, value, count=0 if every else 1)


class _Failure(Exception):
    pass


def _pattern(word: str) -> str:
    """A shell pattern (``*``, ``?``, escapes) as a regular expression."""
    out: list[str] = []
    index = 0
    while index < len(word):
        char = word[index]
        index += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\":
            following = word[index : index + 1]
            index += 1
            if following in ("}", "/", "*", "?", "\\"):
                out.append(re.escape(following))
            else:
                raise _Failure(
                    f"invalid pattern ({word}) in substitution: invalid escape '\\{following}'"
                )
        else:
            out.append(re.escape(char))
    return "".join(out)


def _trim(value: str, pattern: str, *, suffix: bool, longest: bool) -> str:
    compiled = re.compile(pattern, re.DOTALL)
    cuts = range(len(value) + 1)
    if suffix:
        for start in cuts if longest else reversed(cuts):
            if compiled.fullmatch(value, start):
                return value[:start]
    else:
        for end in reversed(cuts) if longest else cuts:
            if compiled.fullmatch(value, 0, end):
                return value[end:]
    return value


class Lexer:
    """BuildKit's ``shell.Lex`` for one escape character."""

    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset: bool = False,
        skip_quotes: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes  # keep the quotes in the result
        self.raw_escapes = raw_escapes  # keep the escape characters in the result
        self.skip_unset = skip_unset  # leave $VAR of an unset VAR as written
        self.skip_quotes = skip_quotes  # quotes are ordinary characters

    def _process(self, text: str, env: Mapping[str, str]) -> tuple[str, list[str], set[str]]:
        scan = _Scan(self, text, env)
        try:
            word, words = scan.until("", self.raw_escapes)
        except _Failure as failure:
            raise DockerfileError(f"failed to process {go_quote(text)}: {failure}") from None
        return word, words, scan.read

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """One word: quotes removed, escapes resolved, variables expanded; blanks kept."""
        return self._process(word, env)[0]

    def process_words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """The words of ``text`` after expansion (an expansion's blanks split words too)."""
        return self._process(text, env)[1]

    def used_variables(self, text: str) -> set[str]:
        """The names ``text`` reads, set or not (quoted in single quotes: not read)."""
        scan = _Scan(self, text, {})
        with contextlib.suppress(_Failure):
            scan.until("", self.raw_escapes)
        return scan.read


def split_words(text: str, escape: str = "\\") -> list[str]:
    """BuildKit's ``parseWords``: whitespace-separated words with quotes and escapes kept
    (``a="b c" d`` is two words), the split ENV, LABEL and ARG make before expansion."""
    words: list[str] = []
    word = ""
    quote = ""
    blank_ok = False
    index = 0
    while index < len(text):
        char = text[index]
        index += 1
        if quote:
            if char == quote:
                quote = ""
            elif char == escape and quote != "'":
                if index == len(text):
                    continue
                word += char
                char = text[index]
                index += 1
            word += char
            continue
        if char.isspace():
            if blank_ok or word:
                words.append(word)
            word, blank_ok = "", False
            continue
        if char in "'\"":
            quote, blank_ok = char, True
        elif char == escape:
            if index == len(text):
                continue
            word += char
            char = text[index]
            index += 1
        word += char
    if blank_ok or word:
        words.append(word)
    return words
