"""The side-by-side comparison of hybridock with docker, podman and the plain tools (issue 5).

``benches/compare.py`` is the entry point; the parts:

- ``runner``: a workload is a list of ``Contender`` (tool name, untimed ``prepare``, timed
  ``action``); runs alternate between tools (A B C A B C ...) after one warm-up each, and a
  contender that fails becomes a row with its error, never a crash.
- ``peers``: installing the peers from Debian, and the private daemons and stores they need
  (dockerd + containerd on their own sockets and roots; podman in a private mount namespace
  where the cgroup2 mount is hidden from crun); everything started is stopped by pid.
- ``images``: the benchmark images, built reproducibly without internet, pushed to a local
  docker-registry.
- ``tools``: hybridock as a user runs it (own store, own config), the plain-tool baselines,
  PSS and registry access-log counts.
- ``bench``, ``pulls``, ``containers``, ``workloads``: one small function per workload of
  issue 5's table, and the order they run in.
- ``report``: the JSON file and the markdown table.
"""
