"""The adb wire format, device side: 24-byte message headers, commands, the CNXN banner.

Facts from shared/specs/adb_device_protocol.md: header is six little-endian u32 `command, arg0, arg1, data_length,
data_check, magic` with `magic = command ^ 0xffffffff`; data_check is a byte sum that may be 0 from protocol
version 0x01000001 on, which is what we send.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_STLS = 0x534C5453

A_VERSION = 0x01000001
DEVICE_MAX_DATA = 256 * 1024
# Only what we implement (advertising a sync feature without it made adb push/pull abort, spec): stat_v2 and ls_v2,
# as every adbd since Android 8 (packages/modules/adb transport.cpp kFeatureStat2 / kFeatureLs2), are implemented
# in services.py; sendrecv_v2* and abb* are not.
# The features an Android 14 adbd lists (transport.cpp supported_features) that the simulated adbd implements:
# abb / abb_exec (services.py: `abb:` / `abb_exec:` run the service's shell command). Not advertised, because not
# implemented: apex, fixed_push_symlink_timestamp, remount_shell, track_app, sendrecv_v2*, openscreen_mdns,
# delayed_ack, devraw, app_info, ... (docs/sim-fidelity.md, "Shell, toybox and services").
DEVICE_FEATURES = ("shell_v2", "cmd", "fixed_push_mkdir", "stat_v2", "ls_v2", "abb", "abb_exec")

_HEADER = struct.Struct("<6I")
HEADER_SIZE = _HEADER.size

NAMES = {A_CNXN: "CNXN", A_AUTH: "AUTH", A_OPEN: "OPEN", A_OKAY: "OKAY", A_CLSE: "CLSE", A_WRTE: "WRTE",
         A_STLS: "STLS"}


@dataclass(frozen=True)
class Header:
    command: int
    arg0: int
    arg1: int
    data_length: int
    data_check: int
    magic: int

    @property
    def valid(self) -> bool:
        return self.magic == (self.command ^ 0xFFFFFFFF) and self.command in NAMES


def unpack_header(raw: bytes) -> Header:
    return Header(*_HEADER.unpack(raw))


def pack_header(command: int, arg0: int, arg1: int, data_length: int) -> bytes:
    # data_check 0: we answer CNXN with version 0x01000001, from which on hosts skip the check (summing every
    # payload byte in Python would cap pulls near 100 MB/s).
    return _HEADER.pack(command, arg0, arg1, data_length, 0, command ^ 0xFFFFFFFF)


def pack_message(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    return pack_header(command, arg0, arg1, len(data)) + data


def banner(name: str, model: str, device: str, features: tuple[str, ...] = DEVICE_FEATURES) -> bytes:
    """The CNXN payload a phone sends: identity props the adb server shows in `adb devices -l`, then the features
    (adbd before Android 7 sent none)."""
    text = f"device::ro.product.name={name};ro.product.model={model};ro.product.device={device};"
    return (text + f"features={','.join(features)}" if features else text).encode()


# Shell protocol v2 packet ids: `[id u8][len u32 LE][data]`.
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW = 0, 1, 2, 3, 4, 5
_SHELL = struct.Struct("<BI")


def shell_packet(packet_id: int, data: bytes) -> bytes:
    return _SHELL.pack(packet_id, len(data)) + data


def parse_shell_packets(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take every complete v2 packet off the front of `buffer` (which keeps any partial tail)."""
    packets: list[tuple[int, bytes]] = []
    while len(buffer) >= _SHELL.size:
        packet_id, length = _SHELL.unpack_from(buffer)
        if len(buffer) < _SHELL.size + length:
            break
        packets.append((packet_id, bytes(buffer[_SHELL.size:_SHELL.size + length])))
        del buffer[:_SHELL.size + length]
    return packets
