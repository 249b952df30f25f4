"""What the simulated phone's Android framework holds for the shell's `pm`, `am`, `wm`, `input`, `screencap` and
`dumpsys window|input`: installed packages, the focused activity, the display and the input events injected.

The display per profile is the phone's default resolution and density (the values `wm size` / `wm density` print
on those phones; listed as beliefs in docs/sim-fidelity.md, not measured here)."""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field

from devlab.sim.state import DeviceState

# profile name -> (width px, height px, density dpi)
DISPLAYS = {"s23": (1080, 2316, 450), "pixel8": (1080, 2400, 420), "pixel6-a12": (1080, 2400, 420)}
_DEFAULT_DISPLAY = (1080, 2400, 420)

# packages every phone has (a few of AOSP's system packages); value: the path `pm path` prints
SYSTEM_PACKAGES = {
    "android": "/system/framework/framework-res.apk",
    "com.android.shell": "/system/priv-app/Shell/Shell.apk",
    "com.android.settings": "/system/priv-app/Settings/Settings.apk",
    "com.android.systemui": "/system_ext/priv-app/SystemUI/SystemUI.apk",
    "com.android.launcher3": "/system_ext/priv-app/Launcher3QuickStep/Launcher3QuickStep.apk",
}
HOME_ACTIVITY = "com.android.launcher3/.uioverrides.QuickstepLauncher"


@dataclass
class InputEvent:
    seconds: float
    source: str          # touchscreen, keyboard
    action: str          # tap, swipe, text, keyevent
    detail: str


@dataclass
class Framework:
    width: int
    height: int
    density: int
    override_size: tuple[int, int] | None = None
    override_density: int | None = None
    packages: dict[str, str] = field(default_factory=lambda: dict(SYSTEM_PACKAGES))   # name -> apk path
    third_party: set[str] = field(default_factory=set)
    focused: str = HOME_ACTIVITY
    events: list[InputEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def size(self) -> tuple[int, int]:
        return self.override_size or (self.width, self.height)

    def record(self, source: str, action: str, detail: str) -> None:
        with self.lock:
            self.events.append(InputEvent(time.time(), source, action, detail))


_FRAMEWORKS: "weakref.WeakKeyDictionary[DeviceState, Framework]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def framework_of(device: DeviceState) -> Framework:
    with _LOCK:
        if device not in _FRAMEWORKS:
            width, height, density = DISPLAYS.get(device.profile.name, _DEFAULT_DISPLAY)
            _FRAMEWORKS[device] = Framework(width, height, density)
        return _FRAMEWORKS[device]
