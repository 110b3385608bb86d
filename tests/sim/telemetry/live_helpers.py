"""Helpers of the live-telemetry tests: a real paho publisher on the local broker, and bounded waiting."""

import time

import paho.mqtt.client as mqtt


def publisher(port, client_id="plc-publisher"):
    """A QoS-1 publisher with a persistent session on the broker at 127.0.0.1:*port*, its network loop running."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.reconnect_delay_set(0.05, 0.5)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def wait_until(predicate, timeout, what):
    """Poll *predicate* every 20 ms; fail naming *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
