"""A corpus of Dockerfiles built in code, each with what its image must hold.

A ``BuildCase`` is a Dockerfile, its context (``File``, ``Dir`` and ``Symlink`` entries of
tests/support/layers.py, paths relative to the context), a ``.dockerignore``, the build's flags
(``--build-arg``, ``--label``, ``--target``, ``--secret``) and the expectations: config fields
as ``image inspect`` shows them under ``Config``, nodes of the file tree (tests/support/
imagetree.py; ``None`` for a path that must not be there) and what the image prints when run.
Every case starts from ``busybox`` (tests/support/testimages.py), which both hybridock and
the private dockerd have from the session registry.

``docker_lacks`` names the cases Debian's dockerd 20.10 cannot build (its BuildKit 0.8 reads
Dockerfiles at the 1.2 level: no heredocs, no ``COPY --link``; a ``# syntax=`` line would send
it to Docker Hub for a newer frontend): those are checked against their expectations alone.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.imagetree import Node
from tests.support.layers import Dir, File, Symlink, build_tar, compress

ContextEntry = File | Dir | Symlink
BASE_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOBODY = 65534
#: why dockerd 20.10 cannot build a case (its frontend is dockerfile 1.2)
NO_HEREDOCS = "dockerd 20.10's frontend (dockerfile 1.2) has no heredocs"
NO_LINK = "dockerd 20.10's frontend (dockerfile 1.2) has no COPY --link"


def file_node(content: bytes | str, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Node:
    data = content.encode() if isinstance(content, str) else content
    return Node("file", mode, uid, gid, digest=hashlib.sha256(data).hexdigest(), size=len(data))


def dir_node(mode: int = 0o755, uid: int = 0, gid: int = 0) -> Node:
    return Node("dir", mode, uid, gid)


def link_node(target: str, uid: int = 0, gid: int = 0) -> Node:
    return Node("symlink", 0o777, uid, gid, target=target)


@dataclass(frozen=True)
class BuildCase:
    name: str
    dockerfile: str
    context: Sequence[ContextEntry] = ()
    dockerignore: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    secrets: Mapping[str, str] = field(default_factory=dict)  # id -> content
    config: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, Node | None] = field(default_factory=dict)
    run: tuple[Sequence[str], str] | None = None  # arguments after the image, stdout
    docker_lacks: str | None = None

    def flags(self, secrets_dir: Path) -> list[str]:
        """The build flags both tools take, secrets written to files under ``secrets_dir``."""
        flags = [f"--build-arg={key}={value}" for key, value in self.build_args.items()]
        flags += [f"--label={key}={value}" for key, value in self.labels.items()]
        if self.target is not None:
            flags.append(f"--target={self.target}")
        for secret_id, content in self.secrets.items():
            source = secrets_dir / secret_id
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_text(content)
            flags.append(f"--secret=id={secret_id},src={source}")
        return flags


def write_context(case: BuildCase, directory: Path) -> Path:
    """The case's context in ``directory`` (made), its Dockerfile and .dockerignore included."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Dockerfile").write_text(case.dockerfile)
    if case.dockerignore is not None:
        (directory / ".dockerignore").write_text(case.dockerignore)
    for entry in case.context:
        path = directory / entry.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(entry, Dir):
            path.mkdir(exist_ok=True)
            path.chmod(entry.mode)
        elif isinstance(entry, Symlink):
            path.symlink_to(entry.target)
        else:
            path.write_bytes(entry.data)
            path.chmod(entry.mode)
        if not isinstance(entry, Symlink):
            os.chown(path, entry.uid, entry.gid)
    return directory


# --- the cases --------------------------------------------------------------------------------

APP = (
    File("app/main.sh", "#!/bin/sh\necho main\n", mode=0o755),
    File("app/lib/util.sh", "util() { :; }\n"),
    File("app/data.txt", "data\n", mode=0o600),
    File("notes.md", "# notes\n"),
    File("conf/a.conf", "a=1\n"),
    File("conf/b.conf", "b=2\n"),
    File("conf/skip.txt", "skip\n"),
)

