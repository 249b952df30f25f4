"""adbd services and device programs of the simulated phone beyond shell and sync (issue 12), through the real adb
server: `adb reverse` (reverse:forward / list-forward / killforward, a phone program reaching the host through
it), the network commands, and what docs/sim-fidelity.md "Shell, toybox and services" lists with its source."""

from __future__ import annotations

import socket
import subprocess
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


# ------------------------------------------------------------------------------------------- display and input
def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR, after checking every chunk's CRC and inflating the image data."""
    import struct
    import zlib
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, size = 8, b"", None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
            assert body[8:10] == bytes((8, 6))   # 8-bit RGBA
        idat += body if kind == b"IDAT" else b""
        at += 12 + length
    assert kind == b"IEND" and size is not None
    assert len(zlib.decompress(idat)) == size[1] * (1 + 4 * size[0])
    return size


def test_screencap_png_and_framebuffer_service(sim_phone, tmp_path):
    png = subprocess.run([str(sim_phone.adb.binary), "-P", str(sim_phone.adb.port), "-s", sim_phone.serial,
                          "exec-out", "screencap", "-p"], capture_output=True, timeout=60)
    assert png.returncode == 0 and _png_size(png.stdout) == (1080, 2316)   # the s23 profile's display
    assert sim_phone.shell("screencap -p /sdcard/s.png && ls /sdcard/s.png").stdout == "/sdcard/s.png\n"
    # framebuffer: (adb's `framebuffer:` service, what ddmlib's getScreenshot reads), header v2 then RGBA
    import struct
    data = _service(sim_phone, "framebuffer:")
    fields = struct.unpack("<14I", data[:56])
    assert fields[:6] == (2, 32, 1, 1080 * 2316 * 4, 1080, 2316)   # colorSpace 1: sRGB
    assert fields[6:] == (0, 8, 16, 8, 8, 8, 24, 8)
    assert len(data) == 56 + 1080 * 2316 * 4


def _service(phone, service: str) -> bytes:
    """Everything a device service sends, asked through the adb server's smart socket (host:transport:SERIAL)."""
    def request(sock, text: str) -> None:
        sock.sendall(f"{len(text):04x}{text}".encode())
        status = sock.recv(4)
        assert status == b"OKAY", (status, sock.recv(4096))

    with socket.create_connection(("127.0.0.1", phone.adb.port), timeout=30) as sock:
        request(sock, f"host:transport:{phone.serial}")
        request(sock, service)
        chunks = []
        while chunk := sock.recv(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks)


def test_wm_input_and_dumpsys(sim_phone):
    assert sim_phone.shell("wm size").stdout == "Physical size: 1080x2316\n"
    assert sim_phone.shell("wm density").stdout == "Physical density: 450\n"
    assert sim_phone.shell("wm size 720x1280 && wm size").stdout == (
        "Physical size: 1080x2316\nOverride size: 720x1280\n")
    assert sim_phone.shell("cmd window size reset && wm size").stdout == "Physical size: 1080x2316\n"
    assert sim_phone.shell("input tap 100 200 && input swipe 1 2 3 4 300 && input text hello && "
                           "input keyevent KEYCODE_ENTER").returncode == 0
    dumped = sim_phone.shell("dumpsys input").stdout
    assert "touchscreen: tap x=100 y=200" in dumped and "keyboard: text hello" in dumped
    assert "keyboard: keyevent 66" in dumped
    bad = sim_phone.shell("input keyevent KEYCODE_NOPE")
    assert bad.returncode == 1 and "Unknown keycode" in bad.stderr
    power = sim_phone.shell("dumpsys power").stdout
    assert "mWakefulness=Awake" in power
    assert "mCurrentFocus=Window{" in sim_phone.shell("dumpsys window").stdout


def _manifest(package: str) -> bytes:
    """A binary AndroidManifest.xml (ResourceTypes.h) with <manifest package="...">: UTF-16 string pool, one
    start element with one attribute."""
    import struct
    strings = ["manifest", "package", package]
    pool = b"".join(struct.pack("<H", len(s)) + s.encode("utf-16-le") + b"\0\0" for s in strings)
    pool += b"\0" * (-len(pool) % 4)
    offsets, at = [], 0
    for s in strings:
        offsets.append(at)
        at += 2 + 2 * len(s) + 2
    header_size = 28
    pool_chunk_body = struct.pack(f"<{len(strings)}I", *offsets) + pool
    pool_chunk = struct.pack("<HHIIIIII", 0x0001, header_size, header_size + len(pool_chunk_body), len(strings), 0,
                             0, header_size + 4 * len(strings), 0) + pool_chunk_body
    attribute = struct.pack("<IIIHBBI", 0xFFFFFFFF, 1, 2, 8, 0, 3, 2)
    element = struct.pack("<HHIII", 0x0102, 16, 16 + 20 + len(attribute), 1, 0xFFFFFFFF)
    element += struct.pack("<IIHHHHHH", 0xFFFFFFFF, 0, 20, 20, 1, 0, 0, 0) + attribute
    body = pool_chunk + element
    return struct.pack("<HHI", 0x0003, 8, 8 + len(body)) + body


def _apk(path, package: str):
    import zipfile
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("AndroidManifest.xml", _manifest(package))
        archive.writestr("classes.dex", b"dex\n035\0")
    return path


