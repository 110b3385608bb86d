"""OPC UA source: subscribe to PLC nodes with asyncua and queue their data changes.

The asyncua client runs in its own thread with its own event loop.  When the
connection is lost (server restart, network), the source reconnects with back-off
and subscribes again; the server then reports every node's current value once
more.  Such a re-report is a redelivery: the same node, source timestamp, value and
status as a value already read; it is read and quarantined under the gate
``redelivery`` (see :mod:`~sim.telemetry.sources.live`).  A value without a source
timestamp identifies nothing and is never taken for a redelivery.  A value with a bad
OPC UA status is quarantined as ``unparseable`` with the status in the reason.

Security: :class:`OpcUaSecurity` selects a security policy (``Basic256Sha256``,
``Aes128Sha256RsaOaep`` or ``Aes256Sha256RsaPss``) and mode (``Sign`` or
``SignAndEncrypt``) with the client's certificate and private key (files; the
certificate should carry ``application_uri`` as a URI SAN), optionally pins the
server's certificate, and logs in with a user name and a password
:class:`~sim.telemetry.sources.live.Secret` (environment variable or file), resolved
at each connection.  ``OpcUaSecurity.from_dict`` refuses a literal ``password``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sim.exceptions import ConfigurationError, TelemetryError
from sim.telemetry.sources.live import LiveRecord, LiveSource, Secret, security_from

__all__ = ["OpcUaSecurity", "OpcUaSource"]

#: Security policy name -> asyncua class name (asyncua.crypto.security_policies)
POLICIES = {"Basic256Sha256": "SecurityPolicyBasic256Sha256",
            "Aes128Sha256RsaOaep": "SecurityPolicyAes128Sha256RsaOaep",
            "Aes256Sha256RsaPss": "SecurityPolicyAes256Sha256RsaPss"}
MODES = ("Sign", "SignAndEncrypt")
_FIXES = {  # OPC UA status in a connection error -> what to check
    "BadUserAccessDenied": "check username and password (the server refused the user)",
    "BadIdentityToken": "check username and password, and that the server accepts user names",
    "No matching endpoints": "the server offers no endpoint with this security policy and mode; check policy and "
                             "mode against the server's endpoints",
    "BadSecurityPolicyRejected": "check policy and mode against the server's endpoints",
    "BadSecurityModeRejected": "check policy and mode against the server's endpoints",
    "BadCertificate": "check that the server trusts the client certificate (and its application_uri)",
    "BadSecurityChecksFailed": "check that the server trusts the client certificate and that server_certificate "
                               "is the server's",
}


@dataclass(frozen=True)
class OpcUaSecurity:
    """Security policy, certificates and user login of an OPC UA connection.  Holds file paths and
    references, never a secret.

    Parameters
    ----------
    policy : str, optional
        ``"Basic256Sha256"``, ``"Aes128Sha256RsaOaep"`` or ``"Aes256Sha256RsaPss"``; None: no
        security policy (messages neither signed nor encrypted).
    mode : str
        ``"Sign"`` or ``"SignAndEncrypt"``.
    certificate, private_key : str, optional
        The client's certificate and private key (PEM or DER files); required with a policy.
    server_certificate : str, optional
        The server's certificate, pinned; without it the certificate the server's endpoint
        announces is used (trust on first use).
    application_uri : str
        The client's application URI; the certificate should carry it as a URI SAN.
    username : str, optional
        User name to log in with (None: anonymous).
    password : Secret, optional
        Where the user's password is kept.
    """

    policy: str | None = None
    mode: str = "SignAndEncrypt"
    certificate: str | None = None
    private_key: str | None = None
    server_certificate: str | None = None
    application_uri: str = "urn:twinbench:twin"
    username: str | None = None
    password: Secret | None = None

    def __post_init__(self) -> None:
        if self.policy is not None and self.policy not in POLICIES:
            raise ConfigurationError(f"opcua security: policy {self.policy!r} is not supported; fix: use one of "
                                     f"{list(POLICIES)} (or None for no security)")
        if self.mode not in MODES:
            raise ConfigurationError(f"opcua security: mode {self.mode!r} must be one of {list(MODES)}")
        if self.policy is not None and (self.certificate is None or self.private_key is None):
            raise ConfigurationError(f"opcua security: policy {self.policy} needs the client's certificate and "
                                     f"private_key; fix: give both file paths")
        if self.password is not None and not isinstance(self.password, Secret):
            raise ConfigurationError(
                "opcua security: password must be a Secret reference, not a value; fix: "
                "password=Secret(env='TWINBENCH_OPCUA_PASSWORD') or Secret(file='/run/secrets/opcua_password')")
        if self.password is not None and self.username is None:
            raise ConfigurationError("opcua security: a password needs a username; fix: set username")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> OpcUaSecurity:
        """From a config mapping: the fields above, with ``password_env`` or ``password_file`` (a literal
        ``password`` is refused)."""
        return security_from(cls, config, where="opcua")

    def to_dict(self) -> dict[str, Any]:
        """The settings as a config mapping (the password as its reference): safe to log and track."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "password"}
        if self.password is not None:
            out.update({f"password_{k}": v for k, v in self.password.to_dict().items()})
        return out

    redacted = to_dict

    async def apply(self, client: Any) -> None:
        """Set policy, certificates and user on an asyncua ``Client`` (before it connects)."""
        from asyncua import ua
        from asyncua.crypto import security_policies

        if self.policy is not None:
            client.application_uri = self.application_uri
            await client.set_security(getattr(security_policies, POLICIES[self.policy]), self.certificate,
                                      self.private_key, server_certificate=self.server_certificate,
                                      mode=getattr(ua.MessageSecurityMode, self.mode))
        if self.username is not None:
            client.set_user(self.username)
            if self.password is not None:
                client.set_password(self.password.reveal("opcua password"))

