"""Dockerfiles to typed instructions as BuildKit's frontend reads them: every instruction and
flag, directives, continuations, JSON and shell forms, heredocs, and each refusal with its
line in BuildKit's words."""

from __future__ import annotations

import pytest

from hybridock.build.dockerfile import instructions as ins
from hybridock.build.dockerfile.heredocs import Script, run_script
from hybridock.build.dockerfile.parser import parse


def only(text: str) -> ins.Instruction:
    """The one instruction after ``FROM scratch``."""
    (stage,) = parse(f"FROM scratch\n{text}\n").stages
    (instruction,) = stage.instructions
    return instruction


def fields(instruction: ins.Instruction) -> dict[str, object]:
    shown = dict(vars(instruction))
    del shown["line"], shown["original"]
    return shown


def shell(text: str) -> ins.Command:
    return ins.Command((text,), shell_form=True)


def exec_form(*words: str) -> ins.Command:
    return ins.Command(words, shell_form=False)


INSTRUCTIONS = [
    ("run-shell", "RUN echo $HOME", ins.Run, {"command": shell("echo $HOME")}),
    ("run-exec", 'RUN ["echo", "a b"]', ins.Run, {"command": exec_form("echo", "a b")}),
    ("run-bad-json-is-shell", "RUN [echo, a]", ins.Run, {"command": shell("[echo, a]")}),
    ("run-json-non-strings", 'RUN ["a", 1]', ins.Run, {"command": shell('["a", 1]')}),
    ("run-network", "RUN --network=none true", ins.Run, {"network": "none"}),
    ("run-security", "RUN --security=insecure true", ins.Run, {"security": "insecure"}),
    (
        "cmd-shell",
        "CMD nginx -g 'daemon off;'",
        ins.Cmd,
        {"command": shell("nginx -g 'daemon off;'")},
    ),
    ("cmd-exec", 'CMD ["nginx"]', ins.Cmd, {"command": exec_form("nginx")}),
    ("cmd-empty-exec", "CMD []", ins.Cmd, {"command": exec_form()}),
    (
        "entrypoint",
        'ENTRYPOINT ["/init", "--"]',
        ins.Entrypoint,
        {"command": exec_form("/init", "--")},
    ),
    (
        "entrypoint-empty",
        "ENTRYPOINT",
        ins.Entrypoint,
        {"command": ins.Command((), shell_form=True)},
    ),
    ("shell", 'SHELL ["/bin/bash", "-c"]', ins.Shell, {"shell": ("/bin/bash", "-c")}),
    (
        "env-pairs",
        'ENV A=1 B="two words" C=$A',
        ins.Env,
        {"pairs": (("A", "1"), ("B", '"two words"'), ("C", "$A"))},
    ),
    (
        "env-legacy",
        "ENV GREETING hello   world",
        ins.Env,
        {"pairs": (("GREETING", "hello   world"),)},
    ),
    ("label", 'LABEL "a b"=c d=""', ins.Label, {"pairs": (('"a b"', "c"), ("d", '""'))}),
    ("arg-forms", "ARG A B=2 C=", ins.Arg, {"pairs": (("A", None), ("B", "2"), ("C", ""))}),
    ("workdir", "WORKDIR /srv/$APP", ins.Workdir, {"path": "/srv/$APP"}),
    ("workdir-blanks-kept", "WORKDIR /a b", ins.Workdir, {"path": "/a b"}),
    ("user", "USER app:app", ins.User, {"user": "app:app"}),
    ("expose-sorted", "EXPOSE 8080 53/udp", ins.Expose, {"ports": ("53/udp", "8080")}),
    ("volume-words", "VOLUME /a /b", ins.Volume, {"paths": ("/a", "/b")}),
    ("volume-json", 'VOLUME ["/a b"]', ins.Volume, {"paths": ("/a b",)}),
    ("stopsignal", "STOPSIGNAL SIGQUIT", ins.StopSignal, {"signal": "SIGQUIT"}),
    ("maintainer", "MAINTAINER Jane <j@x>", ins.Maintainer, {"name": "Jane <j@x>"}),
    ("onbuild", "ONBUILD run echo hi", ins.Onbuild, {"trigger": "run echo hi"}),
    ("healthcheck-none", "HEALTHCHECK none", ins.Healthcheck, {"test": ("NONE",)}),
    (
        "healthcheck-flags",
        "HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1s "
        "--retries=3 CMD curl -f x",
        ins.Healthcheck,
        {
            "test": ("CMD-SHELL", "curl -f x"),
            "interval": 90 * 10**9,
            "timeout": 5 * 10**8,
            "start_period": 2 * 10**9,
            "start_interval": 10**9,
            "retries": 3,
        },
    ),
    ("healthcheck-exec", 'HEALTHCHECK cmd ["true"]', ins.Healthcheck, {"test": ("CMD", "true")}),
    ("copy", "COPY a b /dst/", ins.Copy, {"sources": ("a", "b"), "destination": "/dst/"}),
    ("copy-json", 'COPY ["a b", "/c d"]', ins.Copy, {"sources": ("a b",), "destination": "/c d"}),
    (
        "copy-flags",
        "COPY --from=build --chown=1:2 --chmod=0755 --link --parents --exclude=*.o --exclude=x "
        "a /b",
        ins.Copy,
        {
            "from_stage": "build",
            "chown": "1:2",
            "chmod": "0755",
            "link": True,
            "parents": True,
            "excludes": ("*.o", "x"),
        },
    ),
    ("copy-link-false", "COPY --link=false a /b", ins.Copy, {"link": False}),
    ("copy-quoted-flag", 'COPY --chown="a b" x /y', ins.Copy, {"chown": "a b"}),
    (
        "add-flags",
        "ADD --checksum=sha256:00 --keep-git-dir --chown=app https://x/y.tgz /z",
        ins.Copy,
        {"add": True, "checksum": "sha256:00", "keep_git_dir": True, "chown": "app"},
    ),
    ("flags-end-at-double-dash", "COPY -- --odd /dst", ins.Copy, {"sources": ("--odd",)}),
]


