"""Start and stop real `rafka broker` processes for tests (loopback only)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

READY_MARKER = "ready"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class BrokerProcess:
    """A broker subprocess with its own data dir and Kafka port. Use as a context manager."""

    def __init__(
        self,
        data_dir: Path,
        *extra_args: str,
        kafka_port: int | None = None,
        env: dict[str, str] | None = None,
        grpc_port: int | None = None,
        http_port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.kafka_port = kafka_port or free_port()
        # Always a free port: the default (50051) would collide between test brokers.
        self.grpc_port = grpc_port or free_port()
        # Likewise for HTTP (/metrics, health, console; default 8080).
        self.http_port = http_port or free_port()
        self.extra_args = list(extra_args)
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-broker.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 30.0) -> BrokerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "rafka",
            "broker",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--kafka-port",
            str(self.kafka_port),
            "--grpc-port",
            str(self.grpc_port),
            "--http-port",
            str(self.http_port),
            *self.extra_args,
        ]
        env = {**os.environ, **(self.env or {})}
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.log()}")
            if READY_MARKER in self.log():
                wait_for_port(self.kafka_port, timeout=deadline - time.monotonic())
                return self
            time.sleep(0.05)
        raise TimeoutError(f"broker not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        """SIGKILL: an unclean crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> BrokerProcess:
        self.stop()
        # The log is appended to, so the ready marker of the previous run must not count.
        self.log_path.rename(self.log_path.with_suffix(f".{time.monotonic_ns()}.log"))
        return self.start()

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop(timeout=10)