_log = logging.getLogger(__name__)


def _monitored_item(ua, node_id, handle: int, queue_size: int):
    """A monitored item of the node's Value that reports every new sample: the data-change trigger is
    StatusValueTimestamp, so a PLC writing the same value with a new source timestamp is a new sample (the
    server's default trigger, StatusValue, reports only changes of the value and would drop repeated readings)."""
    item = ua.MonitoredItemCreateRequest()
    item.ItemToMonitor = ua.ReadValueId()
    item.ItemToMonitor.NodeId = node_id
    item.ItemToMonitor.AttributeId = ua.AttributeIds.Value
    item.MonitoringMode = ua.MonitoringMode.Reporting
    params = ua.MonitoringParameters()
    params.ClientHandle = handle  # unique within the subscription: the nodes' positions
    params.SamplingInterval = 0
    params.QueueSize = queue_size
    params.DiscardOldest = True
    params.Filter = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
    item.RequestedParameters = params
    return item


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
    security : OpcUaSecurity, optional
        Security policy, certificates and user (default: no security, anonymous).
    history : int
        Message keys remembered to recognize a redelivery.
    """

    def __init__(self, url: str, nodes: Sequence[str], *, publishing_interval: float = 0.05,
                 queue_size: int = 10_000, reconnect_delay: tuple[float, float] = (0.1, 2.0),
                 watchdog: float = 0.5, security: OpcUaSecurity | None = None, history: int = 1 << 17):
        super().__init__(history=history)
        if not nodes:
            raise ConfigurationError("nodes is empty; fix: give channels a node in the channel map")
        self.url, self.nodes = url, tuple(nodes)
        self.security = security or OpcUaSecurity()
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

    def to_dict(self) -> dict[str, Any]:
        """The source's settings, secrets as references only: safe for logs and MLflow params."""
        return {"url": self.url, "nodes": list(self.nodes), "publishing_interval": self.publishing_interval,
                "queue_size": self.queue_size, "security": self.security.to_dict()}

    redacted = to_dict

    def __repr__(self) -> str:
        return f"OpcUaSource({self.url!r}, {list(self.nodes)!r}, security={self.security.to_dict()!r})"

    def start(self) -> OpcUaSource:
        """Connect and subscribe in a background thread (returns at once); returns self.

        A password that cannot be resolved (unset environment variable, missing file) raises
        :class:`~sim.exceptions.ConfigurationError` here, not in the background."""
        if self.security.password is not None:
            self.security.password.reveal("opcua password")
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="opcua-source", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Block until the subscription is active."""
        if not self.connected.wait(timeout):
            seen = "; ".join(dict.fromkeys(self.errors[-3:]))  # (distinct, in order)
            fix = next((v for k, v in _FIXES.items() if k in seen), "check the URL and that the server runs")
            raise TelemetryError(
                f"OPC UA server {self.url} did not accept a subscription within {timeout} s "
                f"({seen or 'no answer'}); fix: {fix}"
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
        await self.security.apply(client)
        await client.connect()
        try:
            subscription = await client.create_subscription(self.publishing_interval * 1000, _Handler(self, lost))
            await subscription.create_monitored_items(
                [_monitored_item(ua, client.get_node(n).nodeid, handle, self.queue_size)
                 for handle, n in enumerate(self.nodes, start=1)])
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