@pytest.mark.parametrize(
    ("text", "kind", "expected"), [c[1:] for c in INSTRUCTIONS], ids=[c[0] for c in INSTRUCTIONS]
)
def test_instruction(text: str, kind: type, expected: dict[str, object]) -> None:
    instruction = only(text)
    assert type(instruction) is kind
    assert {key: fields(instruction)[key] for key in expected} == expected
    assert (instruction.line, instruction.original) == (2, text)


def test_from_forms_meta_args_and_stages() -> None:
    dockerfile = parse(
        "ARG BASE=debian\nARG TAG\nfrom --platform=$BUILDPLATFORM $BASE:$TAG As Build\n"
        "RUN make\nFROM scratch\nCOPY --from=build /a /a\n"
    )
    assert [arg.pairs for arg in dockerfile.meta_args] == [(("BASE", "debian"),), (("TAG", None),)]
    first, second = dockerfile.stages
    assert (first.index, first.name, first.base.image, first.base.platform) == (
        0,
        "build",
        "$BASE:$TAG",
        "$BUILDPLATFORM",
    )
    assert [type(i) for i in first.instructions] == [ins.Run]
    assert (second.index, second.name, second.base.line) == (1, None, 5)


MOUNTS = [
    ("bind-default", "target=/src", ins.Mount("bind", "/src")),
    (
        "bind-from",
        "type=bind,from=build,source=/out,target=/in,rw",
        ins.Mount("bind", "/in", source="/out", from_stage="build", readonly=False),
    ),
    (
        "cache-id-is-target",
        "type=cache,target=/root/.cache",
        ins.Mount("cache", "/root/.cache", id="/root/.cache"),
    ),
    (
        "cache-everything",
        "type=cache,id=pip,dst=/c,sharing=LOCKED,mode=0700,uid=1000,gid=1000,ro=true",
        ins.Mount(
            "cache", "/c", id="pip", sharing="locked", mode=0o700, uid=1000, gid=1000, readonly=True
        ),
    ),
    ("tmpfs-size", "type=tmpfs,target=/t,size=64m", ins.Mount("tmpfs", "/t", size=64 * 1024**2)),
    ("secret-by-id", "type=secret,id=npmrc", ins.Mount("secret", "/run/secrets/npmrc", id="npmrc")),
    (
        "secret-by-target",
        "type=secret,target=/root/.npmrc,required",
        ins.Mount("secret", "/root/.npmrc", id=".npmrc", required=True),
    ),
    (
        "secret-env",
        "type=secret,id=tok,env=TOKEN",
        ins.Mount("secret", "/run/secrets/tok", id="tok", env="TOKEN"),
    ),
    ("ssh", "type=ssh", ins.Mount("ssh", "")),
    ("csv-quoted", "source=x,'\"target=/a,b\"'", ins.Mount("bind", "/a,b", source="x")),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in MOUNTS], ids=[c[0] for c in MOUNTS])
