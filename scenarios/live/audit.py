"""An append-only audit log: JSON lines chained by SHA-256 hashes, so that editing any line is detected.

Every governance decision of the living twin (a proposal, a shadow verdict, a promotion, a refusal, a
rollback, a failed calibration, an operator command) is one line of the file::

    {"action": ..., "actor": ..., "details": {...}, "hash": "<sha256>", "prev_hash": "<sha256 of the line before>",
     "record_ids": [...], "seq": 7, "time": "2026-12-03T12:40:00.123456+00:00", "what": ..., "why": ...,
     "window": {"start": ..., "end": ...}}

``hash`` is the SHA-256 of the *canonical JSON* of the entry without ``hash`` (keys sorted, no spaces,
UTF-8, no NaN), ``prev_hash`` the ``hash`` of the line before (64 zeros for the first line) and ``seq`` counts
from 0.  Each line is written in its canonical form, so a line is valid only if it is byte for byte the
canonical JSON of its own content: any edit of a byte - a field, a digit, a space - breaks the line's hash or
its form, deleting or swapping lines breaks ``seq`` and ``prev_hash``, and a line cut short (a truncated
file, a crash mid-write) has no final newline.  :meth:`AuditLog.verify` names the first bad line
(1-based) and why.

A chain alone cannot see its *last* lines removed (the shorter file is a valid chain), nor the last line
re-hashed after an edit.  So every append also writes the head - ``seq`` and ``hash`` of the last entry -
to ``<path>.head`` (temporary file, fsync, rename); :meth:`AuditLog.verify` compares the file's end with it.
For an anchor outside the machine, mirror the entries (:func:`mlflow_mirror`: each entry as an MLflow
artifact and the head as run tags).

Appending is durable (``flush`` + ``fsync`` before :meth:`AuditLog.append` returns) and safe among threads
and processes (a file lock ``<path>.lock``; a writer that finds the file grown re-reads its tail).  Opening
an existing log reads its last line and continues the chain, so a restarted process appends correctly.

Usage::

    from scenarios.live.audit import AuditLog, mlflow_mirror

    log = AuditLog("outputs/live/audit.jsonl")            # creates or continues the chain
    log.append(action="promoted", what="challenger 3f2a... became champion",
               why="shadow score 0.41 < 0.98 x 0.87; policies allow", window={"start": s, "end": e},
               record_ids=["3f2a...", "9b1c..."], details={"scores": {...}})
    log.verify()                                           # raises AuditChainError(line=..., reason=...)
    AuditLog("audit.jsonl", mirror=mlflow_mirror(tracker, run_id))   # entries also go to MLflow

No secret belongs in an entry: the governor removes operator tokens before it audits a command.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from sim.exceptions import ConfigurationError, TwinbenchError
from scenarios.tracking import lineage

__all__ = ["AuditChainError", "AuditLog", "GENESIS_HASH", "ENTRY_KEYS", "canonical_json", "entry_hash", "jsonable",
           "mlflow_mirror", "verify_file"]

log = logging.getLogger(__name__)

#: ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64
#: The keys of every entry, sorted.
ENTRY_KEYS = ("action", "actor", "details", "hash", "prev_hash", "record_ids", "seq", "time", "what", "why",
              "window")
#: MLflow run tags the mirror keeps at the log's head.
HEAD_SEQ_TAG, HEAD_HASH_TAG, LAST_ACTION_TAG = lineage.AUDIT_HEAD_SEQ, lineage.AUDIT_HEAD_HASH, lineage.AUDIT_LAST_ACTION


class AuditChainError(TwinbenchError):
    """The audit log's hash chain is broken: ``line`` (1-based; 0 for the head file) and ``reason`` say where
    and how."""

    def __init__(self, path, line: int, reason: str):
        self.path, self.line, self.reason = str(path), int(line), reason
        where = f"{self.path}.head" if line == 0 else f"{self.path} line {line}"
        super().__init__(f"audit log {where}: {reason}; the log was altered after it was written (or a write was "
                         f"cut short): keep the file as evidence and start a new log under another path")


def jsonable(value):
    """*value* as plain JSON data: numpy scalars and arrays, timestamps, tuples and sets converted; a non-finite
    float becomes the string ``"nan"``, ``"inf"`` or ``"-inf"`` (canonical JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):  # datetime, pandas.Timestamp
        return value.isoformat()
    return str(value)


