"""adbd services and device programs of the simulated phone beyond shell and sync (issue 12), through the real adb
server: `adb reverse` (reverse:forward / list-forward / killforward, a phone program reaching the host through
it), the network commands, and what docs/sim-fidelity.md "Shell, toybox and services" lists with its source."""

from __future__ import annotations

import socket
import threading

import pytest

from sim_fixtures import adb_server, free_port, sim_phone  # noqa: F401  (fixtures)


@pytest.fixture()
def upper_server():
    """A TCP server on the host that answers each connection with its input in upper case, then closes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(data.upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join(5)
    sock.close()


def test_adb_reverse_forwards_a_phone_port_to_the_host(sim_phone, upper_server):
    adb = sim_phone.adb
    serial = ("-s", sim_phone.serial)
    assert adb.run(*serial, "reverse", "tcp:7100", f"tcp:{upper_server}").returncode == 0
    listing = adb.run(*serial, "reverse", "--list").stdout
    assert f"(reverse) tcp:7100 tcp:{upper_server}" in listing.splitlines()
    # a program on the phone connects to its own port 7100 and reaches the host's server
    reply = sim_phone.shell("echo hello phone | nc localhost 7100")
    assert (reply.returncode, reply.stdout) == (0, "HELLO PHONE\n")
    # --no-rebind on a bound port: adbd's "cannot rebind existing socket"
    again = adb.run(*serial, "reverse", "--no-rebind", "tcp:7100", "tcp:1")
    assert again.returncode == 1 and "cannot rebind existing socket" in again.stderr
    # tcp:0: adbd picks a port and answers its number
    picked = adb.run(*serial, "reverse", "tcp:0", f"tcp:{upper_server}")
    assert picked.returncode == 0 and picked.stdout.strip().isdigit()
    assert adb.run(*serial, "reverse", "--remove", "tcp:7100").returncode == 0
    missing = adb.run(*serial, "reverse", "--remove", "tcp:7100")
    assert missing.returncode == 1 and "listener 'tcp:7100' not found" in missing.stderr
    refused = sim_phone.shell("echo x | nc localhost 7100")
    assert refused.returncode == 1 and refused.stderr == "nc: connect: Connection refused\n"
    assert adb.run(*serial, "reverse", "--remove-all").returncode == 0
    assert adb.run(*serial, "reverse", "--list").stdout.strip() == ""


def test_a_reverse_listener_dies_with_its_connection(adb_server, tmp_path, upper_server):
    from sim_fixtures import start_phone, stop_phone
    phone = start_phone(adb_server, tmp_path / "root")
    try:
        assert adb_server.run("-s", phone.serial, "reverse", "tcp:7200", f"tcp:{upper_server}").returncode == 0
        adb_server.run("disconnect", phone.serial)
        phone.connect()
        assert adb_server.run("-s", phone.serial, "reverse", "--list").stdout.strip() == ""
        assert phone.shell("echo x | nc 127.0.0.1 7200").returncode == 1
    finally:
        stop_phone(phone)


def test_network_commands(sim_phone):
    addr = sim_phone.shell("ip addr show wlan0")
    assert addr.returncode == 0 and "inet 192.168.1.42/24" in addr.stdout and "wlan0:" in addr.stdout
    assert "inet 127.0.0.1/8" in sim_phone.shell("ip addr").stdout
    assert sim_phone.shell("ip addr show dev eth9").returncode == 1
    ifc = sim_phone.shell("ifconfig wlan0")
    assert ifc.returncode == 0 and "inet addr:192.168.1.42" in ifc.stdout
    assert sim_phone.shell("ifconfig eth9").stderr == "ifconfig: eth9: No such device\n"
    assert sim_phone.shell("ping -c 2 127.0.0.1").returncode == 0
    lost = sim_phone.shell("ping -c 1 8.8.8.8")
    assert lost.returncode == 1 and "100% packet loss" in lost.stdout