CONFIG_INSTRUCTIONS = BuildCase(
    "config_instructions",
    """\
FROM busybox
ENV APP_HOME=/srv/app GREETING="hello world"
ENV OLD_STYLE value with spaces
LABEL org.example.name="corpus" org.example.empty=""
WORKDIR $APP_HOME
WORKDIR sub
USER nobody:nobody
EXPOSE 8080 53/udp 9000/tcp
VOLUME /data /cache
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --retries=4 \\
    CMD wget -q -O- http://127.0.0.1:8080/ || exit 1
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING from $(pwd)"]
""",
    config={
        "Env": [
            BASE_PATH,
            "APP_HOME=/srv/app",
            "GREETING=hello world",
            "OLD_STYLE=value with spaces",
        ],
        "Labels": {"org.example.name": "corpus", "org.example.empty": ""},
        "WorkingDir": "/srv/app/sub",
        "User": "nobody:nobody",
        "ExposedPorts": {"8080/tcp": {}, "53/udp": {}, "9000/tcp": {}},
        "Volumes": {"/data": {}, "/cache": {}},
        "StopSignal": "SIGQUIT",
        "Healthcheck": {
            "Test": ["CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/ || exit 1"],
            "Interval": 5_000_000_000,
            "Timeout": 3_000_000_000,
            "StartPeriod": 1_000_000_000,
            "Retries": 4,
        },
        "Shell": ["/bin/sh", "-ec"],
        "OnBuild": ["RUN echo child"],
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo $GREETING from $(pwd)"],
    },
    files={"srv/app": dir_node(), "srv/app/sub": dir_node(), "data": None, "cache": None},
    run=((), "hello world from /srv/app/sub\n"),
)

BUILD_ARGS = BuildCase(
    "arg_before_from_and_build_args",
    """\
ARG BASE=busybox
ARG VERSION=1.0
FROM ${BASE}
ARG VERSION
ARG FLAVOR=plain
ARG UNUSED
ENV VERSION=${VERSION} FLAVOR=${FLAVOR:-none} ALT=${UNUSED:+set}
LABEL version=$VERSION
RUN echo "$VERSION $FLAVOR" > /built-with
CMD ["cat", "/built-with"]
""",
    build_args={"FLAVOR": "spicy"},
    config={
        "Env": [BASE_PATH, "VERSION=1.0", "FLAVOR=spicy", "ALT="],
        "Labels": {"version": "1.0"},
        "Cmd": ["cat", "/built-with"],
    },
    files={"built-with": file_node("1.0 spicy\n")},
    run=((), "1.0 spicy\n"),
)

RUN_FORMS = BuildCase(
    "run_shell_and_exec_forms",
    """\
FROM busybox
RUN echo shell form > /shell
RUN ["/bin/sh", "-c", "echo exec form > /exec"]
RUN mkdir -p /made/deep && chmod 0750 /made && chown 65534:65534 /made/deep \\
    && ln -s /shell /made/link && mkfifo /made/fifo && echo x > /made/a && ln /made/a /made/b
RUN rm /etc/hostname && rmdir /home
""",
    config={"Cmd": ["sh"], "Env": [BASE_PATH]},
    files={
        "shell": file_node("shell form\n"),
        "exec": file_node("exec form\n"),
        "made": dir_node(0o750),
        "made/deep": dir_node(uid=NOBODY, gid=NOBODY),
        "made/link": link_node("/shell"),
        "made/fifo": Node("fifo", 0o644),
        "made/a": file_node("x\n"),
        "made/b": file_node("x\n"),
        "etc/hostname": None,
        "home": None,
    },
    run=(("cat", "/shell", "/exec"), "shell form\nexec form\n"),
)

