"""Authenticated live transports (issue 13 item 9): MQTT over TLS with client certificates and a password
file, OPC UA with a security policy and a user manager; secrets only by reference, never in a config.

The certificates are made here with ``cryptography``; the servers are a real mosquitto and a real asyncua
server on 127.0.0.1, stopped in teardown.
"""

import datetime as dt
import getpass
import ipaddress
import json
import shutil
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sim.exceptions import ConfigurationError, TelemetryError
from sim.telemetry import ChannelMap, LiveTelemetry
from sim.telemetry.sources.live import Secret
from sim.telemetry.sources.mqtt import MqttSecurity, MqttSource
from sim.telemetry.sources.opcua import OpcUaSecurity, OpcUaSource
from tests.sim.telemetry.conftest import Mosquitto, mosquitto_binary
from tests.sim.telemetry.live_helpers import wait_until

TOPIC = "plant/m1/current"
USER, PASSWORD = "twin", "s3cret-Pa55-not-in-configs"
T0 = 1_700_000_000.0  # [s]


# -- certificates -----------------------------------------------------------------------------------------------
def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write(directory, name, cert, key, *, der=False):
    encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
    cert_path = directory / f"{name}.{'der' if der else 'crt'}"
    key_path = directory / f"{name}.{'pem' if der else 'key'}"
    cert_path.write_bytes(cert.public_bytes(encoding))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)


def make_cert(common_name, *, issuer=None, ca=False, sans=(), usage=()):
    """A certificate and its key; *issuer* ``(cert, key)`` signs it (None: self-signed)."""
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer[0].subject if issuer else subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                        critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(True, True, True, True, False, False, False, False, False),
                                        critical=True)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usage)), critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a broker certificate for 127.0.0.1, a client certificate, and a second CA nobody trusts."""
    d = tmp_path_factory.mktemp("pki")
    ca = make_cert("Twinbench test CA", ca=True)
    other_ca = make_cert("Some other CA", ca=True)
    server = make_cert("127.0.0.1", issuer=ca, sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                     x509.DNSName("localhost")],
                       usage=[ExtendedKeyUsageOID.SERVER_AUTH])
    client = make_cert("twin", issuer=ca, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    paths = {"dir": d, "ca": _write(d, "ca", *ca)[0], "other_ca": _write(d, "other_ca", *other_ca)[0]}
    paths["server_cert"], paths["server_key"] = _write(d, "server", *server)
    paths["client_cert"], paths["client_key"] = _write(d, "client", *client)
    return paths


# -- MQTT ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secure_broker(pki, tmp_path_factory):
    """A mosquitto broker (the conftest's ``Mosquitto``) with TLS (client certificates required) and a password
    file, shared by the module's MQTT tests: each connects with its own client and leaves no state behind."""
    binary, tool = mosquitto_binary(), shutil.which("mosquitto_passwd")
    if binary is None or tool is None:
        pytest.skip("mosquitto / mosquitto_passwd is not installed (.ci/run installs it: apt-get install mosquitto)")
    directory = tmp_path_factory.mktemp("secure_broker")
    passwords = directory / "passwd"
    subprocess.run([tool, "-b", "-c", str(passwords), USER, PASSWORD], check=True, timeout=30,
                   capture_output=True)
    broker = Mosquitto(binary, directory)
    broker.config.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
        f"cafile {pki['ca']}\ncertfile {pki['server_cert']}\nkeyfile {pki['server_key']}\n"
        f"require_certificate true\ntls_version tlsv1.2\n"
        f"log_dest file {directory}/mosquitto.log\nuser {getpass.getuser()}\n", encoding="utf-8")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def security(pki, **changes):
    settings = {"ca_file": pki["ca"], "cert_file": pki["client_cert"], "key_file": pki["client_key"],
                "username": USER, "password": Secret(env="TWINBENCH_TEST_MQTT_PASSWORD")}
    return MqttSecurity(**{**settings, **changes})


def secure_publisher(port, pki):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="secure-plc", clean_session=True)
    client.tls_set(ca_certs=pki["ca"], certfile=pki["client_cert"], keyfile=pki["client_key"])
    client.username_pw_set(USER, PASSWORD)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