def test_run_mount(spec: str, expected: ins.Mount) -> None:
    run = only(f"RUN --mount={spec} true")
    assert isinstance(run, ins.Run)
    assert run.mounts == (expected,)


def test_several_mounts_keep_their_order() -> None:
    run = only("RUN --mount=target=/a --mount=type=tmpfs,target=/b true")
    assert isinstance(run, ins.Run)
    assert [m.target for m in run.mounts] == ["/a", "/b"]


def test_directives_escape_and_continuations() -> None:
    dockerfile = parse(
        "# syntax=docker/dockerfile:1.7\n"
        "#escape=`\n"
        "FROM scratch\n"
        "RUN echo a `\n"
        "  # a comment inside\n"
        "\n"
        "  b\n"
        "COPY c:\\src\\ d:\\dst\n"
    )
    assert (dockerfile.syntax, dockerfile.escape) == ("docker/dockerfile:1.7", "`")
    run, copy = dockerfile.stages[0].instructions
    assert isinstance(run, ins.Run) and isinstance(copy, ins.Copy)
    assert run.command == shell("echo a   b")
    assert (run.line, copy.line) == (4, 8)
    assert copy.sources == ("c:\\src\\",)


@pytest.mark.parametrize(
    ("text", "escape"),
    [
        ("FROM scratch\n# escape=`\n", "\\"),
        ("\n# escape=`\nFROM scratch\n", "\\"),
        ("# comment\n# escape=`\nFROM scratch\n", "\\"),
        ("# unknown=1\n# escape=`\nFROM scratch\n", "\\"),
        ("  # ESCAPE = `  \nFROM scratch\n", "`"),
    ],
    ids=["after-instruction", "after-blank", "after-comment", "after-unknown", "spaces-and-case"],
)
def test_directives_only_count_first(text: str, escape: str) -> None:
    assert parse(text).escape == escape


def test_continuations_with_backslash() -> None:
    dockerfile = parse(
        "FROM scratch\nRUN a \\\n  b \\  \n\n c\nRUN d \\\n# comment\n e\nENV X=1\\\n"
    )
    first, second, env = dockerfile.stages[0].instructions
    assert (first.line, second.line, env.line) == (2, 6, 9)
    assert isinstance(first, ins.Run) and isinstance(second, ins.Run)
    assert first.command == shell("a   b  c")
    assert second.command == shell("d  e")
    assert isinstance(env, ins.Env) and env.pairs == (("X", "1"),)


