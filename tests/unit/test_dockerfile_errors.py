"""Each Dockerfile the builder refuses, in BuildKit's words, with the line it names
(``dockerfile parse error on line N: ...``)."""

from __future__ import annotations

import pytest

from hybridock.build.dockerfile.parser import parse
from hybridock.errors import DockerfileError

#: blocks of three lines: the case's name and line, its Dockerfile (``\n`` escapes), the message
TABLE = r"""
unknown-instruction 2
FROM scratch\nFOO bar\n
unknown instruction: FOO

unknown-flag 2
FROM scratch\nRUN --bogus=1 true\n
unknown flag: bogus

flag-on-env 2
FROM scratch\nENV --x=1 A=b\n
unknown flag: x

duplicate-flag 2
FROM scratch\nCOPY --from=a --from=b x y\n
duplicate flag specified: from

flag-needs-value 2
FROM scratch\nCOPY --chown x y\n
missing a value on flag: chown

bool-flag 2
FROM scratch\nCOPY --link=maybe x y\n
expecting boolean value for flag link, not: maybe

from-two-words 1
FROM a b\n
FROM requires either one or three arguments

from-no-as 1
FROM a is b\n
FROM requires either one or three arguments

stage-name 1
FROM a AS 1st\n
invalid name for build stage: "1st", name can't start with a number or contain symbols

before-from 2
ARG A\nRUN true\n
no build stage in current context

env-blank-name 2
FROM scratch\nENV =x\n
ENV names can not be blank

env-one-word 2
FROM scratch\nENV A\n
ENV must have two arguments

env-empty 2
FROM scratch\nENV\n
ENV requires at least one argument

arg-blank-name 1
ARG =x\nFROM scratch\n
ARG names can not be blank

label-no-equals 2
FROM scratch\nLABEL a=1 b\n
Syntax error - can't find = in "b". Must be of the form: name=value

copy-one-argument 2
FROM scratch\nCOPY x\n
COPY requires at least two arguments, but only one was provided. Destination could not be determined

copy-heredoc-destination 2
FROM scratch\nCOPY x <<EOF\nEOF\n
COPY cannot accept a heredoc as a destination

workdir-none 2
FROM scratch\nWORKDIR\n
WORKDIR requires exactly one argument

user-none 2
FROM scratch\nUSER\n
USER requires exactly one argument

expose-none 2
FROM scratch\nEXPOSE\n
EXPOSE requires at least one argument

volume-empty 2
FROM scratch\nVOLUME ["/a", " "]\n
VOLUME specified can not be an empty string

shell-not-json 2
FROM scratch\nSHELL bash -c\n
SHELL requires the arguments to be in JSON form

shell-empty 2
FROM scratch\nSHELL []\n
SHELL requires at least one argument

onbuild-onbuild 2
FROM scratch\nONBUILD ONBUILD RUN x\n
Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed

onbuild-from 2
FROM scratch\nONBUILD from x\n
FROM isn't allowed as an ONBUILD trigger

health-type 2
FROM scratch\nHEALTHCHECK RUN x\n
Unknown type "RUN" in HEALTHCHECK (try CMD)

health-none-args 2
FROM scratch\nHEALTHCHECK NONE x\n
HEALTHCHECK NONE takes no arguments

health-no-command 2
FROM scratch\nHEALTHCHECK CMD\n
Missing command after HEALTHCHECK CMD

health-duration 2
FROM scratch\nHEALTHCHECK --interval=5x CMD x\n
time: invalid duration "5x"

health-short 2
FROM scratch\nHEALTHCHECK --timeout=1us CMD x\n
Interval "timeout" cannot be less than 1ms

health-retries 2
FROM scratch\nHEALTHCHECK --retries=x CMD x\n
strconv.ParseInt: parsing "x": invalid syntax

health-negative 2
FROM scratch\nHEALTHCHECK --retries=-1 CMD x\n
--retries cannot be negative (-1)

run-network 2
FROM scratch\nRUN --network=bridge x\n
unsupported network mode "bridge"

mount-type 2
FROM scratch\nRUN --mount=type=nfs,target=/a x\n
unsupported mount type "nfs"

mount-key 2
FROM scratch\nRUN --mount=target=/a,colour=red x\n
unexpected key 'colour' in 'colour=red'

mount-field 2
FROM scratch\nRUN --mount=target=/a,shiny x\n
invalid field 'shiny' must be a key=value pair

mount-target 2
FROM scratch\nRUN --mount=type=cache x\n
mount target must be specified

mount-mode-on-bind 2
FROM scratch\nRUN --mount=target=/a,mode=0700 x\n
mode not allowed for "bind" type mounts

mount-bad-mode 2
FROM scratch\nRUN --mount=type=cache,target=/a,mode=9 x\n
invalid value 9 for mode

mount-sharing 2
FROM scratch\nRUN --mount=type=cache,target=/a,sharing=all x\n
unsupported sharing value "all"

mount-size-on-cache 2
FROM scratch\nRUN --mount=type=cache,target=/a,size=1m x\n
unexpected key 'size' for mount type 'cache'

mount-required 2
FROM scratch\nRUN --mount=target=/a,required x\n
unexpected key 'required' for mount type 'bind'

mount-ro-value 2
FROM scratch\nRUN --mount=target=/a,ro=perhaps x\n
invalid value for ro: perhaps

mount-from-variable 2
FROM scratch\nRUN --mount=from=$X,target=/a x\n
'from' doesn't support variable expansion, define alias stage instead

secret-from 2
FROM scratch\nRUN --mount=type=secret,id=a,from=b x\n
secret mount should not have a from

secret-nothing 2
FROM scratch\nRUN --mount=type=secret x\n
invalid secret mount. one of source, target required

secret-source-and-id 2
FROM scratch\nRUN --mount=type=secret,id=a,source=b x\n
both source and id can't be set

unterminated-heredoc 2
FROM scratch\nRUN <<EOF\necho\nEO\n
unterminated heredoc

duplicate-directive 2
# escape=\\\n# escape=`\nFROM scratch\n
only one escape parser directive can be used

bad-escape 1
# escape=x\nFROM scratch\n
invalid escape token 'x' does not match ` or \

comments-only 3
# just\n\n# comments\n
file with no instructions

error-after-continuation 4
FROM scratch\nRUN a \\\n b\nNOPE\n
unknown instruction: NOPE

error-after-heredoc 5
FROM scratch\nRUN <<EOF\nx\nEOF\nnope x\n
unknown instruction: nope
"""
ERRORS = [
    pytest.param(text.encode().decode("unicode_escape"), int(line), message, id=name)
    for (name, line), text, message in (
        (head.split(), text, message)
        for head, text, message in (block.splitlines() for block in TABLE.strip().split("\n\n"))
    )
]


@pytest.mark.parametrize(("text", "line", "message"), ERRORS)
def test_errors_name_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        parse(text)
    assert str(caught.value) == f"dockerfile parse error on line {line}: {message}"
    assert caught.value.line == line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the Dockerfile cannot be empty"),
        ("ARG A=1\n", "dockerfile contains no stages to build"),
    ],
    ids=["empty", "no-stage"],
)
def test_errors_without_a_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=f"^{message}$"):
        parse(text)
