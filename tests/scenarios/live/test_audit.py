"""The hash-chained audit log: every edit, deletion, swap and truncation is found and its line named."""

import hashlib
from datetime import datetime, timedelta
import json
import multiprocessing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenarios.live.audit import (ENTRY_KEYS, GENESIS_HASH, AuditChainError, AuditLog, canonical_json, entry_hash,
                                  main, verify_file)
from sim.exceptions import ConfigurationError, TwinbenchError

N = 6


def fill(path, n=N, **kw):
    log = AuditLog(path, **kw)
    for i in range(n):
        log.append(action="promoted" if i % 2 else "rejected", what=f"decision {i}", why=f"reason {i} – ünïcode",
                   actor="twin", window={"start": f"2026-06-01T0{i}:00:00+00:00", "end": f"2026-06-01T0{i}:59:00+00:00"},
                   record_ids=[f"rec{i}", f"rec{i + 1}"],
                   details={"metrics": {"score": 0.5 + i, "nan": float("nan")}, "nested": {"list": [1, 2.5, None]}})
    return log


def lines(path):
    with open(path, "rb") as fh:
        return fh.read().split(b"\n")[:-1]


def write(path, raw_lines, final_newline=True):
    with open(path, "wb") as fh:
        fh.write(b"\n".join(raw_lines) + (b"\n" if final_newline else b""))


def bad_line(path):
    with pytest.raises(AuditChainError) as err:
        verify_file(path)
    return err.value


def test_entries_are_canonical_chained_and_hashed(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = fill(path)
    assert log.verify() == N and len(log) == N and log.seq == N - 1
    entries = log.entries()
    assert [e["seq"] for e in entries] == list(range(N))
    assert entries[0]["prev_hash"] == GENESIS_HASH
    for before, entry, raw in zip([None] + entries, entries, lines(path)):
        assert tuple(sorted(entry)) == ENTRY_KEYS
        body = canonical_json({k: v for k, v in entry.items() if k != "hash"}).encode()
        assert entry["hash"] == hashlib.sha256(body).hexdigest() == entry_hash(entry)
        assert raw == canonical_json(entry).encode()
        if before is not None:
            assert entry["prev_hash"] == before["hash"]
    assert entries[2]["details"]["metrics"] == {"score": 2.5, "nan": "nan"}  # canonical JSON has no NaN
    assert entries[3]["window"]["start"] == "2026-06-01T03:00:00+00:00"
    assert all(datetime.fromisoformat(e["time"]).utcoffset() == timedelta(0) for e in entries)  # UTC ISO
    assert json.loads((tmp_path / "audit.jsonl.head").read_text()) == {"seq": N - 1, "hash": entries[-1]["hash"]}


@pytest.mark.parametrize("field", [k for k in ENTRY_KEYS if k != "hash"] + ["hash"])
@pytest.mark.parametrize("line", [1, 4, N])
def test_editing_any_field_of_any_line_is_detected_and_named(tmp_path, field, line):
    path = tmp_path / "audit.jsonl"
    fill(path)
    raw = lines(path)
    entry = json.loads(raw[line - 1])
    entry[field] = {"seq": 99, "prev_hash": "f" * 64, "hash": "e" * 64, "details": {"x": 1},
                    "window": {"start": "x", "end": "y"}, "record_ids": ["forged"]}.get(field, "forged")
    raw[line - 1] = canonical_json(entry).encode()
    write(path, raw)
    err = bad_line(path)
    assert err.line == line, err
    assert f"line {line}" in str(err)


def test_an_edited_line_that_is_rehashed_breaks_the_next_line_or_the_head(tmp_path):
    path = tmp_path / "audit.jsonl"
    fill(path)
    for line in (2, N):
        fill(tmp_path / f"{line}.jsonl")
        raw = lines(tmp_path / f"{line}.jsonl")
        entry = json.loads(raw[line - 1])
        entry["why"] = "rewritten history"
        entry["hash"] = entry_hash(entry)
        raw[line - 1] = canonical_json(entry).encode()
        write(tmp_path / f"{line}.jsonl", raw)
        err = bad_line(tmp_path / f"{line}.jsonl")
        assert err.line == line + 1 if line < N else err.line == N, err


def test_deleting_swapping_and_truncating_are_detected_and_named(tmp_path):
    path = tmp_path / "audit.jsonl"
    fill(path)
    original = lines(path)
    cases = {
        "delete line 3": (original[:2] + original[3:], True, 3),
        "delete the first line": (original[1:], True, 1),
        "swap lines 2 and 5": (original[:1] + [original[4]] + original[2:4] + [original[1]] + original[5:], True, 2),
        "truncate mid-line 6": (original[:5] + [original[5][:40]], False, 6),
        "truncate at a line boundary": (original[:4], True, 5),
        "drop the last newline": (original, False, N),
    }
    for name, (raw, newline, expected) in cases.items():
        write(path, raw, final_newline=newline)
        err = bad_line(path)
        assert err.line == expected, (name, err)
    write(path, original)
    assert AuditLog(path, verify=True).verify() == N
    (tmp_path / "audit.jsonl.head").unlink()
    assert bad_line(path).line == 0  # the head file is part of the record


def test_a_whitespace_edit_that_keeps_the_json_is_still_detected(tmp_path):
    path = tmp_path / "audit.jsonl"
    fill(path)
    raw = lines(path)
    raw[2] = raw[2].replace(b'"actor":"twin"', b'"actor": "twin"')
    write(path, raw)
    err = bad_line(path)
    assert err.line == 3 and "canonical" in err.reason


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_edit_is_detected_at_its_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("prop") / "audit.jsonl"
    fill(path, n=4)
    blob = path.read_bytes()
    pos = data.draw(st.integers(0, len(blob) - 1), label="position")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != blob[pos]), label="new byte")
    edited = blob[:pos] + bytes([byte]) + blob[pos + 1:]
    path.write_bytes(edited)
    err = bad_line(path)
    expected = blob[:pos].count(b"\n") + 1  # the line holding the edited byte
    assert err.line == expected, (pos, byte, err)


