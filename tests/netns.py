"""Hosts on a private network for multi-host tests, made of Linux network namespaces.

The network is a star. One namespace, the switch, holds a bridge; each host is a namespace
of its own whose ``eth0`` is one end of a veth pair, the other end being a port of that
bridge. Hosts have the addresses ``10.231.0.1``, ``10.231.0.2``... in a /24 that exists only
inside these namespaces: the root namespace gets no interface, address or route, so no test
traffic can leave them. Every namespace name carries a random suffix, so a leftover of a
crashed run cannot collide with the next one; interface names are per namespace and short.

A command runs on a host through ``ip netns exec`` and ``unshare --uts``: it sees only the
host's network and has a hostname of its own (Celery names its nodes after it). The test
process stays in the root namespace; it reaches a host's files, such as a unix socket, not
its addresses.

Building needs root and iproute2. ``Network.build`` raises ``NetworkUnavailableError`` when the
namespaces cannot be made, so that a test can skip; ``Network.destroy`` kills whatever still
runs in them and deletes them, and never raises.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support import REPO

SUBNET_PREFIX = "10.231.0"
IP_TIMEOUT_S = 10.0
KILL_WAIT_S = 5.0
BRIDGE = "br0"
HOST_LINK = "eth0"


class NetworkUnavailableError(Exception):
    """Network namespaces cannot be made here (not root, no iproute2, no permission)."""


def ip(*args: str) -> str:
    """Run ``ip ARGS`` and return its output; raise RuntimeError with its stderr if it fails."""
    done = subprocess.run(
        ["ip", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=IP_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class Host:
    """One machine of the network: a namespace, an address and a hostname."""

    name: str
    namespace: str
    address: str
    hostname: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as run on this host: in its namespace, under its hostname."""
        in_uts = ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"']
        return ["ip", "netns", "exec", self.namespace, *in_uts, self.hostname, *argv]

    def start(
        self, argv: Sequence[str], *, env: dict[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on this host, its output appended to ``log``; returns at once."""
        with log.open("ab") as out:
            return subprocess.Popen(
                self.command(argv),
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def run(
        self, argv: Sequence[str], *, env: dict[str, str], timeout_s: float
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on this host to the end; returns the completed process."""
        return subprocess.run(
            self.command(argv),
            check=False,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )

    def cut_link(self) -> None:
        """Take the host's network interface down, as if its cable were pulled."""
        ip("-n", self.namespace, "link", "set", HOST_LINK, "down")

    def restore_link(self) -> None:
        """Bring the host's network interface up again; its address and route come back."""
        ip("-n", self.namespace, "link", "set", HOST_LINK, "up")

    def pids(self) -> list[int]:
        """Pids of the processes running on this host."""
        return pids_in(self.namespace)


def pids_in(namespace: str) -> list[int]:
    """Pids of the live processes in ``namespace``."""
    return [int(pid) for pid in ip("netns", "pids", namespace).split()]


class Network:
    """Hosts joined by one bridge, each in a network namespace of its own."""

    def __init__(self, host_names: Sequence[str]) -> None:
        suffix = secrets.token_hex(3)
        self.switch = f"agn{suffix}-sw"
        self.hosts = {
            name: Host(
                name=name,
                namespace=f"agn{suffix}-{index}",
                address=f"{SUBNET_PREFIX}.{index}",
                hostname=f"{name}-{suffix}",
            )
            for index, name in enumerate(host_names, start=1)
        }
        self._made: list[str] = []

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def build(self) -> None:
        """Make the namespaces, the bridge and the links; every link is up when it returns.

        Raises NetworkUnavailableError if the first namespace cannot be made, RuntimeError if a
        later step fails; either way, whatever was made is removed again.
        """
        try:
            self._build()
        except BaseException:
            self.destroy()
            raise

    def _build(self) -> None:
        if os.geteuid() != 0:
            raise NetworkUnavailableError("network namespaces need root")
        if shutil.which("ip") is None or shutil.which("unshare") is None:
            raise NetworkUnavailableError("network namespaces need iproute2's ip and unshare")
        try:
            self._add_namespace(self.switch)
        except RuntimeError as exc:
            raise NetworkUnavailableError(f"cannot make a network namespace ({exc})") from exc

        ip("-n", self.switch, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0")
        ip("-n", self.switch, "link", "set", BRIDGE, "up")
        for index, host in enumerate(self.hosts.values(), start=1):
            self._add_namespace(host.namespace)
            self._plug(host, port=f"port{index}")

    def destroy(self) -> None:
        """Kill every process left in the namespaces, then delete them (links go with them)."""
        for namespace in reversed(self._made):
            with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
                kill_all_in(namespace)
            with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
                ip("netns", "del", namespace)
        self._made.clear()

    def _add_namespace(self, namespace: str) -> None:
        ip("netns", "add", namespace)
        self._made.append(namespace)
        ip("-n", namespace, "link", "set", "lo", "up")

    def _plug(self, host: Host, port: str) -> None:
        # Both ends are made inside their namespaces: the root namespace never sees them.
        ip("-n", self.switch, "link", "add", port, "type", "veth",
           "peer", "name", HOST_LINK, "netns", host.namespace)  # fmt: skip
        ip("-n", self.switch, "link", "set", port, "master", BRIDGE)
        ip("-n", self.switch, "link", "set", port, "up")
        ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", HOST_LINK)
        ip("-n", host.namespace, "link", "set", HOST_LINK, "up")


def kill_all_in(namespace: str) -> None:
    """SIGKILL every process in ``namespace`` (all were started by the test) and wait."""
    deadline_s = time.monotonic() + KILL_WAIT_S
    left = pids_in(namespace)
    while left and time.monotonic() < deadline_s:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        time.sleep(0.05)
        left = pids_in(namespace)
