"""Real servers for the live tests: a mosquitto broker and an asyncua server (a simulated PLC).

Both listen on 127.0.0.1 on a free port, are bounded in time and stopped in teardown.

The fuzz suite (``test_telemetry_fuzz.py``) runs 250 drawn examples plus the written-out defects (``@example``);
``TWINBENCH_FUZZ=long`` multiplies the drawn examples by 100 for a long run (see that module's docstring).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sim.telemetry.gates import collect
from tests.sim.telemetry.reference_gates import ReferenceGates


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)


class Mosquitto:
    """A private mosquitto broker with persistence, so that it can be restarted mid-stream."""

    def __init__(self, binary: str, directory: Path):
        self.binary, self.directory, self.port = binary, directory, free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {directory}/\nmax_queued_messages 0\nmax_inflight_messages 0\n"
            f"log_dest file {directory}/mosquitto.log\n"
            # started as root, mosquitto drops to user 'mosquitto', which cannot write to a private tmp dir
            f"user {getpass.getuser()}\n", encoding="utf-8")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: mosquitto writes its persistence file and exits
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def mosquitto(tmp_path):
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (.ci/run installs it: apt-get install mosquitto)")
    broker = Mosquitto(binary, tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


class SimulatedPlc:
    """An asyncua server in its own thread and event loop, with one Double variable per tag.

    ``write(tag, value, stamp)`` sets a value with its source timestamp; ``restart()``
    stops the server and starts a new one on the same port with the last values (a PLC
    keeps its state across a restart of its OPC UA server).
    """

    NAMESPACE = "urn:twinbench:simulated-plc"

    def __init__(self, tags):
        import asyncio

        self.tags, self.port = list(tags), free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/plc/"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="simulated-plc", daemon=True)
        self.thread.start()
        self.server, self.variables, self.last = None, {}, {}

    def _call(self, coroutine, timeout=20.0):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _start(self):
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        index = await server.register_namespace(self.NAMESPACE)
        plc = await server.nodes.objects.add_object(index, "PLC")
        variables = {}
        for tag in self.tags:
            initial = self.last.get(tag, (0.0, None))
            variables[tag] = await plc.add_variable(ua.NodeId(tag, index), tag, ua.Variant(0.0, ua.VariantType.Double))
            if initial[1] is not None:
                await variables[tag].write_value(self._value(*initial))
        await server.start()
        self.server, self.variables, self.index = server, variables, index

    @staticmethod
    def _value(value, stamp):
        from asyncua import ua

        return ua.DataValue(ua.Variant(float(value), ua.VariantType.Double), SourceTimestamp=stamp,
                            ServerTimestamp=stamp)

    def node(self, tag):
        return f"ns={self.index};s={tag}"

    def start(self):
        self._call(self._start())
        wait_for_port(self.port)

    def write(self, tag, value, stamp):
        self.last[tag] = (value, stamp)
        self._call(self.variables[tag].write_value(self._value(value, stamp)))

    def stop(self):
        if self.server is not None:
            self._call(self.server.stop())
            self.server = None

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        try:
            self.stop()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


@pytest.fixture
def plc():
    pytest.importorskip("asyncua")
    server = SimulatedPlc(["M1.Current", "M1.WindingTemp"])
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def reference(monkeypatch):
    """Run the reference gates (``reference_gates.ReferenceGates``) instead of the compiled pass, inside ``with reference():``."""
    from contextlib import contextmanager

    @contextmanager
    def swap():
        with monkeypatch.context() as m:
            m.setattr(collect, "ChannelGates", ReferenceGates)
            yield
    return swap