def canonical_json(obj) -> str:
    """The canonical JSON text of *obj*: keys sorted, separators without spaces, UTF-8 characters kept, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(entry: Mapping) -> str:
    """SHA-256 (hex) of the canonical JSON of *entry* without its ``hash`` key."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def _check_line(path, number: int, raw: bytes, seq: int, prev_hash: str) -> dict:
    """The entry of line *number* (*raw* with its newline), checked against the expected *seq* and *prev_hash*."""
    if not raw.endswith(b"\n"):
        raise AuditChainError(path, number, "the line has no final newline (the file was truncated mid-line)")
    try:
        entry = json.loads(raw[:-1].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise AuditChainError(path, number, f"the line is not valid JSON ({err})") from None
    if not isinstance(entry, dict) or tuple(sorted(entry)) != ENTRY_KEYS:
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise AuditChainError(path, number, f"the entry has the keys {keys}, not {list(ENTRY_KEYS)}")
    if entry["seq"] != seq or isinstance(entry["seq"], bool):
        raise AuditChainError(path, number, f"seq is {entry['seq']!r} where {seq} follows (a line was deleted, "
                                            f"inserted or moved)")
    if entry["prev_hash"] != prev_hash:
        raise AuditChainError(path, number, f"prev_hash {str(entry['prev_hash'])[:16]}... is not the hash "
                                            f"{prev_hash[:16]}... of the line before (a line was deleted, "
                                            f"inserted, moved or re-hashed)")
    if entry["hash"] != entry_hash(entry):
        raise AuditChainError(path, number, "the hash does not match the entry's content (the line was edited)")
    try:
        canonical = canonical_json(entry)
    except ValueError as err:
        raise AuditChainError(path, number, f"the entry is not canonical JSON ({err})") from None
    if raw[:-1] != canonical.encode("utf-8"):
        raise AuditChainError(path, number, "the line is not in its canonical form (the line was edited)")
    return entry


class AuditLog:
    """An append-only, hash-chained JSON-lines audit log at *path* (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The log file; created with its folder if absent, continued if present.
    mirror : callable, optional
        Called with each entry (a dict) after it is durably written, e.g. :func:`mlflow_mirror`.  A mirror
        that raises does not undo or block the audit: the error is logged as a warning and counted in
        :attr:`mirror_errors`.
    clock : callable, optional
        Returns the entry time as a UTC ISO-8601 string (default: the system clock).
    verify : bool
        Verify the whole chain on opening (default: check the last line and the head only).
    repair : bool
        Recover from a crash in the middle of an append: an unfinished last line (no newline) is moved to
        ``<path>.partial-<n>`` and the repair is audited - but only if the complete lines end where the head
        file says (the head is written after the line, so after a crash it still names the line before).
        Without *repair*, such a log raises :class:`AuditChainError` on opening.  A head file one entry behind
        a complete, chained last line (a crash between the two writes) is brought forward in either case.
    """

    def __init__(self, path, *, mirror: Callable[[dict], object] | None = None,
                 clock: Callable[[], str] | None = None, verify: bool = False, repair: bool = False):
        self.path = Path(path)
        self.mirror = mirror
        self.clock = clock or _utc_now
        self.mirror_errors = 0
        self.last_mirror_error: str | None = None
        self._thread_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock

        self._file_lock = FileLock(f"{self.path}.lock")
        self._size = -1
        self._seq, self._hash = -1, GENESIS_HASH
        repaired = None
        with self._thread_lock, self._file_lock:
            if repair:
                repaired = self._cut_unfinished_line()
            if verify:
                self.verify()
            self._read_tail()
        if repaired is not None:
            self.append(action="audit_repaired", actor="audit", what=f"an unfinished last line of {repaired[1]} bytes "
                        f"was moved to {repaired[0].name}", why="an append was cut short (a crash while writing); "
                        "the entry was never acknowledged", details={"sha256": repaired[2], "file": str(repaired[0])})

    # ------------------------------------------------------------ the head
    @property
    def head_path(self) -> Path:
        return Path(f"{self.path}.head")

    @property
    def seq(self) -> int:
        """``seq`` of the last entry (-1 for an empty log)."""
        return self._seq

    @property
    def head_hash(self) -> str:
        """``hash`` of the last entry (:data:`GENESIS_HASH` for an empty log)."""
        return self._hash

    def __len__(self) -> int:
        return self._seq + 1

    def _read_tail(self) -> None:
        """(Under the locks.)  Continue after the file's last line, which must be a complete, valid entry."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if size == 0:
            self._seq, self._hash, self._size, self._prev = -1, GENESIS_HASH, 0, None
            _check_head(self.path, 0, GENESIS_HASH)  # an emptied log whose head remembers entries
            return
        with open(self.path, "rb") as fh:
            block, pos = b"", size
            while True:  # read backwards until the line before the last one starts
                step = min(pos, 65536)
                pos -= step
                fh.seek(pos)
                block = fh.read(step) + block
                cut = block.rfind(b"\n", 0, len(block) - 1)
                if cut >= 0 or pos == 0:
                    break
        last = block[cut + 1:] if cut >= 0 else block
        try:
            entry = json.loads(last.decode("utf-8")) if last.endswith(b"\n") else None
        except (UnicodeDecodeError, ValueError):
            entry = None
        try:
            if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int):
                raise AuditChainError(self.path, 0, "the last line is not a complete entry (the file was truncated "
                                                    "mid-line or edited)")
            seq = entry["seq"]
            _check_line(self.path, 0, last, seq, entry.get("prev_hash"))
        except AuditChainError as err:
            raise AuditChainError(self.path, self._count_lines(), err.reason) from None
        self._seq, self._hash, self._size, self._prev = seq, entry["hash"], size, entry["prev_hash"]
        self._check_tail_against_head()

    def _check_tail_against_head(self) -> None:
        """Refuse to continue a chain whose end disagrees with the head file (lines cut off or re-hashed):
        appending would overwrite the head and hide it.  A head exactly one entry behind a last line that
        chains to it is a crash between writing the line and the head: the head is brought forward."""
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
            behind = (int(head["seq"]), str(head["hash"])) == (self._seq - 1, self._prev)
        except (OSError, ValueError, KeyError, TypeError):
            behind = self._seq == 0 and not self.head_path.exists()  # the first append, its head never written
        if behind:
            log.warning("audit log %s: the head was one entry behind (a crash after the last append); brought "
                        "forward to seq %d", self.path, self._seq)
            self._write_head()
        _check_head(self.path, self._seq + 1, self._hash)

    def _cut_unfinished_line(self):
        """(Under the locks, *repair*.)  Move an unfinished last line away if the rest ends where the head says;
        returns (where, size, sha256) or None."""
        if not self.path.exists():
            return None
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return None
        keep = data[:data.rfind(b"\n") + 1]
        partial = data[len(keep):]
        count, last_hash = keep.count(b"\n"), GENESIS_HASH
        if count:
            try:
                last_hash = json.loads(keep[:-1].rsplit(b"\n", 1)[-1].decode("utf-8"))["hash"]
            except (UnicodeDecodeError, ValueError, KeyError, TypeError):
                raise AuditChainError(self.path, count, "the last complete line is not an entry; not repaired") \
                    from None
        _check_head(self.path, count, last_hash)  # the head must name the last complete line
        n = 0
        while Path(f"{self.path}.partial-{n}").exists():
            n += 1
        where = Path(f"{self.path}.partial-{n}")
        where.write_bytes(partial)
        with open(self.path, "r+b") as fh:
            fh.truncate(len(keep))
            fh.flush()
            os.fsync(fh.fileno())
        return where, len(partial), hashlib.sha256(partial).hexdigest()

    def _count_lines(self) -> int:
        with open(self.path, "rb") as fh:
            data = fh.read()
        return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)

    def _write_head(self) -> None:
        tmp = Path(f"{self.head_path}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(canonical_json({"hash": self._hash, "seq": self._seq}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_path)

    # -------------------------------------------------------------- append
    def append(self, *, action: str, what: str, why: str, actor: str = "twin", window: Mapping | None = None,
               record_ids=(), details: Mapping | None = None) -> dict:
        """Write one entry and return it (with ``seq``, ``time``, ``prev_hash`` and ``hash``).

        Parameters
        ----------
        action : str
            What kind of decision, e.g. ``"promoted"``, ``"command_refused"``.
        what, why : str
            The decision and its reason, in words.
        actor : str
            Who decided: ``"twin"`` (the governor), an approver's name, ``"operator"``.
        window : mapping, optional
            The data window: ``{"start": ..., "end": ...}`` (UTC ISO text or timestamps); other keys are kept.
        record_ids : sequence of str
            Ids of the calibration records concerned.
        details : mapping, optional
            Anything else (scores, verdicts); converted to plain JSON (non-finite floats become text).
        """
        for name, value in (("action", action), ("what", what), ("why", why), ("actor", actor)):
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"audit entry {name} = {value!r} must be a non-empty string")
        window = {"start": None, "end": None, **jsonable(dict(window or {}))}
        if isinstance(record_ids, str):
            record_ids = [record_ids]
        body = {"action": action, "actor": actor, "details": jsonable(dict(details or {})),
                "record_ids": [str(r) for r in record_ids], "what": what, "why": why, "window": window}
        with self._thread_lock, self._file_lock:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size != self._size:  # another process appended since: continue after its last line
                self._read_tail()
            entry = {**body, "seq": self._seq + 1, "time": str(self.clock()), "prev_hash": self._hash}
            entry["hash"] = entry_hash(entry)
            line = (canonical_json(entry) + "\n").encode("utf-8")
            with open(self.path, "ab") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            self._seq, self._hash, self._size = entry["seq"], entry["hash"], size + len(line)
            self._write_head()
        if self.mirror is not None:
            try:
                self.mirror(dict(entry))
            except Exception as err:  # noqa: BLE001 - a tracking outage must not lose or block the audit
                self.mirror_errors += 1
                self.last_mirror_error = f"{type(err).__name__}: {err}"
                log.warning("audit entry %d was written but not mirrored: %s", entry["seq"], self.last_mirror_error)
        return entry

    # -------------------------------------------------------------- reading
    def entries(self) -> list[dict]:
        """Every entry of the file, oldest first, after :meth:`verify`."""
        return self.verify(return_entries=True)

    def verify(self, *, return_entries: bool = False):
        """Check the whole chain and the head file (:func:`verify_file`)."""
        return verify_file(self.path, return_entries=return_entries)


def verify_file(path, *, return_entries: bool = False):
    """Check the audit log at *path*: every line, its chain and the head file ``<path>.head``.

    Returns the number of entries (or, with *return_entries*, the entries, oldest first); raises
    :class:`AuditChainError` naming the first bad line (1-based; 0: the head file) and why.  Opens nothing
    for writing: use it on a copy kept as evidence.
    """
    path = Path(path)
    out, count = [], 0
    seq, prev = 0, GENESIS_HASH
    if path.exists():
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                entry = _check_line(path, number, raw, seq, prev)
                seq, prev, count = seq + 1, entry["hash"], count + 1
                if return_entries:
                    out.append(entry)
    _check_head(path, count, prev)
    return out if return_entries else count


def _check_head(path: Path, count: int, last_hash: str) -> None:
    """The head file of *path* must name the last of its *count* entries, whose hash is *last_hash*."""
    head_path = Path(f"{path}.head")
    if not head_path.exists():
        if count:
            raise AuditChainError(path, 0, f"the head file is missing although the log holds {count} entries (it "
                                           f"was deleted)")
        return
    try:
        head = json.loads(head_path.read_text(encoding="utf-8"))
        head_seq, head_hash = int(head["seq"]), str(head["hash"])
    except (ValueError, KeyError, TypeError) as err:
        raise AuditChainError(path, 0, f"the head file is unreadable ({err})") from None
    if head_seq > count - 1:
        raise AuditChainError(path, count + 1, f"the log ends after {count} entries but its head says entry seq "
                                               f"{head_seq} was written (the file was truncated: lines "
                                               f"{count + 1}..{head_seq + 1} are missing)")
    if head_seq < count - 1:
        raise AuditChainError(path, head_seq + 2, f"the log holds {count} entries but its head says the last is "
                                                  f"seq {head_seq} (lines were appended outside the log)")
    if head_hash != last_hash:
        raise AuditChainError(path, count, "the last entry's hash differs from the head's (the last line was "
                                           "edited and re-hashed)")


def mlflow_mirror(tracker, run_id: str, *, prefix: str = "audit") -> Callable[[dict], None]:
    """A mirror for :class:`AuditLog` that logs each entry to MLflow run *run_id* through *tracker*.

    Each entry becomes the text artifact ``<prefix>-<seq:06d>-<action>.json``; the run's tags
    ``twinbench.audit.head_seq``, ``twinbench.audit.head_hash`` and ``twinbench.audit.last_action`` follow the
    head (an anchor outside the file); the metric ``<prefix>.seq`` and every finite number in the entry's
    ``details["metrics"]`` (as ``<prefix>.<key>``) are logged at step ``seq``.  *tracker* is a
    :class:`~scenarios.tracking.tracker.MlflowTracker` (or anything with ``log_text``, ``set_tags`` and
    ``log_metrics``).
    """

    def mirror(entry: dict) -> None:
        seq = int(entry["seq"])
        tracker.log_text(run_id, canonical_json(entry) + "\n", f"{prefix}-{seq:06d}-{entry['action']}.json")
        tracker.set_tags(run_id, {HEAD_SEQ_TAG: seq, HEAD_HASH_TAG: entry["hash"], LAST_ACTION_TAG: entry["action"]})
        metrics = {f"{prefix}.seq": float(seq)}
        for key, value in (entry.get("details", {}).get("metrics") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                metrics[f"{prefix}.{key}"] = float(value)
        tracker.log_metrics(run_id, metrics, step=seq)

    return mirror


def main(argv=None) -> int:
    """``python -m scenarios.live.audit LOG [LOG ...]``: verify audit logs; exit status 1 at the first bad one."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m scenarios.live.audit",
                                     description="Verify hash-chained audit logs (and their .head files).")
    parser.add_argument("logs", nargs="+", help="audit log files (JSON lines)")
    args = parser.parse_args(argv)
    for path in args.logs:
        if not Path(path).is_file():
            print(f"MISSING {path}: no such file")
            return 2
        try:
            count = verify_file(path)
        except AuditChainError as err:
            print(f"BROKEN {path}: line {err.line}: {err.reason}")
            return 1
        print(f"ok {path}: {count} entries")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through main() in the tests
    raise SystemExit(main())
