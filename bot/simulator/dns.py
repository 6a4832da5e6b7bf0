"""A hosts file for aiohttp: names that resolve to several addresses, in a fixed order.

Real file hosts (CDNs) publish several A/AAAA records, and some of them can be
down. The simulator listens on one address, so to reproduce "a host name whose
first address is unreachable" it needs a name whose first answer points where
nothing listens (``127.0.0.2`` on Linux: all of 127/8 is loopback, and a
connection there is refused at once) and whose second answer is the simulator.
:class:`HostsResolver` is that DNS answer; give it to
:class:`bot.providers.download.DownloadGuard` (the guard still judges every
address it returns)::

    resolver = HostsResolver({"cdn.sim.test": ["127.0.0.2", "127.0.0.1"]})
    guard = DownloadGuard(["cdn.sim.test"], resolver=resolver)
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence

from aiohttp.abc import AbstractResolver, ResolveResult

UNREACHABLE_V4 = "127.0.0.2"  # loopback, but the simulator binds 127.0.0.1 only


class HostsResolver(AbstractResolver):
    """Resolve the names it knows to their addresses (in order); others do not exist."""

    def __init__(self, hosts: Mapping[str, Sequence[str]]) -> None:
        self.hosts = {name.lower(): list(addresses) for name, addresses in hosts.items()}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        addresses = self.hosts.get(host.lower())
        if not addresses:
            raise OSError(socket.EAI_NONAME, f"{host} is not in the simulator's hosts table")
        results: list[ResolveResult] = []
        for address in addresses:
            ip = ipaddress.ip_address(address)
            fam = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            if family not in (socket.AF_UNSPEC, fam):
                continue
            results.append(
                ResolveResult(
                    hostname=host,
                    host=address,
                    port=port,
                    family=fam,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        return results

    async def close(self) -> None:
        return None
