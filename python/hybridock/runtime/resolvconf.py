"""A container's /etc/resolv.conf, by libnetwork's rules (docker 20.10).

- The host's file, without its loopback name servers (they would be the container's own
  loopback) and without IPv6 ones (the container's IPv6 is off); when none is left, Google's
  public servers, as docker falls back to them.
- ``--dns``, ``--dns-search``, ``--dns-option`` replace the host's servers, search domains and
  options respectively (``--dns-search .`` means none).
- On a user network the name server is the network's resolver (docker's is its embedded server
  at 127.0.0.11, ours the network's gateway, where aardvark-dns answers), which forwards the
  names it does not know to the host's servers; docker then adds ``options ndots:0``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

DEFAULT_SERVERS = ("8.8.8.8", "8.8.4.4")


def _is_usable(server: str) -> bool:
    try:
        address = ipaddress.ip_address(server.partition("%")[0])
    except ValueError:
        return False
    return address.version == 4 and not address.is_loopback


def _parse(text: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """(the lines kept, the usable name servers, search domains, options) of a host's file."""
    kept: list[str] = []
    usable: list[str] = []
    domains: list[str] = []
    options: list[str] = []
    for line in text.splitlines(keepends=True):
        fields = line.split()
        if fields and fields[0] == "nameserver" and len(fields) > 1:
            if not _is_usable(fields[1]):
                continue
            usable.append(fields[1])
        elif fields and fields[0] in ("search", "domain"):
            domains = fields[1:]
        elif fields and fields[0] == "options":
            options.extend(fields[1:])
        kept.append(line)
    return kept, usable, domains, options


def resolv_conf(
    host_text: str,
    *,
    resolver: str | None = None,
    dns: Sequence[str] = (),
    search: Sequence[str] = (),
    options: Sequence[str] = (),
) -> str:
    """The container's file. Without flags or a resolver it is the host's, verbatim but for
    the name server lines dropped (libnetwork's FilterResolvDNS); else it is rebuilt as
    libnetwork's Build writes it: search, name servers, options."""
    kept, usable, domains, host_options = _parse(host_text)
    if not (resolver or dns or search or options):
        text = "".join(kept)
        if not usable:
            if text and not text.endswith("\n"):
                text += "\n"
            text += "".join(f"nameserver {server}\n" for server in DEFAULT_SERVERS)
        return text
    if resolver is not None:
        chosen_servers = [resolver]
    else:
        chosen_servers = list(dns) or usable or list(DEFAULT_SERVERS)
    if search:
        domains = [] if list(search) == ["."] else list(search)
    chosen_options = list(options) or host_options
    if resolver is not None and not any(o.startswith("ndots:") for o in chosen_options):
        chosen_options = [*chosen_options, "ndots:0"]
    lines = []
    if domains:
        lines.append("search " + " ".join(domains))
    lines.extend(f"nameserver {server}" for server in chosen_servers)
    if chosen_options:
        lines.append("options " + " ".join(chosen_options))
    return "\n".join(lines) + "\n"
