"""Real parts for hybridock's tests; nothing here imports hybridock.

- ``layers``: declarative layer entries -> deterministic tar (+gzip/zstd) with both digests.
- ``images``: image config/manifest/index builder (OCI or Docker v2s2), OCI layout, skopeo push.
- ``registry``: docker-registry as a subprocess (plain, TLS+htpasswd, token), storage tricks.
- ``proxy``: the counting, fault-injecting reverse proxy in front of each registry.
- ``tokenserver``: a Docker token server signing JWTs the registry trusts.
- ``tls``: a test CA, a 127.0.0.1 server certificate, a token-signing key.
- ``testimages``: the ``hello`` (demo/hello.c) and ``busybox`` images.
- ``cli``: running the ``hybridock`` console script; the config file it reads.
- ``probes`` and ``cleanup``: marker probes; unmount-then-remove for test stores.
- ``processes``: stopping started processes by pid; finding what a daemon left behind.
- ``dockerd``: a private containerd + dockerd 20.10 (Debian's docker.io) to read docker's answers.
"""