def test_a_reopened_log_continues_the_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    first = fill(path, n=3)
    head = first.head_hash
    again = AuditLog(path)  # a restarted process
    assert (again.seq, again.head_hash) == (2, head)
    entry = again.append(action="rolled_back", what="champion back", why="operator asked")
    assert entry["seq"] == 3 and entry["prev_hash"] == head
    first.append(action="promoted", what="from the old object", why="it saw the file grow")
    assert [e["seq"] for e in AuditLog(path).entries()] == [0, 1, 2, 3, 4]


def test_a_log_cut_short_refuses_to_continue(tmp_path):
    path = tmp_path / "audit.jsonl"
    fill(path)
    raw = lines(path)
    write(path, raw[:3])  # lines 4..6 removed: opening would hide it by rewriting the head
    with pytest.raises(AuditChainError) as err:
        AuditLog(path)
    assert err.value.line == 4 and "truncated" in str(err.value)
    write(path, raw[:5] + [raw[5][:10]], final_newline=False)
    with pytest.raises(AuditChainError) as err:
        AuditLog(path)
    assert err.value.line == 6 and isinstance(err.value, TwinbenchError)


def _append_many(path, tag, n):
    log = AuditLog(path)
    for i in range(n):
        log.append(action="proposed", what=f"{tag}-{i}", why="concurrency")


def test_two_processes_append_to_one_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    AuditLog(path)
    ctx = multiprocessing.get_context("fork")  # (spawn would re-import numpy and numba: seconds)
    procs = [ctx.Process(target=_append_many, args=(path, tag, 15)) for tag in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    entries = AuditLog(path).entries()
    assert len(entries) == 30 and sorted(e["what"] for e in entries) == sorted(
        f"{t}-{i}" for t in "ab" for i in range(15))


def test_bad_entries_are_refused_and_a_failing_mirror_does_not_lose_the_entry(tmp_path):
    seen = []

    def broken(entry):
        seen.append(entry["seq"])
        raise OSError("tracking server down")

    log = AuditLog(tmp_path / "a.jsonl", mirror=broken)
    with pytest.raises(ConfigurationError, match="action"):
        log.append(action="", what="x", why="y")
    log.append(action="promoted", what="x", why="y")
    assert seen == [0] and log.mirror_errors == 1 and "server down" in log.last_mirror_error
    assert log.verify() == 1


def test_the_command_line_verifies_logs(tmp_path, capsys):
    path = tmp_path / "audit.jsonl"
    fill(path, n=3)
    assert main([str(path)]) == 0 and "3 entries" in capsys.readouterr().out
    raw = lines(path)
    write(path, [raw[0], raw[2], raw[1]])
    assert main([str(path)]) == 1 and "line 2" in capsys.readouterr().out
    assert main([str(tmp_path / "none.jsonl")]) == 2


def test_a_crash_between_the_line_and_its_head_is_recovered(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = fill(path, n=3)
    old_head = (tmp_path / "audit.jsonl.head").read_bytes()
    log.append(action="promoted", what="the last", why="before the crash")
    (tmp_path / "audit.jsonl.head").write_bytes(old_head)  # the head write never happened
    again = AuditLog(path)
    assert again.seq == 3 and verify_file(path) == 4
    first = tmp_path / "first.jsonl"
    AuditLog(first).append(action="proposed", what="first", why="crash before the first head")
    (tmp_path / "first.jsonl.head").unlink()
    assert AuditLog(first).seq == 0 and verify_file(first) == 1


def test_an_unfinished_line_is_cut_off_only_on_request_and_only_after_a_crash(tmp_path):
    path = tmp_path / "audit.jsonl"
    fill(path, n=3)
    unfinished = b'{"action":"promoted","actor":"twin","deta'
    with open(path, "ab") as fh:
        fh.write(unfinished)  # the process died while writing entry 3; its head still names entry 2
    with pytest.raises(AuditChainError) as err:
        AuditLog(path)
    assert err.value.line == 4
    log = AuditLog(path, repair=True)
    entries = log.entries()
    assert len(entries) == 4 and entries[-1]["action"] == "audit_repaired"
    assert (tmp_path / "audit.jsonl.partial-0").read_bytes() == unfinished
    assert entries[-1]["details"]["sha256"] == hashlib.sha256(unfinished).hexdigest()
    # lines removed and the cut made to look like a crash: the head still names the removed entries
    raw = lines(path)
    write(path, raw[:2] + [raw[2][:30]], final_newline=False)
    with pytest.raises(AuditChainError) as err:
        AuditLog(path, repair=True)
    assert "truncated" in err.value.reason
    assert not (tmp_path / "audit.jsonl.partial-1").exists()