COPY_ADD_FLAGS = BuildCase(
    "copy_add_chown_chmod_relative",
    """\
FROM busybox
COPY app /opt/app/
COPY --chown=65534:65534 notes.md /opt/
COPY --chown=nobody:nobody conf/a.conf /opt/named-owner.conf
COPY --chmod=0640 conf/*.conf /etc/conf.d/
COPY --chmod=755 notes.md /usr/local/bin/notes
ADD conf/b.conf /added/
WORKDIR /rel
COPY notes.md ./here.md
COPY notes.md renamed
""",
    context=APP,
    files={
        "opt/app/main.sh": file_node("#!/bin/sh\necho main\n", 0o755),
        "opt/app/lib/util.sh": file_node("util() { :; }\n"),
        "opt/app/data.txt": file_node("data\n", 0o600),
        "opt/notes.md": file_node("# notes\n", uid=NOBODY, gid=NOBODY),
        "opt/named-owner.conf": file_node("a=1\n", uid=NOBODY, gid=NOBODY),
        "etc/conf.d/a.conf": file_node("a=1\n", 0o640),
        "etc/conf.d/b.conf": file_node("b=2\n", 0o640),
        "etc/conf.d/skip.txt": None,
        "usr/local/bin/notes": file_node("# notes\n", 0o755),
        "added/b.conf": file_node("b=2\n"),
        "rel/here.md": file_node("# notes\n"),
        "rel/renamed": file_node("# notes\n"),
    },
    run=(("/opt/app/main.sh",), "main\n"),
)

GLOBS = BuildCase(
    "copy_globs_and_several_sources",
    """\
FROM busybox
COPY conf/*.conf notes.md /multi/
COPY conf/[ab].conf /bracket/
COPY conf/?.conf /question/
COPY app/*/util.sh /deep-glob/
""",
    context=APP,
    files={
        "multi/a.conf": file_node("a=1\n"),
        "multi/b.conf": file_node("b=2\n"),
        "multi/notes.md": file_node("# notes\n"),
        "multi/skip.txt": None,
        "bracket/a.conf": file_node("a=1\n"),
        "question/b.conf": file_node("b=2\n"),
        "deep-glob/util.sh": file_node("util() { :; }\n"),
    },
)

COPY_FROM = BuildCase(
    "multi_stage_copy_from_stage_index_and_image",
    """\
FROM busybox AS builder
WORKDIR /work
RUN echo built > artifact && mkdir out && echo one > out/1 && ln -s 1 out/link

FROM busybox AS other
RUN echo other > /other.txt

FROM busybox
COPY --from=builder /work/artifact /artifact
COPY --from=builder /work/out /out
COPY --from=1 /other.txt /
COPY --from=busybox /etc/passwd /from-image-passwd
CMD ["cat", "/artifact", "/other.txt"]
""",
    config={"Cmd": ["cat", "/artifact", "/other.txt"], "WorkingDir": ""},
    files={
        "artifact": file_node("built\n"),
        "out/1": file_node("one\n"),
        "out/link": link_node("1"),
        "other.txt": file_node("other\n"),
        "work": None,
    },
    run=((), "built\nother\n"),
)

TARGET = BuildCase(
    "target_builds_only_what_it_needs",
    """\
FROM busybox AS base
ENV STAGE=base
RUN echo base > /base

FROM busybox AS broken
RUN exit 3

FROM base AS test
ENV STAGE=test
RUN echo test > /test

FROM base AS release
COPY --from=broken /nothing /nothing
RUN echo release > /release
""",
    target="test",
    config={"Env": [BASE_PATH, "STAGE=test"], "Cmd": ["sh"]},
    files={"base": file_node("base\n"), "test": file_node("test\n"), "release": None},
    run=(("sh", "-c", "echo $STAGE; cat /base /test"), "test\nbase\ntest\n"),
)

LABELS = BuildCase(
    "labels_from_dockerfile_and_flags",
    """\
FROM busybox
LABEL a=1 b=dockerfile
LABEL "with space"="quoted value" multi="line \\
continued"
""",
    labels={"b": "flag", "c": "3"},
    config={
        "Labels": {
            "a": "1",
            "b": "flag",
            "c": "3",
            "with space": "quoted value",
            "multi": "line continued",
        }
    },
)

