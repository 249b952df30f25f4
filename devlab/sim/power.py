"""The simulated phone's power and thermal model: what its power rails, battery counters, thermal HAL and GPU
devfreq say while simulated benchmarks run. Documented, invented, not measured: every number it yields is
`simulated` provenance.

Load. Each simulated benchmark_model phase registers a busy interval (wall ns) with the utilisation its cost plan
gives (devlab/sim/costmodel.py): gpu = GPU kernel time / run time, cpu = CPU op + copy time / run time (1.0 for the
delegate's init, which compiles programs on a CPU core), ddr = 0.6 gpu + 0.4 cpu. Outside busy intervals the phone
idles.

Power (mW). Each rail draws `idle_mw + active_mw * utilisation * f**2`, with `f` the frequency factor the thermal
governor allowed when the interval started (1.0 cool): lower clocks also lower the voltage. The battery supplies
every rail plus `rest_mw` (display, modem, ...), at the profile's voltage; while charging, the charger feeds
`CHARGE_MA` into the battery on top of that load, so the battery counters show charge flowing in.

Heat. One lumped node on simulated time: dH/dt = (P_excess * R - H) / tau, with P_excess the power above idle,
R = `r_c_per_w` and tau = `tau_s`. Each thermal zone reads its idle temperature (the profile's) plus
`gain * H` (CPU/GPU 1.0, skin 0.5, battery 0.3). The thermal status follows the skin temperature through `steps`
(light / moderate / severe), each with the GPU frequency factor the governor allows there; CPU work slows by half
that cut. A run started while throttled is that much slower (devlab/sim/commands/benchmark_model.py).

Time. Busy intervals are wall times; heat and energy integrate simulated seconds (wall seconds / time scale), so a
two-minute simulated sustained run heats the phone as two minutes would, in a fraction of a second of real time.
Rail energy and battery charge counters integrate over simulated seconds too, and the trace stamps them with the
phone's trace clock (`DeviceState.trace_clock_ns`, simulated nanoseconds since boot), so power = dE/dt read from a
trace is the model's mW and an energy window matches the benchmark log's simulated durations.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from dataclasses import dataclass

from devlab.sim.state import DeviceState

CHARGE_MA = 1500.0        # what a USB charger pushes into the battery (net of nothing): invented
BATTERY_MAH = 4500.0      # capacity for the charge counter: invented
_ZONE_GAIN = {"cpu": 1.0, "gpu": 1.0, "skin": 0.5, "battery": 0.3}


@dataclass(frozen=True)
class Rail:
    name: str            # the ODPM channel's rail name (RailDescriptor.rail_name)
    subsys: str          # RailDescriptor.subsys_name
    idle_mw: float
    active_mw: float     # at utilisation 1.0 and full clocks
    driver: str          # what loads it: gpu | cpu | ddr | none


@dataclass(frozen=True)
class ThermalStep:
    skin_c: float        # from this skin temperature up
    status: int          # android.os.Temperature THROTTLING_* (1 light, 2 moderate, 3 severe)
    gpu_factor: float    # the GPU frequency the governor allows, as a fraction of the maximum


@dataclass(frozen=True)
class PowerProfile:
    rails: tuple[Rail, ...]         # () = no on-device power monitor: `collect_power_rails` yields no rails
    hidden_mw: tuple[Rail, ...]     # the same loads on a phone whose rails are not exposed (battery still sees them)
    rest_mw: float
    r_c_per_w: float
    tau_s: float
    steps: tuple[ThermalStep, ...]
    devfreq: str                    # /sys/class/devfreq/<name> of the GPU


# Rail names as the Pixel 6 (gs101) ODPM channels are named (device/google/gs101
# powerstats/Gs101CommonDataProviders.cpp: S4M_VDD_CPUCL0 / S3M_VDD_CPUCL1 / S2M_VDD_CPUCL2 CPU clusters, S2S_VDD_G3D
# GPU, S10M_VDD_TPU); the memory rails (S1M_VDD_MIF, S4S_VDD2H_MEM) and the display rail as gs101 energy_value dumps
# list them. The Pixel 8 reuses them here (a guess). The mW figures are invented.
_PIXEL_RAILS = (
    Rail("S4M_VDD_CPUCL0", "CPU(LITTLE)", 40.0, 150.0, "cpu"),
    Rail("S3M_VDD_CPUCL1", "CPU(MID)", 25.0, 600.0, "cpu"),
    Rail("S2M_VDD_CPUCL2", "CPU(BIG)", 20.0, 2000.0, "cpu"),
    Rail("S2S_VDD_G3D", "GPU", 5.0, 3200.0, "gpu"),
    Rail("S1M_VDD_MIF", "MIF", 50.0, 400.0, "ddr"),
    Rail("S4S_VDD2H_MEM", "DDR", 30.0, 300.0, "ddr"),
    Rail("S10M_VDD_TPU", "TPU", 8.0, 0.0, "none"),
    Rail("VSYS_PWR_DISPLAY", "Display", 110.0, 0.0, "none"),
)
_STEPS = (ThermalStep(37.0, 1, 0.85), ThermalStep(39.0, 2, 0.7), ThermalStep(41.0, 3, 0.55))

POWER_PROFILES: dict[str, PowerProfile] = {
    # Samsung phones expose no ODPM rails to perfetto (a guess, from the perfetto docs' "not yet available on most
    # production phones"): battery counters only
    "s23": PowerProfile(rails=(), hidden_mw=_PIXEL_RAILS, rest_mw=450.0, r_c_per_w=6.0, tau_s=90.0, steps=_STEPS,
                        devfreq="3d00000.qcom,kgsl-3d0"),
    "pixel8": PowerProfile(rails=_PIXEL_RAILS, hidden_mw=(), rest_mw=420.0, r_c_per_w=5.5, tau_s=80.0,
                           steps=_STEPS, devfreq="28000000.mali"),
    "pixel6-a12": PowerProfile(rails=_PIXEL_RAILS, hidden_mw=(), rest_mw=430.0, r_c_per_w=6.0, tau_s=70.0,
                               steps=_STEPS, devfreq="1c500000.mali"),
}


@dataclass(frozen=True)
class Busy:
    start_ns: int
    end_ns: int
    gpu: float
    cpu: float
    factor: float

    def load(self, driver: str) -> float:
        return {"gpu": self.gpu, "cpu": self.cpu, "ddr": 0.6 * self.gpu + 0.4 * self.cpu}.get(driver, 0.0)


@dataclass(frozen=True)
class BatteryReading:
    current_ua: int          # perfetto's convention: positive = into the battery (charging), negative = drained
    charge_uah: int
    capacity_percent: float
    voltage_uv: int


class PowerModel:
    """One per simulated phone (see `power_model`)."""

    def __init__(self, device: DeviceState) -> None:
        self.device = device
        self.profile = POWER_PROFILES.get(device.profile.name, POWER_PROFILES["s23"])
        self._busy: list[Busy] = []
        self._lock = threading.Lock()

    # --- time -----------------------------------------------------------------------------------------------------
    def sim_s(self, wall_ns: int) -> float:
        """Simulated seconds since the phone started (its trace clock, DeviceState.trace_clock_ns, in seconds)."""
        return (wall_ns - self.device.boot_ns) / 1e9 / (self.device.time_scale or 1.0)

    # --- load -----------------------------------------------------------------------------------------------------
    def busy(self, start_ns: int, end_ns: int, gpu: float, cpu: float) -> float:
        """Register a phase; returns the frequency factor it runs at (the throttle when it starts)."""
        factor = self.gpu_factor(start_ns)
        with self._lock:
            self._busy.append(Busy(start_ns, end_ns, min(1.0, gpu), min(1.0, cpu), factor))
            del self._busy[:-20_000]
        self._write_devfreq(factor)
        return factor

    def busy_for(self, sim_us: float, gpu: float, cpu: float) -> None:
        """A phase starting now that lasts sim_us of simulated time."""
        start = time.monotonic_ns()
        self.busy(start, start + int(sim_us * 1000 * (self.device.time_scale or 1.0)), gpu, cpu)

    def throttled_us(self, run_us: float, gpu_us: float) -> tuple[float, float]:
        """(a run's time at the clock the governor allows now, that clock factor): its GPU time / the factor, its
        CPU time / half that cut."""
        factor = self.gpu_factor(time.monotonic_ns())
        return run_us + gpu_us * (1 / factor - 1) + (run_us - gpu_us) * (2 / (1 + factor) - 1), factor

    def _intervals(self, until_ns: int) -> list[Busy]:
        with self._lock:
            return [b for b in self._busy if b.start_ns < until_ns]

    def _rails(self) -> tuple[Rail, ...]:
        return self.profile.rails or self.profile.hidden_mw

    def _excess_mw(self, busy: Busy) -> float:
        return sum(r.active_mw * busy.load(r.driver) * busy.factor ** 2 for r in self._rails())

    def idle_mw(self) -> float:
        return sum(r.idle_mw for r in self._rails()) + self.profile.rest_mw

    # --- energy (simulated time: what a trace's counters read) -----------------------------------------------------
    def _sim_span_s(self, start_ns: int, end_ns: int) -> float:
        """Simulated seconds between two wall times (0 when end is not after start)."""
        return max(0.0, self.sim_s(end_ns) - self.sim_s(start_ns))

    def rail_energy_uws(self, rail: Rail, at_ns: int) -> int:
        """Energy since boot in uWs (microwatt-seconds), as the ODPM counters accumulate it; at_ns is wall time."""
        total = rail.idle_mw * 1e3 * self._sim_span_s(self.device.boot_ns, at_ns)
        for b in self._intervals(at_ns):
            overlap = self._sim_span_s(b.start_ns, min(b.end_ns, at_ns))
            total += rail.active_mw * 1e3 * b.load(rail.driver) * b.factor ** 2 * overlap
        return int(total)

    def battery(self, at_ns: int, charging: bool) -> BatteryReading:
        volts = self.device.profile.battery_voltage_mv / 1000.0
        load_mw = self.idle_mw()
        drawn_uws = load_mw * 1e3 * self._sim_span_s(self.device.boot_ns, at_ns)
        for b in self._intervals(at_ns):
            if b.start_ns <= at_ns < b.end_ns:
                load_mw += self._excess_mw(b)
            drawn_uws += self._excess_mw(b) * 1e3 * self._sim_span_s(b.start_ns, min(b.end_ns, at_ns))
        current_ma = (CHARGE_MA if charging else 0.0) - load_mw / volts
        start_uah = self.device.profile.battery_level / 100.0 * BATTERY_MAH * 1000
        # the counter integrates over simulated time like the rails; charging adds what the charger pushed in
        charged_uah = (CHARGE_MA * 1000 * self._sim_span_s(self.device.boot_ns, at_ns) / 3600) if charging else 0.0
        charge = start_uah - drawn_uws / volts / 3600 + charged_uah
        return BatteryReading(int(current_ma * 1000), int(charge), round(100 * charge / (BATTERY_MAH * 1000), 1),
                              int(volts * 1e6))

    # --- heat (simulated time) -------------------------------------------------------------------------------------
    def heat(self, at_ns: int) -> float:
        """H at `at_ns`: the lumped node's rise above idle, in degrees C."""
        tau, r = self.profile.tau_s, self.profile.r_c_per_w
        heat, t = 0.0, 0.0
        end = self.sim_s(at_ns)
        for b in sorted(self._intervals(at_ns), key=lambda b: b.start_ns):
            start, stop = max(self.sim_s(b.start_ns), t), min(self.sim_s(b.end_ns), end)
            if stop <= start:
                continue
            heat *= math.exp(-(start - t) / tau)                       # idle: cools toward 0
            target = self._excess_mw(b) / 1000.0 * r
            heat = target + (heat - target) * math.exp(-(stop - start) / tau)
            t = stop
        return heat * math.exp(-max(0.0, end - t) / tau)

    def temperatures(self, at_ns: int | None = None) -> list[tuple[str, int, float]]:
        """(zone name, android.os.Temperature type, degrees C) of each thermal zone."""
        heat = self.heat(time.monotonic_ns() if at_ns is None else at_ns)
        zones = []
        for zone in self.device.profile.thermal_zones:
            kind = zone_type(zone.type)
            gain = _ZONE_GAIN[{0: "cpu", 1: "gpu", 2: "battery", 3: "skin"}[kind]]
            zones.append((zone.type, kind, round(zone.temp_millic / 1000 + gain * heat, 1)))
        return zones

    def skin_c(self, at_ns: int) -> float:
        skins = [c for _, kind, c in self.temperatures(at_ns) if kind == 3]
        return max(skins) if skins else 0.0

    def status(self, at_ns: int | None = None) -> int:
        skin = self.skin_c(time.monotonic_ns() if at_ns is None else at_ns)
        return max((s.status for s in self.profile.steps if skin >= s.skin_c), default=0)

    def gpu_factor(self, at_ns: int) -> float:
        skin = self.skin_c(at_ns)
        return min((s.gpu_factor for s in self.profile.steps if skin >= s.skin_c), default=1.0)

    def gpu_freq_hz(self, factor: float) -> int:
        return int(self.device.profile.cost.gpu_freq_hz * factor)

    def _write_devfreq(self, factor: float) -> None:
        """/sys/class/devfreq/<gpu>/cur_freq (Hz, the devfreq sysfs ABI): the frequency the last run ran at."""
        folder = self.device.fs.resolve(f"/sys/class/devfreq/{self.profile.devfreq}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cur_freq").write_text(f"{self.gpu_freq_hz(factor)}\n")


def zone_type(zone: str) -> int:
    """android.os.Temperature TYPE_CPU 0, TYPE_GPU 1, TYPE_BATTERY 2, TYPE_SKIN 3."""
    name = zone.lower()
    return 2 if "batt" in name else 3 if "skin" in name else 1 if "gpu" in name or name == "g3d" else 0


_MODELS: "weakref.WeakKeyDictionary[DeviceState, PowerModel]" = weakref.WeakKeyDictionary()
_MODELS_LOCK = threading.Lock()


def power_model(device: DeviceState) -> PowerModel:
    """The phone's model, created on first use (and its GPU devfreq node with it)."""
    with _MODELS_LOCK:
        model = _MODELS.get(device)
        if model is None:
            model = _MODELS[device] = PowerModel(device)
            model._write_devfreq(1.0)
        return model
