"""OPC UA source: subscribe to PLC nodes with asyncua and queue their data changes.

The asyncua client runs in its own thread with its own event loop.  When the
connection is lost (server restart, network), the source reconnects with back-off
and subscribes again; the server then reports every node's current value once
more, which :meth:`LiveSource.deliver` recognizes by (node, source timestamp, value)
and counts in ``redelivered``.  A value with a bad OPC UA status is quarantined
as ``unparseable`` with the status in the reason.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence

from sim.exceptions import ConfigurationError, TelemetryError
from sim.telemetry.sources.live import LiveRecord, LiveSource

__all__ = ["OpcUaSource"]

_log = logging.getLogger(__name__)


class _Handler:
    """asyncua subscription handler: turns data changes into records (runs in the client's loop)."""

    def __init__(self, source: OpcUaSource, lost: asyncio.Event):
        self.source, self.lost = source, lost

    def datachange_notification(self, node, val, data) -> None:
        value = data.monitored_item.Value
        stamp = value.SourceTimestamp or value.ServerTimestamp
        key = node.nodeid.to_string()
        problem = ""
        if value.StatusCode is not None and not value.StatusCode.is_good():
            problem = f"OPC UA status {value.StatusCode.name} (the PLC flags the value as not good)"
        record = LiveRecord(key, stamp, val, time.time_ns(), repr(val), problem=problem)
        # the same node, source timestamp, value and status is the same sample re-reported; without a
        # stamp nothing identifies a sample (a constant value is many samples)
        self.source.deliver(record, None if stamp is None else (key, stamp, repr(val), problem))

    def status_change_notification(self, status) -> None:
        self.lost.set()

    def event_notification(self, event) -> None:  # pragma: no cover - no event subscriptions
        pass


class OpcUaSource(LiveSource):
    """Receive telemetry from an OPC UA server (a PLC) by subscription.

    Parameters
    ----------
    url : str
        Endpoint, e.g. ``"opc.tcp://127.0.0.1:4840/plc/"``.
    nodes : sequence of str
        Node ids to monitor (typically ``channel_map.nodes``), e.g. ``"ns=2;s=M1.Current"``.
    publishing_interval : float
        Subscription publishing interval [s].
    queue_size : int
        Monitored-item queue: changes kept between publishes (a fast PLC loses none).
    reconnect_delay : tuple[float, float]
        First and longest wait between reconnect attempts [s].
    watchdog : float
        How often the connection is probed [s]; a lost server is noticed within about this.
    """

    def __init__(self, url: str, nodes: Sequence[str], *, publishing_interval: float = 0.05,
                 queue_size: int = 10_000, reconnect_delay: tuple[float, float] = (0.1, 2.0),
                 watchdog: float = 0.5, history: int = 1 << 17):
        super().__init__(history=history)
        if not nodes:
            raise ConfigurationError("nodes is empty; fix: give channels a node in the channel map")
        self.url, self.nodes = url, tuple(nodes)
        self.publishing_interval, self.queue_size = publishing_interval, queue_size
        self.reconnect_delay, self.watchdog = reconnect_delay, watchdog
        self.connected = threading.Event()
        self.connects = 0
        self.errors: list[str] = []  # connection problems seen (for diagnosis)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return self.nodes

    def start(self) -> OpcUaSource:
        """Connect and subscribe in a background thread (returns at once); returns self."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="opcua-source", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Block until the subscription is active."""
        if not self.connected.wait(timeout):
            raise TelemetryError(
                f"OPC UA server {self.url} did not accept a subscription within {timeout} s "
                f"({'; '.join(self.errors[-3:]) or 'no answer'}); fix: check the URL and that the server runs"
            )

    def stop(self) -> None:
        """Unsubscribe, disconnect and end the background thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None
        self.connected.clear()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._stop = asyncio.Event()
            ready.set()
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        delay = self.reconnect_delay[0]
        while not self._stop.is_set():
            try:
                await self._session()
                delay = self.reconnect_delay[0]
            except Exception as err:  # any connection failure: retry with back-off
                self.errors.append(f"{type(err).__name__}: {err}")
                del self.errors[:-20]
            self.connected.clear()
            if self._stop.is_set():
                return
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except asyncio.TimeoutError:
                pass
            delay = min(2 * delay, self.reconnect_delay[1])

    async def _session(self) -> None:
        from asyncua import Client, ua

        lost = asyncio.Event()
        client = Client(self.url, timeout=2, watchdog_intervall=self.watchdog)

        async def on_lost(exc: Exception) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        await client.connect()
        try:
            subscription = await client.create_subscription(self.publishing_interval * 1000, _Handler(self, lost))
            nodes = [client.get_node(n) for n in self.nodes]
            await subscription.subscribe_data_change(nodes, queuesize=self.queue_size, sampling_interval=0)
            self.connects += 1
            self.connected.set()
            stop = asyncio.ensure_future(self._stop.wait())
            gone = asyncio.ensure_future(lost.wait())
            await asyncio.wait({stop, gone}, return_when=asyncio.FIRST_COMPLETED)
            for task in (stop, gone):
                task.cancel()
            if lost.is_set():
                raise ConnectionError("connection to the OPC UA server lost")
        except ua.UaStatusCodeError as err:
            raise TelemetryError(f"OPC UA server {self.url} refused the subscription: {err}") from err
        finally:
            try:
                await asyncio.wait_for(client.disconnect(), 2)
            except Exception:  # the server may be gone already
                client.disconnect_socket()