DOCKERIGNORE = BuildCase(
    "dockerignore_edge_cases",
    """\
FROM busybox
COPY . /ctx/
""",
    context=(
        File("keep.txt", "keep\n"),
        File("secret.key", "secret\n"),
        File("logs/a.log", "a\n"),
        File("logs/keep.log", "kept\n"),
        File("deep/x/y/z.tmp", "tmp\n"),
        File("deep/x/keep.md", "md\n"),
        File("build/out.o", "obj\n"),
        File("docs/README.md", "readme\n"),
        File("docs/other.md", "other\n"),
        File("dir.tmp/inner", "inner\n"),
    ),
    dockerignore="""\
# a comment
*.key
logs/*
!logs/keep.log
**/*.tmp
/build
./docs
!docs/README.md
Dockerfile
.dockerignore
""",
    files={
        "ctx/keep.txt": file_node("keep\n"),
        "ctx/secret.key": None,
        "ctx/logs/a.log": None,
        "ctx/logs/keep.log": file_node("kept\n"),
        "ctx/deep/x/y/z.tmp": None,
        "ctx/deep/x/keep.md": file_node("md\n"),
        "ctx/build": None,
        "ctx/docs/README.md": file_node("readme\n"),
        "ctx/docs/other.md": None,
        "ctx/dir.tmp": None,
        "ctx/Dockerfile": None,
        "ctx/.dockerignore": None,
    },
)

TAR_ENTRIES = (
    Dir("pkg", mode=0o750, uid=1234, gid=5678),
    File("pkg/a.txt", "from the tar\n", uid=1234, gid=5678),
    File("pkg/bin/run", "#!/bin/sh\necho run\n", mode=0o755),
    Symlink("pkg/link", "a.txt"),
)
TAR = build_tar(TAR_ENTRIES)

ADD_TAR = BuildCase(
    "add_local_tar_extracts_copy_does_not",
    """\
FROM busybox
ADD archive.tar /unpacked/
ADD archive.tar.gz /gz
COPY archive.tar /copied/
""",
    context=(File("archive.tar", TAR), File("archive.tar.gz", compress(TAR, "gzip"))),
    files={
        "unpacked/pkg": dir_node(0o750, 1234, 5678),
        "unpacked/pkg/a.txt": file_node("from the tar\n", uid=1234, gid=5678),
        "unpacked/pkg/bin/run": file_node("#!/bin/sh\necho run\n", 0o755),
        "unpacked/pkg/link": link_node("a.txt"),
        "gz/pkg/a.txt": file_node("from the tar\n", uid=1234, gid=5678),
        "copied/archive.tar": file_node(TAR),
        "unpacked/archive.tar": None,
    },
    run=(("/unpacked/pkg/bin/run",), "run\n"),
)

USER_WORKDIR = BuildCase(
    "user_workdir_and_shell",
    """\
FROM busybox
RUN echo 'app:x:1001:1001::/home/app:/bin/sh' >> /etc/passwd \\
    && echo 'app:x:1001:' >> /etc/group && mkdir -p /home/app && chown app:app /home/app
USER app
WORKDIR /home/app/work
RUN touch mine && id -u > uid
SHELL ["/bin/sh", "-e", "-u", "-c"]
RUN echo "${HOME:-unset} $(id -un)" > whoami
CMD ["id", "-u"]
""",
    config={
        "User": "app",
        "WorkingDir": "/home/app/work",
        "Shell": ["/bin/sh", "-e", "-u", "-c"],
        "Cmd": ["id", "-u"],
    },
    files={
        "home/app": dir_node(uid=1001, gid=1001),
        "home/app/work/mine": file_node("", uid=1001, gid=1001),
        "home/app/work/uid": file_node("1001\n", uid=1001, gid=1001),
        "home/app/work/whoami": file_node("/home/app app\n", uid=1001, gid=1001),
    },
    run=((), "1001\n"),
)