MQTT_MAP = ChannelMap.from_dict({"channels": {"motor_current": {"topic": TOPIC, "unit": "A", "si_unit": "A"}}})


def test_mqtt_over_tls_with_client_certificate_and_password(secure_broker, pki, monkeypatch):
    monkeypatch.setenv("TWINBENCH_TEST_MQTT_PASSWORD", PASSWORD)
    source = MqttSource("127.0.0.1", secure_broker.port, [TOPIC], security=security(pki))
    live = LiveTelemetry(source, MQTT_MAP, MQTT_MAP.topics).start()
    pub = None
    try:
        source.wait_connected()
        pub = secure_publisher(secure_broker.port, pki)
        for i in range(50):
            pub.publish(TOPIC, json.dumps({"time": T0 + i, "value": float(i)}), qos=1)
        deadline = time.monotonic() + 20
        while live.rows < 50 and time.monotonic() < deadline:
            live.poll()
            time.sleep(0.02)
    finally:
        if pub is not None:
            pub.loop_stop()
            pub.disconnect()
        live.stop()
    stream = live.stream()
    stream.check_accounting()
    assert stream.frame["motor_current"].tolist() == [float(i) for i in range(50)]


def test_mqtt_password_from_a_file(secure_broker, pki, tmp_path):
    secret = tmp_path / "mqtt_password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    source = MqttSource("127.0.0.1", secure_broker.port, [TOPIC], security=security(pki, password=Secret(
        file=str(secret)))).start()
    try:
        source.wait_connected()
    finally:
        source.stop()


@pytest.mark.parametrize("case", ["wrong password", "no TLS", "untrusted broker CA", "no client certificate"])
def test_mqtt_connections_the_broker_must_refuse(secure_broker, pki, monkeypatch, case):
    monkeypatch.setenv("TWINBENCH_TEST_MQTT_PASSWORD", "wrong" if case == "wrong password" else PASSWORD)
    settings = {"no TLS": MqttSecurity(username=USER, password=Secret(env="TWINBENCH_TEST_MQTT_PASSWORD")),
                "untrusted broker CA": security(pki, ca_file=pki["other_ca"]),
                "no client certificate": security(pki, cert_file=None, key_file=None)}.get(case, security(pki))
    source = MqttSource("127.0.0.1", secure_broker.port, [TOPIC], security=settings,
                        reconnect_delay=(0.05, 0.2)).start()
    try:
        timeout = 1.0  # a local broker accepts (or fails the TLS handshake) within milliseconds
        if case == "wrong password":  # the broker's CONNACK says why: wait for it, not for a fixed time
            wait_until(lambda: source.refused, 10, "the broker's refusal")
            timeout = 0.2
        with pytest.raises(TelemetryError) as err:
            source.wait_connected(timeout)
    finally:
        source.stop()
    message = str(err.value)
    assert f"127.0.0.1:{secure_broker.port}" in message and "fix:" in message and PASSWORD not in message
    if case == "wrong password":
        assert "refused" in message and "password" in message
    elif case == "no TLS":
        assert "TLS" in message
    else:
        assert "TLS handshake fails" in message and "ca_file" in message


def test_an_unset_password_variable_fails_at_start_naming_it(pki, monkeypatch):
    monkeypatch.delenv("TWINBENCH_TEST_MQTT_PASSWORD", raising=False)
    with pytest.raises(ConfigurationError, match="TWINBENCH_TEST_MQTT_PASSWORD is not set"):
        MqttSource("127.0.0.1", 1, [TOPIC], security=security(pki)).start()


# -- secrets stay out of configs, reprs and logs --------------------------------------------------------------
def test_a_literal_password_in_a_config_is_refused_with_the_key_and_the_fix():
    for cls, where in ((MqttSecurity, "mqtt"), (OpcUaSecurity, "opcua")):
        with pytest.raises(ConfigurationError) as err:
            cls.from_dict({"username": USER, "password": PASSWORD})
        message = str(err.value)
        assert f"{where}.password" in message and "password_env" in message and "password_file" in message
        assert PASSWORD not in message
    with pytest.raises(ConfigurationError, match="must be a Secret reference"):
        MqttSecurity(username=USER, password=PASSWORD)
    with pytest.raises(ConfigurationError, match="must be a Secret reference"):
        OpcUaSecurity(username=USER, password=PASSWORD)


