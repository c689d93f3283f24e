"""The builder's shell words (BuildKit's shell/lex.go): quotes, escapes, every ``${}`` form,
word splitting, the variables a word reads, and the errors, in BuildKit's words."""

from __future__ import annotations

import pytest

from hybridock.build.dockerfile.shell import Lexer, split_words
from hybridock.errors import DockerfileError

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": "", "TWO": "a  b"}

WORDS = [
    ("plain", "hello", "hello"),
    ("single-quotes-joined", "he'll'o", "hello"),
    ("escaped-quote", "he\\'llo", "he'llo"),
    ("double-quotes-keep-single", '"it\'s"', "it's"),
    ("trailing-escape-dropped", "abc\\", "abc"),
    ("escaped-escape", "abc\\\\", "abc\\"),
    ("double-quote-escapes-dollar", '"a\\$b"', "a$b"),
    ("double-quote-keeps-other-escapes", '"a\\b"', "a\\b"),
    ("double-quote-escaped-quote", '"a\\"b"', 'a"b'),
    ("single-quote-keeps-escapes", "'a\\b'", "a\\b"),
    ("dollar-var", "$PWD/d", "/home/d"),
    ("braced-var", "${PWD}x", "/homex"),
    ("var-in-double-quotes", '"$PWD"', "/home"),
    ("var-in-single-quotes", "'$PWD'", "$PWD"),
    ("escaped-dollar", "\\$PWD", "$PWD"),
    ("unset-is-empty", "a${NOPE}b", "ab"),
    ("lone-dollar", "cost: 5$", "cost: 5$"),
    ("dollar-not-a-name", "$.x", "$.x"),
    ("digits-name", "$12x", "x"),
    ("special-parameter", "$$x", "x"),
    ("unicode-value", "${KOREAN}!", "한국어!"),
    ("blanks-kept", "a  b", "a  b"),
    ("default-colon-unset", "${NOPE:-x}", "x"),
    ("default-colon-empty", "${NULL:-x}", "x"),
    ("default-colon-set", "${PWD:-x}", "/home"),
    ("default-unset", "${NOPE-x}", "x"),
    ("default-empty-is-set", "${NULL-x}", ""),
    ("default-word-expanded", "${NOPE:-$SHELL-ish}", "bash-ish"),
    ("default-word-quoted", "${NOPE:-'a b'}", "a b"),
    ("alternative-colon-set", "${PWD:+yes}", "yes"),
    ("alternative-colon-empty", "${NULL:+yes}", ""),
    ("alternative-set-empty", "${NULL+yes}", "yes"),
    ("alternative-unset", "${NOPE+yes}", ""),
    ("required-set", "${PWD:?gone}", "/home"),
    ("required-empty-allowed", "${NULL?gone}", ""),
    ("prefix-shortest", "${PWD#*/}", "home"),
    ("prefix-longest", "${SHELL##*a}", "sh"),
    ("prefix-no-match", "${PWD#x}", "/home"),
    ("prefix-escaped-star", "${V#\\*}", "*x"),
    ("suffix-shortest", "${V%\\**}", "*"),
    ("suffix-longest", "${W%%o*}", "f"),
    ("suffix-question", "${W%?}", "fo"),
    ("suffix-empty-pattern", "${W%}", "foo"),
    ("replace-first", "${P/\\//_}", "_a/b"),
    ("replace-all", "${P//\\//_}", "_a_b"),
    ("replace-wildcard", "${P/a*/X}", "/X"),
    ("replace-unset", "${NOPE/a/b}", ""),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in WORDS], ids=[c[0] for c in WORDS])
def test_process_word(source: str, expected: str) -> None:
    env = {**ENV, "V": "**x", "W": "foo", "P": "/a/b"}
    assert Lexer().process_word(source, env) == expected