ENTRYPOINT_RESETS_CMD = BuildCase(
    "shell_form_entrypoint_resets_the_base_images_cmd",
    """\
FROM busybox
ENTRYPOINT echo entry
""",
    config={"Entrypoint": ["/bin/sh", "-c", "echo entry"], "Cmd": None},
    run=((), "entry\n"),
)

ENTRYPOINT_KEEPS_CMD = BuildCase(
    "entrypoint_keeps_a_cmd_of_the_same_stage",
    """\
FROM busybox
CMD ["inherited"]
ENTRYPOINT ["echo", "entry"]
""",
    config={"Entrypoint": ["echo", "entry"], "Cmd": ["inherited"]},
    run=((), "entry inherited\n"),
)

ONBUILD = BuildCase(
    "onbuild_triggers_in_a_child_stage",
    """\
FROM busybox AS parent
ONBUILD RUN echo triggered > /onbuild
ONBUILD ENV TRIGGERED=yes

FROM parent
RUN cat /onbuild > /seen
CMD ["sh", "-c", "echo $TRIGGERED; cat /seen"]
""",
    config={"Env": [BASE_PATH, "TRIGGERED=yes"], "OnBuild": None},
    files={"onbuild": file_node("triggered\n"), "seen": file_node("triggered\n")},
    run=((), "yes\ntriggered\n"),
)

RUN_MOUNTS = BuildCase(
    "run_mounts_bind_cache_tmpfs_secret",
    """\
FROM busybox
RUN --mount=type=bind,source=notes.md,target=/mnt/notes cp /mnt/notes /from-bind
RUN --mount=type=cache,target=/var/cache/corpus echo cached > /var/cache/corpus/x \\
    && ls /var/cache/corpus > /cache-listing
RUN --mount=type=tmpfs,target=/scratch echo temp > /scratch/t && cat /scratch/t > /from-tmpfs
RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /secret-size
""",
    context=APP,
    secrets={"token": "s3cr3t-value"},
    files={
        "from-bind": file_node("# notes\n"),
        "cache-listing": file_node("x\n"),
        "from-tmpfs": file_node("temp\n"),
        "secret-size": file_node("12\n"),
        "var/cache/corpus/x": None,
        "scratch/t": None,
        "run/secrets/token": None,
    },
)

ENV_EXPANSION = BuildCase(
    "environment_expansion_rules",
    """\
FROM busybox
ARG UID_ARG
ENV A=1
ENV B=${A}2 C=$A$A D='$A' A=changed E=$A
WORKDIR /$B
LABEL default=${MISSING:-dflt} alt=${A:+x} plain=$MISSING
EXPOSE ${PORT:-7000}
USER ${UID_ARG:-65534}
""",
    config={
        "Env": [BASE_PATH, "A=changed", "B=12", "C=11", "D=$A", "E=1"],
        "WorkingDir": "/12",
        "Labels": {"default": "dflt", "alt": "x", "plain": ""},
        "ExposedPorts": {"7000/tcp": {}},
        "User": "65534",
    },
    files={"12": dir_node()},
)

ESCAPE = BuildCase(
    "escape_directive_and_continuations",
    """\
# escape=`
FROM busybox
# a comment between instructions
RUN echo one `
# a comment inside a continuation
    two > /joined
ENV WINDOWS=C:\\dir\\file
""",
    config={"Env": [BASE_PATH, "WINDOWS=C:\\dir\\file"]},
    files={"joined": file_node("one two\n")},
)

CONTEXT_SYMLINKS = BuildCase(
    "context_symlinks",
    """\
FROM busybox
COPY link-to-notes /followed
COPY tree /tree/
""",
    context=(
        File("notes.md", "# notes\n"),
        Symlink("link-to-notes", "notes.md"),
        File("tree/real", "real\n"),
        Symlink("tree/relative", "real"),
        Symlink("tree/absolute", "/etc/passwd"),
    ),
    files={
        "followed": file_node("# notes\n"),
        "tree/real": file_node("real\n"),
        "tree/relative": link_node("real"),
        "tree/absolute": link_node("/etc/passwd"),
    },
)