HEREDOCS = [
    (
        "run-script",
        "RUN <<EOF\necho $A\n  indented\nEOF\n",
        shell("<<EOF"),
        (ins.Heredoc("EOF", "echo $A\n  indented\n", expand=True),),
    ),
    (
        "run-chomp",
        "RUN <<-EOT\n\techo a\n\t\tb\n\tEOT\n",
        shell("<<-EOT"),
        (ins.Heredoc("EOT", "echo a\nb\n", expand=True),),
    ),
    (
        "run-quoted-no-expansion",
        "RUN <<'EOF'\necho $A\nEOF\n",
        shell("<<'EOF'"),
        (ins.Heredoc("EOF", "echo $A\n", expand=False),),
    ),
    (
        "run-double-quoted",
        'RUN <<"EOF"\nx\nEOF\n',
        shell('<<"EOF"'),
        (ins.Heredoc("EOF", "x\n", expand=False),),
    ),
    (
        "run-stdin-of-a-command",
        "RUN python3 <<EOF\nprint(1)\nEOF\n",
        shell("python3 <<EOF"),
        (ins.Heredoc("EOF", "print(1)\n", expand=True),),
    ),
    (
        "run-several",
        "RUN cat <<A 3<<B > out\none\nA\ntwo\nB\n",
        shell("cat <<A 3<<B > out"),
        (ins.Heredoc("A", "one\n", expand=True), ins.Heredoc("B", "two\n", expand=True)),
    ),
    ("run-json-has-none", 'RUN ["cat", "<<EOF"]\n', exec_form("cat", "<<EOF"), ()),
    ("run-empty-body", "RUN <<EOF\nEOF\n", shell("<<EOF"), (ins.Heredoc("EOF", "", expand=True),)),
    (
        "run-with-flags",
        "RUN --network=none <<EOF\ntrue\nEOF\n",
        shell("<<EOF"),
        (ins.Heredoc("EOF", "true\n", expand=True),),
    ),
]


@pytest.mark.parametrize(
    ("text", "command", "heredocs"), [c[1:] for c in HEREDOCS], ids=[c[0] for c in HEREDOCS]
)
def test_run_heredocs(text: str, command: ins.Command, heredocs: tuple[ins.Heredoc, ...]) -> None:
    dockerfile = parse(f"FROM scratch\n{text}RUN after\n")
    run, after = dockerfile.stages[0].instructions
    assert isinstance(run, ins.Run)
    assert (run.command, run.heredocs) == (command, heredocs)
    assert after.line == text.count("\n") + 2


def test_copy_heredocs_stand_in_for_sources() -> None:
    copy = (
        parse(
            "FROM scratch\nCOPY --chmod=755 <<a.sh <<-'b' ./c /dst/\necho $X\na.sh\n\tbody\n\tb\n"
        )
        .stages[0]
        .instructions[0]
    )
    assert isinstance(copy, ins.Copy)
    assert copy.sources == ("a.sh", "b", "./c")
    assert copy.heredocs == (
        ins.Heredoc("a.sh", "echo $X\n", expand=True),
        ins.Heredoc("b", "body\n", expand=False),
    )


def test_onbuild_keeps_its_heredoc() -> None:
    onbuild = parse("FROM scratch\nONBUILD RUN <<EOF\necho hi\nEOF\n").stages[0].instructions[0]
    assert isinstance(onbuild, ins.Onbuild)
    assert onbuild.trigger == "RUN <<EOF\necho hi\nEOF"


SCRIPTS = [
    ("script", "RUN <<EOF\necho a\necho b\nEOF\n", Script("echo a\necho b\n")),
    (
        "shebang-runs-as-a-file",
        "RUN <<run.py\n#!/usr/bin/env python3\nprint(1)\nrun.py\n",
        Script(
            "/dev/pipes/run.py",
            ins.Heredoc("run.py", "#!/usr/bin/env python3\nprint(1)\n", expand=True),
        ),
    ),
    ("stdin", "RUN python3 <<EOF\nprint(1)\nEOF\n", Script("python3 <<EOF\nprint(1)\nEOF")),
    (
        "several-back-to-the-shell",
        "RUN cat <<A <<-B\na\nA\n\tb\n\tB\n",
        Script("cat <<A <<-B\na\nA\nb\nB"),
    ),
    ("no-heredoc", "RUN echo $((1 << 2))", Script("echo $((1 << 2))")),
]


@pytest.mark.parametrize(("text", "script"), [c[1:] for c in SCRIPTS], ids=[c[0] for c in SCRIPTS])
def test_run_script_follows_buildkit(text: str, script: Script) -> None:
    run = only(text.rstrip("\n"))
    assert isinstance(run, ins.Run)
    assert run_script(run) == script


def test_byte_order_mark_and_crlf() -> None:
    dockerfile = parse("\ufeffFROM scratch\r\nRUN <<EOF\r\necho\r\nEOF\r\n")
    (run,) = dockerfile.stages[0].instructions
    assert isinstance(run, ins.Run)
    assert run.heredocs == (ins.Heredoc("EOF", "echo\r\n", expand=True),)
