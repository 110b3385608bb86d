"""Who runs a sweep: a lease on its parent run (host, pid, heartbeat), renewed while the driver runs.

Two drivers of one sweep name would both reopen its parent and run its configurations twice.  The driver
that opens (or resumes) the parent writes a :class:`Lease` into the tag ``twinbench.lease`` and a
:class:`LeaseKeeper` thread renews its heartbeat every ``interval_s``.  Another driver refuses to start while
the lease is **live**: heartbeat younger than ``STALE_AFTER`` intervals and, on the same host, the pid still
alive.  A lease whose pid is dead on this host, or whose heartbeat is older than that (a driver killed on
another machine), is stale: the next driver takes it over and resumes the sweep.

Checking and taking the lease happen under the tracker's store lock of the sweep
(:meth:`~scenarios.tracking.tracker.MlflowTracker.lock`), so of two drivers that start at the same instant
the second sees the first one's lease (:func:`scenarios.sweeps.runs.open_parent`).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, replace

from scenarios.tracking.lineage import LEASE
from sim.exceptions import ConfigurationError

__all__ = ["LEASE_TAG", "STALE_AFTER", "Lease", "LeaseKeeper", "SweepBusyError", "pid_alive"]

LEASE_TAG = LEASE  # (defined once, in scenarios.tracking.lineage)
STALE_AFTER = 3.0
"""A heartbeat older than this many intervals is stale, whoever holds the lease."""


class SweepBusyError(ConfigurationError):
    """Another live driver holds the sweep's lease (the message names it)."""


def pid_alive(pid: int) -> bool:
    """Whether process *pid* exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass(frozen=True)
class Lease:
    """The driver holding a sweep: *host*, *pid*, a *token* unique to this driver, its last *heartbeat*
    [ms since the epoch] and the renewal *interval_s* [s]."""

    host: str
    pid: int
    token: str
    heartbeat: int
    interval_s: float

    @classmethod
    def mine(cls, interval_s: float) -> "Lease":
        if not interval_s > 0:
            raise ConfigurationError(f"sweep.heartbeat_s = {interval_s!r} must be > 0 (seconds between the "
                                     f"renewals of the sweep's lease, e.g. 10)")
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex, int(time.time() * 1000), float(interval_s))

    def renewed(self) -> "Lease":
        return replace(self, heartbeat=int(time.time() * 1000))

    def to_tag(self) -> str:
        return json.dumps({"host": self.host, "pid": self.pid, "token": self.token, "heartbeat": self.heartbeat,
                           "interval_s": self.interval_s}, sort_keys=True)

    @classmethod
    def from_tag(cls, text: str | None) -> "Lease | None":
        try:
            data = json.loads(text or "")
            return cls(str(data["host"]), int(data["pid"]), str(data["token"]), int(data["heartbeat"]),
                       float(data["interval_s"]))
        except (ValueError, KeyError, TypeError):
            return None

    def age_s(self, now_ms: int | None = None) -> float:
        return ((now_ms if now_ms is not None else time.time() * 1000) - self.heartbeat) / 1000.0

    def is_live(self, *, now_ms: int | None = None, host: str | None = None) -> bool:
        """Fresh heartbeat and, on this host, a living pid."""
        if self.age_s(now_ms) > STALE_AFTER * self.interval_s:
            return False
        if self.host == (host or socket.gethostname()):
            return pid_alive(self.pid)
        return True

    def holder(self) -> str:
        return f"pid {self.pid} on host {self.host} (heartbeat {self.age_s():.0f} s ago)"


class LeaseKeeper:
    """A daemon thread that renews *lease* on *run_id* through *tracker* every ``lease.interval_s``."""

    def __init__(self, tracker, run_id: str, lease: Lease):
        self.tracker, self.run_id, self.lease = tracker, run_id, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="twinbench-sweep-lease", daemon=True)

    def start(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.lease.interval_s):
            try:
                self.lease = self.lease.renewed()
                self.tracker.set_tags(self.run_id, {LEASE_TAG: self.lease.to_tag()})
            except Exception:  # noqa: BLE001 - a missed beat is retried; three in a row make the lease stale
                pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