HEREDOCS = BuildCase(
    "heredocs",
    """\
# syntax=docker/dockerfile:1
FROM busybox
ENV USER_NAME=corpus
RUN <<EOF
echo one > /one
echo two > /two
EOF
RUN <<-EOT sh
\techo tabbed > /tabbed
\tEOT
COPY <<EOF /etc/greeting
hello $USER_NAME
EOF
COPY <<"EOF" /literal
not expanded $HOME
EOF
""",
    files={
        "one": file_node("one\n"),
        "two": file_node("two\n"),
        "tabbed": file_node("tabbed\n"),
        "etc/greeting": file_node("hello corpus\n"),
        "literal": file_node("not expanded $HOME\n"),
    },
    run=(("cat", "/etc/greeting"), "hello corpus\n"),
    docker_lacks=NO_HEREDOCS,
)

COPY_LINK = BuildCase(
    "copy_link",
    """\
FROM busybox
RUN mkdir -p /linked && echo below > /linked/below
COPY --link app/ /linked/
COPY --link --chmod=0600 notes.md /linked-notes
""",
    context=APP,
    files={
        "linked/below": file_node("below\n"),
        "linked/main.sh": file_node("#!/bin/sh\necho main\n", 0o755),
        "linked/lib/util.sh": file_node("util() { :; }\n"),
        "linked-notes": file_node("# notes\n", 0o600),
    },
    docker_lacks=NO_LINK,
)

CASES: tuple[BuildCase, ...] = (
    CONFIG_INSTRUCTIONS,
    BUILD_ARGS,
    RUN_FORMS,
    COPY_ADD_FLAGS,
    GLOBS,
    COPY_FROM,
    TARGET,
    LABELS,
    DOCKERIGNORE,
    ADD_TAR,
    USER_WORKDIR,
    ENTRYPOINT_RESETS_CMD,
    ENTRYPOINT_KEEPS_CMD,
    ONBUILD,
    RUN_MOUNTS,
    ENV_EXPANSION,
    ESCAPE,
    CONTEXT_SYMLINKS,
    HEREDOCS,
    COPY_LINK,
)


# --- the realistic image: a C program compiled in one stage, copied into a small one ----------

HELLO_C = """\
#include <stdio.h>
#include <string.h>
#include <errno.h>

int main(int argc, char **argv) {
    const char *who = argc > 1 ? argv[1] : "nobody";
    if (printf("hello, %s from a multi-stage build\\n", who) < 0) {
        fprintf(stderr, "printf: %s\\n", strerror(errno));
        return 1;
    }
    return 0;
}
"""
HELLO_MAKEFILE = """\
CFLAGS ?= -O2 -Wall -Wextra -static

hello: hello.c
\t$(CC) $(CFLAGS) -o $@ $<
"""


def realistic_case(gcc_image: str, final_image: str = "busybox") -> BuildCase:
    """The issue's realistic Dockerfile: ``make`` with gcc in a base of Debian's packages
    (``gcc_image``, tests/support/debimages.gcc_image), the static binary copied into busybox
    (``final_image``)."""
    return BuildCase(
        "realistic_multi_stage_c_program",
        f"""\
FROM {gcc_image} AS build
WORKDIR /src
COPY Makefile hello.c ./
RUN make && ./hello test

FROM {final_image}
COPY --from=build /src/hello /usr/local/bin/hello
USER nobody
ENTRYPOINT ["hello"]
CMD ["world"]
""",
        context=(File("hello.c", HELLO_C), File("Makefile", HELLO_MAKEFILE)),
        config={"Entrypoint": ["hello"], "Cmd": ["world"], "User": "nobody"},
        files={"src": None},
        run=((), "hello, world from a multi-stage build\n"),
    )