def test_no_secret_value_reaches_repr_str_or_to_dict(pki, monkeypatch, tmp_path):
    monkeypatch.setenv("TWINBENCH_TEST_MQTT_PASSWORD", PASSWORD)
    secret_file = tmp_path / "opcua_password"
    secret_file.write_text(PASSWORD, encoding="utf-8")
    mqtt_security = MqttSecurity.from_dict({"ca_file": pki["ca"], "username": USER,
                                            "password_env": "TWINBENCH_TEST_MQTT_PASSWORD"})
    opcua_security = OpcUaSecurity.from_dict({"policy": "Basic256Sha256", "certificate": pki["client_cert"],
                                              "private_key": pki["client_key"], "username": USER,
                                              "password_file": str(secret_file)})
    mqtt_source = MqttSource("127.0.0.1", 8883, [TOPIC], security=mqtt_security)
    opcua_source = OpcUaSource("opc.tcp://127.0.0.1:4840/", ["ns=2;s=X"], security=opcua_security)
    assert mqtt_security.password.reveal() == opcua_security.password.reveal() == PASSWORD  # they do resolve
    for thing in (mqtt_security, opcua_security, mqtt_source, opcua_source, mqtt_security.password):
        for text in (repr(thing), str(thing), json.dumps(thing.to_dict()), json.dumps(thing.redacted())
                     if hasattr(thing, "redacted") else ""):
            assert PASSWORD not in text, (type(thing).__name__, text)
    assert mqtt_security.to_dict()["password_env"] == "TWINBENCH_TEST_MQTT_PASSWORD"
    assert MqttSecurity.from_dict(mqtt_security.to_dict()) == mqtt_security  # the reference round-trips
    assert OpcUaSecurity.from_dict(opcua_security.to_dict()) == opcua_security


