"""Capture what native libraries (TF converter, LiteRT, delegates) write straight to file descriptors 1 and 2.

Their log lines (delegate partition, adapter selection, converter chatter) bypass Python's sys.stdout, so they
can only be kept — in the run folder, instead of on the user's terminal — by redirecting the descriptors.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class NativeCapture:
    text: str = ""
    _parts: list[str] = field(default_factory=list)


@contextmanager
def captured_native_output() -> Iterator[NativeCapture]:
    capture = NativeCapture()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield capture
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            capture.text = sink.read().decode("utf-8", "replace")
