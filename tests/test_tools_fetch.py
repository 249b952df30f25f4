"""`devlab tools fetch benchmark_model`: LiteRT's release binary from a (local) mirror into devlab's cache, through
the installed script; runs then find it without --benchmark-model."""

from __future__ import annotations

import hashlib
import http.server
import json
import struct
import threading
from pathlib import Path

import pytest

from cli_helpers import run_devlab
from devlab.bench.binary import locate_benchmark_model

# An ELF64 little-endian AArch64 executable header with no program headers (a static binary, as check_elf accepts)
ELF = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack("<HHI", 2, 183, 1) + bytes(44) + b"\x00" * 4096


class _Mirror(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    asked: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.asked.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture()
def mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    _Mirror.files = {"/litert/binaries/2.2.0/android_arm64/benchmark_model": ELF,
                     "/litert/binaries/9.9.9/android_arm64/benchmark_model": b"<html>Access denied</html>"}
    _Mirror.asked = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/litert/binaries"
    server.shutdown()
    server.server_close()


def test_fetch_records_the_sha256_and_runs_find_it(mirror, tmp_path, monkeypatch):
    env = {"DEVLAB_HOME": str(tmp_path / "home"), "DEVLAB_BENCHMARK_MODEL": ""}
    result = run_devlab("tools", "fetch", "benchmark_model", "--version", "2.2.0", "--abi", "arm64-v8a",
                        "--base-url", mirror, "--json", cwd=tmp_path, env=env, timeout=60)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert _Mirror.asked == ["/litert/binaries/2.2.0/android_arm64/benchmark_model"]
    assert record["sha256"] == hashlib.sha256(ELF).hexdigest() and record["bytes"] == len(ELF)
    assert record["url"] == mirror + "/2.2.0/android_arm64/benchmark_model" and record["version"] == "2.2.0"
    path = Path(record["path"])
    assert path.read_bytes() == ELF and path.stat().st_mode & 0o111
    assert path.is_relative_to(tmp_path / "home" / "cache")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    found = locate_benchmark_model("arm64-v8a")        # no flag, env or devlab.toml: the fetched release
    assert (found.origin, found.version, found.sha256, found.path) == ("devlab tools fetch", "2.2.0",
                                                                       record["sha256"], path)
    path.write_bytes(ELF + b"tampered")                 # a file that no longer matches its record is not used
    with pytest.raises(Exception, match="no benchmark_model binary"):
        locate_benchmark_model("arm64-v8a")


def test_fetch_errors_are_one_line_and_leave_nothing(mirror, tmp_path):
    env = {"DEVLAB_HOME": str(tmp_path / "home")}
    missing = run_devlab("tools", "fetch", "benchmark_model", "--version", "2.1.0", "--base-url", mirror,
                         cwd=tmp_path, env=env, timeout=60)
    assert missing.exit_code == 1 and "HTTP 404" in missing.stderr and "--version" in missing.stderr
    page = run_devlab("tools", "fetch", "benchmark_model", "--version", "9.9.9", "--base-url", mirror,
                      cwd=tmp_path, env=env, timeout=60)
    assert page.exit_code == 2 and "not an ELF executable" in page.stderr
    offline = run_devlab("tools", "fetch", "benchmark_model", "--base-url", "http://127.0.0.1:9/x", cwd=tmp_path,
                         env=env, timeout=60)
    assert offline.exit_code == 1 and "no network?" in offline.stderr
    assert len(offline.stderr.strip().splitlines()) == 1
    bad_abi = run_devlab("tools", "fetch", "benchmark_model", "--abi", "x86", cwd=tmp_path, env=env, timeout=60)
    assert bad_abi.exit_code == 2 and "arm64-v8a" in bad_abi.stderr
    leftovers = [p for p in (tmp_path / "home").rglob("*") if p.is_file()]
    assert leftovers == []