def test_pm_install_of_a_pushed_apk_and_am(sim_phone, tmp_path):
    apk = _apk(tmp_path / "app.apk", "com.example.devlab")
    sim_phone.device().sync.push(apk, "/data/local/tmp/app.apk")
    assert sim_phone.shell("pm install -r /data/local/tmp/app.apk").stdout == "Success\n"
    assert "package:com.example.devlab" in sim_phone.shell("pm list packages").stdout.splitlines()
    assert sim_phone.shell("pm list packages -3").stdout == "package:com.example.devlab\n"
    path = sim_phone.shell("pm path com.example.devlab").stdout
    assert path.startswith("package:/data/app/") and path.endswith("/base.apk\n")
    digests = sim_phone.shell(f"sha256sum {path[8:].strip()} /data/local/tmp/app.apk | cut -c1-64").stdout.split()
    assert len(digests) == 2 and digests[0] == digests[1]   # the installed base.apk is the pushed file
    assert sim_phone.shell("pm path com.nope").returncode == 1
    sim_phone.device().sync.push(b"not a zip", "/data/local/tmp/bad.apk")
    bad = sim_phone.shell("pm install /data/local/tmp/bad.apk")
    assert bad.returncode == 1 and bad.stdout.startswith("Failure [INSTALL_PARSE_FAILED_NOT_APK")
    missing = sim_phone.shell("pm install /data/local/tmp/none.apk")
    assert missing.returncode == 255 and "Error: Can't open file: /data/local/tmp/none.apk" in missing.stderr
    # am start makes it the focused app (dumpsys window), force-stop returns to the launcher
    assert sim_phone.shell("am start -n com.example.devlab/.MainActivity").returncode == 0
    assert "com.example.devlab/com.example.devlab.MainActivity" in sim_phone.shell("dumpsys window").stdout
    assert sim_phone.shell("am force-stop com.example.devlab").returncode == 0
    assert "com.example.devlab" not in sim_phone.shell("dumpsys window").stdout
    nope = sim_phone.shell("am start -n com.nope/.A")
    assert nope.returncode == 1 and "does not exist" in nope.stderr


def test_adb_install_streams_through_cmd_package(sim_phone, tmp_path):
    """adb's install.cpp streams the APK to `cmd package install -S SIZE` on a phone with the cmd feature."""
    apk = _apk(tmp_path / "streamed.apk", "com.example.streamed")
    result = sim_phone.adb.run("-s", sim_phone.serial, "install", str(apk), timeout=60)
    assert result.returncode == 0 and "Success" in result.stdout
    assert sim_phone.shell("cmd package list packages streamed").stdout == "package:com.example.streamed\n"


def test_cmd_dispatches_and_names_unknown_services(sim_phone):
    assert sim_phone.shell("cmd settings put global devlab_x 1 && settings get global devlab_x").stdout == "1\n"
    assert sim_phone.shell("cmd window density").stdout == "Physical density: 450\n"
    unknown = sim_phone.shell("cmd nosuch")
    assert unknown.returncode == 20 and unknown.stderr == "cmd: Can't find service: nosuch\n"


def test_exec_cmd_package_install_streams_the_apk_on_stdin(sim_phone, tmp_path):
    """What adb's install.cpp sends to a phone with `cmd` but not `abb_exec` (Android 7-9): exec:cmd package
    'install' -S SIZE, then the APK's bytes, then it reads `Success`."""
    data = _apk(tmp_path / "exec.apk", "com.example.execinstall").read_bytes()
    with socket.create_connection(("127.0.0.1", sim_phone.adb.port), timeout=30) as sock:
        for text in (f"host:transport:{sim_phone.serial}", f"exec:cmd package 'install' -S {len(data)}"):
            sock.sendall(f"{len(text):04x}{text}".encode())
            assert sock.recv(4) == b"OKAY"
        sock.sendall(data)
        reply = b""
        while not reply.endswith(b"\n"):
            reply += sock.recv(4096)
    assert reply == b"Success\n"
    assert sim_phone.shell("pm list packages execinstall").stdout == "package:com.example.execinstall\n"


def test_features_are_what_the_simulated_adbd_implements(sim_phone):
    features = set(sim_phone.adb.run("-s", sim_phone.serial, "features").stdout.split())
    assert features == {"shell_v2", "cmd", "fixed_push_mkdir", "stat_v2", "ls_v2", "abb", "abb_exec"}
    # abb (shell protocol) runs the service's shell command: what `adb shell cmd` would
    assert _service(sim_phone, "abb:window\0size").endswith(b"Physical size: 1080x2316\n" + b"\x03\x01\0\0\0\0")


def test_svc_power_stayon_sets_the_setting_dumpsys_power_reads(sim_phone):
    """PowerCommand.java: stayon usb = BATTERY_PLUGGED_USB (2), true = 7, false = 0."""
    try:
        assert sim_phone.shell("svc power stayon usb && settings get global stay_on_while_plugged_in").stdout == "2\n"
        power = sim_phone.shell("dumpsys power").stdout
        assert "mStayOnWhilePluggedInSetting=2" in power and "mStayOn=true" in power
        assert sim_phone.shell("svc power stayon true; settings get global stay_on_while_plugged_in").stdout == "7\n"
        bad = sim_phone.shell("svc power stayon sometimes")
        assert bad.returncode == 1 and "usage: svc power stayon" in bad.stderr
    finally:
        sim_phone.shell("svc power stayon false")
    assert "mStayOnWhilePluggedInSetting=0" in sim_phone.shell("dumpsys power").stdout