SPLITS = [
    ("blanks", "a b   c", ["a", "b", "c"]),
    ("quoted-blank", 'a "b c" d', ["a", "b c", "d"]),
    ("escaped-blank", "a\\ b c", ["a b", "c"]),
    ("expansion-splits", "x$TWO", ["xa", "b"]),
    ("quoted-expansion-does-not", '"x$TWO"', ["xa  b"]),
    ("empty-quotes-vanish", 'a "" b', ["a", "b"]),
    ("leading-and-trailing", "  a  ", ["a"]),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in SPLITS], ids=[c[0] for c in SPLITS])
def test_process_words(text: str, expected: list[str]) -> None:
    assert Lexer().process_words(text, ENV) == expected


ERRORS = [
    (
        "open-single-quote",
        "he'llo",
        "unexpected end of statement while looking for matching single-quote",
    ),
    (
        "open-double-quote",
        '"abc\\"',
        "unexpected end of statement while looking for matching double-quote",
    ),
    ("missing-brace", "${PWD", "syntax error: missing '}'"),
    ("missing-brace-after-word", "${PWD:-x", "syntax error: missing '}'"),
    ("dollar-brace-at-end", "${", "syntax error: missing '}'"),
    ("empty-braces", "${}", "syntax error: bad substitution"),
    ("brace-colon", "${:x}", "syntax error: bad substitution"),
    ("assign-form", "${X=1}", "unsupported modifier (=) in substitution"),
    ("colon-assign-form", "${X:=1}", "unsupported modifier (:=) in substitution"),
    ("required-unset", "${NOPE?}", "NOPE: is not allowed to be unset"),
    ("required-empty", "${NULL:?}", "NULL: is not allowed to be empty"),
    ("required-message", "${NOPE:?set it $SHELL}", "NOPE: set it bash"),
    (
        "bad-pattern-escape",
        "${PWD#\\x}",
        "invalid pattern (\\x) in substitution: invalid escape '\\x'",
    ),
]


@pytest.mark.parametrize(("source", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors(source: str, message: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        Lexer().process_word(source, ENV)
    quoted = source.replace("\\", "\\\\").replace('"', '\\"')
    assert str(caught.value) == f'failed to process "{quoted}": {message}'


def test_backtick_escape() -> None:
    lexer = Lexer("`")
    assert lexer.process_word("a`$PWD`\\b", ENV) == "a$PWD\\b"
    assert lexer.process_word('"c:\\dir `"x`""', ENV) == 'c:\\dir "x"'
    assert lexer.process_words("a` b c", ENV) == ["a b", "c"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("$A ${B} ${C:-$D} '$E' \"$F\" \\$G", {"A", "B", "C", "D", "F"}),
        ("${H#$I} ${J/$K/$L}", {"H", "I", "J", "K", "L"}),
        ("plain", set()),
        ("$A ${unclosed", {"A"}),
    ],
    ids=["forms-and-quotes", "patterns", "none", "stops-at-an-error"],
)
def test_used_variables(text: str, names: set[str]) -> None:
    assert Lexer().used_variables(text) == names


def test_raw_modes_keep_what_the_heredoc_finder_needs() -> None:
    raw = Lexer(raw_quotes=True, raw_escapes=True, skip_unset=True)
    assert raw.process_words("cat <<'EOF' $X ${Y:-z} a\\ b", {}) == [
        "cat",
        "<<'EOF'",
        "$X",
        "${Y:-z}",
        "a\\ b",
    ]


SPLIT_WORDS = [
    ("pairs", 'a=1 "b c"="d e" f=\'$G\'', ["a=1", '"b c"="d e"', "f='$G'"]),
    ("escaped-blank", "a=b\\ c d", ["a=b\\ c", "d"]),
    ("escaped-quote", 'a=\\"b c', ['a=\\"b', "c"]),
    ("empty-quoted", 'a "" b', ["a", '""', "b"]),
    ("trailing-escape", "a\\", ["a"]),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in SPLIT_WORDS], ids=[c[0] for c in SPLIT_WORDS]
)
def test_split_words_keeps_quotes_for_later_expansion(text: str, expected: list[str]) -> None:
    assert split_words(text) == expected
