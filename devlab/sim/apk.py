"""The package name of an APK: its AndroidManifest.xml is Android's binary XML (frameworks/base
libs/androidfw/include/androidfw/ResourceTypes.h: ResChunk_header, ResStringPool_header, ResXMLTree_node /
ResXMLTree_attrExt / ResXMLTree_attribute); the `package` attribute of the first `manifest` element."""

from __future__ import annotations

import io
import struct
import zipfile

RES_STRING_POOL_TYPE, RES_XML_START_ELEMENT_TYPE = 0x0001, 0x0102
_UTF8_FLAG = 1 << 8


class ApkError(ValueError):
    pass


def _strings(data: bytes, start: int) -> list[str]:
    _, header_size, _, count, _, flags, strings_start, _ = struct.unpack_from("<HHIIIIII", data, start)
    offsets = struct.unpack_from(f"<{count}I", data, start + header_size)
    base = start + strings_start
    out = []
    for offset in offsets:
        at = base + offset
        if flags & _UTF8_FLAG:
            at += 2 if data[at] & 0x80 else 1          # length in characters
            length = data[at]
            if length & 0x80:
                length = ((length & 0x7F) << 8) | data[at + 1]
                at += 1
            out.append(data[at + 1:at + 1 + length].decode("utf-8", errors="replace"))
        else:
            length = struct.unpack_from("<H", data, at)[0]
            if length & 0x8000:
                length = ((length & 0x7FFF) << 16) | struct.unpack_from("<H", data, at + 2)[0]
                at += 2
            out.append(data[at + 2:at + 2 + 2 * length].decode("utf-16-le", errors="replace"))
    return out


def manifest_package(manifest: bytes) -> str:
    try:
        _, header_size, _ = struct.unpack_from("<HHI", manifest, 0)
        at, strings = header_size, []
        while at + 8 <= len(manifest):
            kind, _, size = struct.unpack_from("<HHI", manifest, at)
            if size < 8:
                break
            if kind == RES_STRING_POOL_TYPE:
                strings = _strings(manifest, at)
            elif kind == RES_XML_START_ELEMENT_TYPE:
                _, name, attr_start, attr_size, attr_count = struct.unpack_from("<IIHHH", manifest, at + 16)
                if strings[name] == "manifest":
                    for index in range(attr_count):
                        _, attr_name, raw, _, _, data_type, value = struct.unpack_from(
                            "<IIIHBBI", manifest, at + 16 + attr_start + index * attr_size)
                        if strings[attr_name] == "package":
                            return strings[raw if raw != 0xFFFFFFFF else value]
            at += size
    except (struct.error, IndexError) as exc:
        raise ApkError(f"bad AndroidManifest.xml: {exc}") from exc
    raise ApkError("AndroidManifest.xml has no package")


def apk_package(data: bytes) -> str:
    """The package name, or ApkError when the bytes are not an APK (no zip, no manifest, bad binary XML)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = archive.read("AndroidManifest.xml")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ApkError(str(exc)) from exc
    return manifest_package(manifest)
