"""Serve the live board as OPC UA nodes (asyncua), for SCADA systems that browse rather than subscribe to MQTT.

The server runs in its own thread and event loop and copies the board into its address space every
``interval_s`` seconds (read-only nodes; commands go through HTTP or MQTT).  Node ids are strings in the
namespace ``urn:twinbench:live`` (look its index up by URI), built from the board's names:

=============================================  =========  =====================================================
node id (``ns=<index>;s=...``)                 type       value
=============================================  =========  =====================================================
``twin``                                       Object     the twin (``Objects/Twinbench``)
``twin.connected``, ``twin.ready``             Boolean    source connected; ready (``/readyz``)
``twin.lag_s``                                 Double     lag behind the source [s] (NaN: unknown)
``<asset>``                                    Object     one asset
``<asset>.calibration_version``                Int64      the calibration version in use (-1: none)
``<asset>.active_alarms``                      Int32      active alarms
``<asset>.alarms``                             String     the asset's open alarms as JSON (board alarm fields)
``<asset>.recommendation``                     String     the last recommendation's text ("" if none)
``<asset>.channels.<channel>.<field>``         Double     ``measured``, ``twin``, ``lower``, ``upper`` [SI unit]
``<asset>.parameters.<name>.<field>``          Double     ``value``, ``lower``, ``upper``
=============================================  =========  =====================================================

Double variables carry the standard ``EngineeringUnits`` property (``EUInformation``, UNECE code of the SI unit
where :data:`UNECE_CODES` knows it, else ``UnitId`` -1 with the unit's text), and their source timestamp is the
sample's time.  Security: this server offers ``NoSecurity`` only and listens on 127.0.0.1 by default; expose it
to a plant network only behind a gateway that adds OPC UA security, or serve through MQTT with TLS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import threading
from collections.abc import Mapping
from typing import Any

from sim.exceptions import ConfigurationError, TwinbenchError
from scenarios.live.board import LiveBoard

__all__ = ["NAMESPACE", "UNECE_CODES", "OpcUaServer", "eu_information"]

#: Namespace URI of the twin's nodes.
NAMESPACE = "urn:twinbench:live"

#: UNECE Recommendation 20 common codes of SI units (OPC UA ``EUInformation.UnitId``).
UNECE_CODES = {"K": "KEL", "degC": "CEL", "A": "AMP", "V": "VLT", "W": "WTT", "J": "JOU", "N": "NEW",
               "Pa": "PAL", "m": "MTR", "s": "SEC", "kg": "KGM", "Hz": "HTZ", "m^3": "MTQ", "m^3/s": "MQS",
               "m/s": "MTS", "kg/s": "KGS", "rad/s": "2A", "1": "C62"}

_CEFACT = "http://www.opcfoundation.org/UA/units/un/cefact"


def eu_information(unit: str):
    """The OPC UA ``EUInformation`` of an SI unit text (``UnitId`` from its UNECE code, -1 when unknown)."""
    from asyncua import ua

    code = UNECE_CODES.get(unit)
    unit_id = -1
    if code is not None:
        unit_id = 0
        for ch in code:  # OPC UA Part 8: the code's characters, one byte each, left to right
            unit_id = (unit_id << 8) | ord(ch)
    return ua.EUInformation(NamespaceUri=_CEFACT, UnitId=unit_id, DisplayName=ua.LocalizedText(unit or ""),
                            Description=ua.LocalizedText(unit or ""))


def _stamp(t: float | None):
    return None if t is None else dt.datetime.fromtimestamp(t, dt.timezone.utc)


class OpcUaServer:
    """An asyncua server that mirrors a :class:`LiveBoard` (node ids in the module docstring).

    Parameters
    ----------
    board : LiveBoard
        What the nodes show.
    host : str
        Interface (default 127.0.0.1).
    port : int
        TCP port (e.g. 4840).
    interval_s : float
        How often the board is copied into the nodes [s].
    """

    def __init__(self, board: LiveBoard, *, host: str = "127.0.0.1", port: int = 4840, interval_s: float = 1.0):
        if not (isinstance(port, int) and 0 < port <= 65535):
            raise ConfigurationError(f"opcua port {port!r} must be an integer in [1, 65535]; fix: e.g. 4840")
        if not interval_s > 0:
            raise ConfigurationError(f"opcua interval_s ({interval_s}) must be > 0 s; fix: e.g. 1.0")
        self.board, self.host, self.port, self.interval_s = board, host, port, float(interval_s)
        self.endpoint = f"opc.tcp://{host}:{port}/twinbench/"
        self.index: int | None = None
        self.updates = 0  # completed copies of the board
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._task = None
        self._nodes: dict[str, Any] = {}  # node id text -> Node
        self._objects: dict[str, Any] = {}

    @classmethod
    def from_config(cls, board: LiveBoard, config: Mapping[str, Any] | None) -> OpcUaServer:
        """From a plain mapping ``{host: 127.0.0.1, port: 4840, interval_s: 1.0}``."""
        config = dict(config or {})
        config.pop("enabled", None)  # (the caller's switch)
        unknown = sorted(set(config) - {"host", "port", "interval_s"})
        if unknown:
            raise ConfigurationError(f"opcua config: unknown key(s) {unknown}; fix: use host, port, interval_s")
        return cls(board, host=config.get("host", "127.0.0.1"), port=int(config.get("port", 4840)),
                   interval_s=float(config.get("interval_s", 1.0)))

    # ------------------------------------------------------------------------------------------- lifecycle

    def _call(self, coroutine, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self, timeout: float = 30.0) -> OpcUaServer:
        """Start the server (its own thread and event loop), copy the board once; returns self."""
        if self._thread is not None:
            raise TwinbenchError("the OPC UA server is already started; fix: stop() it first")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"twinbench-opcua-{self.port}",
                                        daemon=True)
        self._thread.start()
        try:
            self._call(self._start(), timeout)
        except OSError as err:
            self.stop()
            raise ConfigurationError(f"opcua: cannot listen on {self.host}:{self.port} ({err.strerror or err}); "
                                     f"fix: choose another port") from None
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self) -> None:
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("Twinbench live twin")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.index = await server.register_namespace(NAMESPACE)
        twin = await server.nodes.objects.add_object(ua.NodeId("twin", self.index), f"{self.index}:Twinbench")
        self._objects["twin"] = twin
        for name, kind in (("connected", ua.VariantType.Boolean), ("ready", ua.VariantType.Boolean),
                           ("lag_s", ua.VariantType.Double)):
            await self._variable(twin, f"twin.{name}", name, kind)
        await server.start()
        self._server = server
        await self._copy()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._copy()
            except Exception:  # noqa: BLE001 - a failed copy must not end the server; the next one retries
                continue

    def update(self, timeout: float = 30.0) -> None:
        """Copy the board into the nodes now (the server also does it every ``interval_s``)."""
        if self._loop is None or self._server is None:
            raise TwinbenchError("the OPC UA server is not started; fix: call start() first")
        self._call(self._copy(), timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server and its thread."""
        loop = self._loop
        if loop is None:
            return
        try:
            if self._task is not None:
                loop.call_soon_threadsafe(self._task.cancel)
            if self._server is not None:
                self._call(self._server.stop(), timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout)
            loop.close()
            self._loop, self._thread, self._server, self._task = None, None, None, None
            self._nodes.clear()
            self._objects.clear()

    def __enter__(self) -> OpcUaServer:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------------- address space

    async def _object(self, parent, key: str, name: str):
        from asyncua import ua

        node = self._objects.get(key)
        if node is None:
            node = self._objects[key] = await parent.add_object(ua.NodeId(key, self.index), f"{self.index}:{name}")
        return node

    async def _variable(self, parent, key: str, name: str, kind, unit: str | None = None):
        from asyncua import ua

        node = self._nodes.get(key)
        if node is None:
            initial = {ua.VariantType.Double: math.nan, ua.VariantType.Boolean: False, ua.VariantType.Int64: -1,
                       ua.VariantType.Int32: 0, ua.VariantType.String: ""}[kind]
            node = await parent.add_variable(ua.NodeId(key, self.index), f"{self.index}:{name}",
                                             ua.Variant(initial, kind))
            if unit is not None:
                await node.add_property(ua.NodeId(f"{key}.EngineeringUnits", self.index), "0:EngineeringUnits",
                                        ua.Variant(eu_information(unit), ua.VariantType.ExtensionObject),
                                        datatype=ua.NodeId(ua.ObjectIds.EUInformation))
            self._nodes[key] = node
        return node

    async def _write(self, key: str, value, kind, t: float | None = None) -> None:
        from asyncua import ua

        if kind == ua.VariantType.Double:
            value = math.nan if value is None else float(value)
        stamp = _stamp(t)
        await self._server.write_attribute_value(self._nodes[key].nodeid, ua.DataValue(
            ua.Variant(value, kind), SourceTimestamp=stamp or dt.datetime.now(dt.timezone.utc)))

    async def _copy(self) -> None:
        """One copy of the board into the nodes (new assets, channels and parameters get nodes first)."""
        from asyncua import ua

        D, B = ua.VariantType.Double, ua.VariantType.Boolean
        snap = self.board.snapshot(points=0)
        twin = self._objects["twin"]
        source = snap["source"]
        await self._write("twin.connected", source["connected"], B)
        await self._write("twin.ready", source["ready"], B)
        await self._write("twin.lag_s", source["lag_s"], D)
        assets = sorted({c["asset"] for c in snap["channels"]} | {p["asset"] for p in snap["parameters"]}
                        | set(snap["calibration"]) | set(snap["recommendations"])
                        | {a["asset"] for a in snap["alarms"]["active"]})
        for asset in assets:
            obj = await self._object(twin, asset, asset)
            for name, kind in (("calibration_version", ua.VariantType.Int64),
                               ("active_alarms", ua.VariantType.Int32), ("alarms", ua.VariantType.String),
                               ("recommendation", ua.VariantType.String)):
                await self._variable(obj, f"{asset}.{name}", name, kind)
            version = snap["calibration"].get(asset, {}).get("version")
            await self._write(f"{asset}.calibration_version", -1 if version is None else int(version),
                              ua.VariantType.Int64)
            open_alarms = [a for a in snap["alarms"]["active"] if a["asset"] == asset]
            await self._write(f"{asset}.active_alarms", sum(a["active"] for a in open_alarms), ua.VariantType.Int32)
            await self._write(f"{asset}.alarms", json.dumps(open_alarms, allow_nan=False), ua.VariantType.String)
            advice = snap["recommendations"].get(asset)
            await self._write(f"{asset}.recommendation", "" if advice is None else advice["text"],
                              ua.VariantType.String)
        for c in snap["channels"]:
            asset, last = c["asset"], c["last"] or {}
            group = await self._object(self._objects[asset], f"{asset}.channels", "channels")
            base = f"{asset}.channels.{c['channel']}"
            obj = await self._object(group, base, c["channel"])
            for field in ("measured", "twin", "lower", "upper"):
                await self._variable(obj, f"{base}.{field}", field, D, unit=c["unit"])
                await self._write(f"{base}.{field}", last.get(field), D, last.get("t"))
        for p in snap["parameters"]:
            asset, last = p["asset"], p["last"] or {}
            group = await self._object(self._objects[asset], f"{asset}.parameters", "parameters")
            base = f"{asset}.parameters.{p['name']}"
            obj = await self._object(group, base, p["name"])
            for field in ("value", "lower", "upper"):
                await self._variable(obj, f"{base}.{field}", field, D, unit=p["unit"])
                await self._write(f"{base}.{field}", last.get(field), D, last.get("t"))
        self.updates += 1