# -- OPC UA -------------------------------------------------------------------------------------------------------
class SecurePlc:
    """An asyncua server in its own thread: Basic256Sha256 only (Sign and SignAndEncrypt), user names only,
    checked by a user manager."""

    URI = "urn:twinbench:test-plc"

    def __init__(self, pki):
        import asyncio
        import socket
        import threading

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"opc.tcp://127.0.0.1:{self.port}/plc/"
        self.pki = pki
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="secure-plc", daemon=True)
        self.thread.start()
        self.server = self.variable = self.node = None
        self.variables = 0

    def call(self, coroutine, timeout=30.0):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _start(self):
        from asyncua import Server, ua
        from asyncua.crypto.permission_rules import User, UserRole
        from asyncua.server.user_managers import UserManager

        class Passwords(UserManager):
            def get_user(self, iserver, username=None, password=None, certificate=None):
                return User(role=UserRole.User, name=username) if (username, password) == (USER, PASSWORD) else None

        server = Server(user_manager=Passwords())
        await server.init()
        server.set_endpoint(self.url)
        await server.set_application_uri(self.URI)
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                                    ua.SecurityPolicyType.Basic256Sha256_Sign])
        server.set_security_IDs(["Username"])
        await server.load_certificate(self.pki["plc_cert"])
        await server.load_private_key(self.pki["plc_key"])
        self.index = await server.register_namespace("urn:twinbench:secure-plc")
        self.plc = await server.nodes.objects.add_object(self.index, "PLC")
        await server.start()
        self.server = server

    async def _new_variable(self):
        """A fresh Double variable (the test's own, so that no value or stamp of an earlier test is reported)."""
        from asyncua import ua

        self.variables += 1
        name = f"M1.Current.{self.variables}"
        self.variable = await self.plc.add_variable(ua.NodeId(name, self.index), name,
                                                    ua.Variant(0.0, ua.VariantType.Double))
        self.node = f"ns={self.index};s={name}"

    def write(self, value, stamp):
        from asyncua import ua

        self.call(self.variable.write_value(ua.DataValue(ua.Variant(float(value), ua.VariantType.Double),
                                                         SourceTimestamp=stamp, ServerTimestamp=stamp)))

    def close(self):
        try:
            if self.server is not None:
                self.call(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


@pytest.fixture(scope="module")
def opc_pki(pki):
    """OPC UA application certificates: the URI SAN is the application's identity."""
    d = pki["dir"]
    plc = make_cert("secure-plc", sans=[x509.UniformResourceIdentifier(SecurePlc.URI), x509.DNSName("localhost"),
                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                    usage=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    twin = make_cert("twin", sans=[x509.UniformResourceIdentifier("urn:twinbench:twin"), x509.DNSName("localhost")],
                     usage=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    out = dict(pki)
    out["plc_cert"], out["plc_key"] = _write(d, "plc", *plc, der=True)
    out["twin_cert"], out["twin_key"] = _write(d, "twin", *twin, der=True)
    return out


@pytest.fixture(scope="module")
def secure_plc_server(opc_pki):
    """One secure server for the module's OPC UA tests (each test gets its own variable: ``secure_plc``)."""
    pytest.importorskip("asyncua")
    plc = SecurePlc(opc_pki)
    try:
        plc.call(plc._start())
        yield plc
    finally:
        plc.close()


@pytest.fixture
def secure_plc(secure_plc_server):
    secure_plc_server.call(secure_plc_server._new_variable())
    return secure_plc_server


def opc_security(pki, **changes):
    settings = {"policy": "Basic256Sha256", "mode": "SignAndEncrypt", "certificate": pki["twin_cert"],
                "private_key": pki["twin_key"], "server_certificate": pki["plc_cert"], "username": USER,
                "password": Secret(env="TWINBENCH_TEST_OPCUA_PASSWORD")}
    return OpcUaSecurity(**{**settings, **changes})


@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
def test_opcua_with_basic256sha256_and_a_user(secure_plc, opc_pki, monkeypatch, mode):
    monkeypatch.setenv("TWINBENCH_TEST_OPCUA_PASSWORD", PASSWORD)
    channel_map = ChannelMap.from_dict({"channels": {"motor_current": {"node": secure_plc.node, "unit": "A",
                                                                      "si_unit": "A"}}})
    source = OpcUaSource(secure_plc.url, [secure_plc.node], security=opc_security(opc_pki, mode=mode),
                         reconnect_delay=(0.05, 0.5))
    live = LiveTelemetry(source, channel_map, channel_map.nodes).start()
    try:
        source.wait_connected(15)
        t0 = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0) + dt.timedelta(seconds=1)
        for i in range(1, 11):
            secure_plc.write(10.0 + i, t0 + dt.timedelta(seconds=i))
        deadline = time.monotonic() + 15
        while live.rows < 11 and time.monotonic() < deadline:  # the initial value, then the ten writes
            live.poll()
            time.sleep(0.02)
    finally:
        live.stop()
    stream = live.stream()
    stream.check_accounting()
    assert stream.frame["motor_current"].dropna().tolist()[-10:] == [10.0 + i for i in range(1, 11)]


@pytest.mark.parametrize("case", ["wrong password", "no user", "no security policy"])
def test_opcua_connections_the_server_must_refuse(secure_plc, opc_pki, monkeypatch, case):
    monkeypatch.setenv("TWINBENCH_TEST_OPCUA_PASSWORD", "wrong" if case == "wrong password" else PASSWORD)
    settings = {"no user": opc_security(opc_pki, username=None, password=None),
                "no security policy": OpcUaSecurity(username=USER, password=Secret(
                    env="TWINBENCH_TEST_OPCUA_PASSWORD"))}.get(case, opc_security(opc_pki))
    source = OpcUaSource(secure_plc.url, [secure_plc.node], security=settings, reconnect_delay=(0.05, 0.2))
    source.start()
    try:
        wait_until(lambda: source.errors, 15, "a refused connection attempt")  # not a fixed wait
        with pytest.raises(TelemetryError) as err:
            source.wait_connected(0.2)
    finally:
        source.stop()
    message = str(err.value)
    assert secure_plc.url in message and "fix:" in message and PASSWORD not in message
    if case == "no security policy":
        assert "security policy and mode" in message, message
    else:
        assert "username and password" in message, message
