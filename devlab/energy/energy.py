"""Energy per inference from two power recordings: an idle window and the window of a clean benchmark run.

Method (what run.json's `energy` block says it did):
- rails (phones with an on-device power monitor): each rail's power over a window is its accumulated-energy delta
  over the time between its first and last sample; a rail *moved* when its power during the run is above idle by
  more than MOVED_MW and MOVED_REL; the run's excess power is the sum over the rails that moved of (run - idle).
  Rails measure downstream of the battery, so charging does not change them (perfetto docs, ODPM).
- battery (every phone): power is |current| x voltage integrated over the window (trapezoids) divided by its
  length; the voltage is the trace's voltage_uv where the phone wrote it, else `dumpsys battery`'s. Charging makes
  this measure the charger, not the load: said loudly.
- The run's inferences are the end of its window: perfetto is stopped right after benchmark_model returns, while
  the window may start seconds before the run (an old perfetto's start settle time) and the run starts with the
  delegate's init. So the inference part is the last `inference_ms` of the window: the warm-up and timed runs'
  time as the benchmark's own log reports it, on the phone's clock like the trace's timestamps (no host clock and
  no shared origin needed; the tail after the last inference is one adb round trip). Without it, the init share of
  the whole window is left out.
- energy per inference = excess power x the clean run's mean latency (mW x s = mJ): for back-to-back runs that is
  the window's excess energy divided by its inference count.
Too few samples in a window (MIN_SAMPLES), rails absent, charging, or no power data: the block says why, and its
status is `untrusted` or `unavailable`, never a silent number.
"""

from __future__ import annotations

from dataclasses import dataclass

from devlab.energy.power_trace import BatterySample, PowerData, RailSample

MIN_SAMPLES = 10          # per window: fewer polls than this cannot give a stable average
MOVED_MW = 5.0            # a rail moved when run - idle exceeds both of these
MOVED_REL = 0.05


@dataclass(frozen=True)
class RunShare:
    """What the energy run's log says about its own time: init vs inferences, and the latency to charge."""

    init_ms: float
    inference_ms: float        # warm-up + timed runs
    mean_latency_ms: float
    inferences: int


@dataclass(frozen=True)
class Context:
    source: str                       # trace (a phone) | simulated
    charging: bool | None             # dumpsys battery before the windows
    dumpsys_voltage_mv: float | None


def _window(samples_ts: list[int], init_share: float, inference_ms: float | None) -> tuple[int, int] | None:
    """The inference part of the run's window, on the trace clock: its last `inference_ms` (the log's warm-up +
    timed runs, phone time); without it, the window less its init share."""
    if len(samples_ts) < 2:
        return None
    first, last = min(samples_ts), max(samples_ts)
    if inference_ms:
        return max(first, last - int(inference_ms * 1e6)), last
    return first + int((last - first) * init_share), last


def rail_power_mw(samples: list[RailSample], window: tuple[int, int] | None = None) -> tuple[float | None, int]:
    """(mW, samples used): the energy delta over the time delta of the samples inside `window`."""
    chosen = [s for s in samples if window is None or window[0] <= s.ts_ns <= window[1]]
    if len(chosen) < 2 or chosen[-1].ts_ns <= chosen[0].ts_ns:
        return None, len(chosen)
    # uWs / s = uW; / 1000 = mW
    return (chosen[-1].energy_uws - chosen[0].energy_uws) / ((chosen[-1].ts_ns - chosen[0].ts_ns) / 1e9) / 1e3, \
        len(chosen)


def battery_power_mw(samples: list[BatterySample], voltage_mv: float | None,
                     window: tuple[int, int] | None = None) -> tuple[float | None, int]:
    """(mW, samples used): |current| x voltage, integrated by trapezoids over the window, over its length."""
    chosen = [s for s in samples if s.current_ua is not None and (window is None or window[0] <= s.ts_ns <= window[1])]
    if len(chosen) < 2:
        return None, len(chosen)

    def watts(sample: BatterySample) -> float | None:
        volts = sample.voltage_uv / 1e6 if sample.voltage_uv else (voltage_mv / 1000 if voltage_mv else None)
        return None if volts is None else abs(sample.current_ua or 0) / 1e6 * volts

    energy, span = 0.0, 0.0
    for a, b in zip(chosen, chosen[1:]):
        wa, wb = watts(a), watts(b)
        if wa is None or wb is None:
            return None, len(chosen)
        dt = (b.ts_ns - a.ts_ns) / 1e9
        energy += (wa + wb) / 2 * dt
        span += dt
    return (energy / span * 1000, len(chosen)) if span > 0 else (None, len(chosen))


def charge_rising(samples: list[BatterySample]) -> bool:
    """The charge counter went up across the window: charge flowed into the battery."""
    charges = [s.charge_uah for s in samples if s.charge_uah is not None]
    return len(charges) >= 2 and charges[-1] > charges[0]


def energy_per_inference(idle: PowerData, active: PowerData, share: RunShare, context: Context) -> dict[str, object]:
    """The run.json `energy` block of one variant."""
    warnings: list[str] = []
    total = share.init_ms + share.inference_ms
    init_share = share.init_ms / total if total > 0 else 0.0
    block: dict[str, object] = {"source": context.source, "latency_ms": round(share.mean_latency_ms, 4),
                                "inferences": share.inferences, "init_share": round(init_share, 4)}
    charging = bool(context.charging) or charge_rising(active.battery) or charge_rising(idle.battery)
    block["charging"] = charging
    rails = sorted(set(idle.rails) & set(active.rails))
    if rails:
        block["method"] = "rails"
        rows, excess, idle_total, run_total = [], 0.0, 0.0, 0.0
        counts = []
        for name in rails:
            window = _window([s.ts_ns for s in active.rails[name]], init_share, share.inference_ms)
            p_idle, n_idle = rail_power_mw(idle.rails[name])
            p_run, n_run = rail_power_mw(active.rails[name], window)
            counts.append((n_idle, n_run))
            if p_idle is None or p_run is None:
                continue
            moved = p_run - p_idle > max(MOVED_MW, MOVED_REL * p_idle)
            rows.append({"rail": name, "subsystem": active.subsystems.get(name, ""), "idle_mw": round(p_idle, 3),
                         "run_mw": round(p_run, 3), "moved": moved})
            idle_total += p_idle
            run_total += p_run
            if moved:
                excess += p_run - p_idle
        block["rails"] = rows
        n_idle, n_run = min(c[0] for c in counts), min(c[1] for c in counts)
        if charging:
            warnings.append("the phone was charging: the rails are unaffected (they measure downstream of the "
                            "battery), the battery counters are not used")
    else:
        block["method"] = "battery"
        if active.rails_packets or idle.rails_packets:
            warnings.append("power rails absent: this phone's power HAL reports no rails, so the energy is the "
                            "whole phone's, from the battery counters")
        else:
            warnings.append("power rails not recorded: the energy is the whole phone's, from the battery counters")
        voltage = context.dumpsys_voltage_mv
        window = _window([s.ts_ns for s in active.battery], init_share, share.inference_ms)
        p_idle, n_idle = battery_power_mw(idle.battery, voltage)
        p_run, n_run = battery_power_mw(active.battery, voltage, window)
        if p_idle is None or p_run is None:
            block.update(status="unavailable", mj_per_inference=None, warnings=warnings + [
                "no battery current (or no voltage) in the trace: no energy can be computed"],
                samples={"idle": n_idle, "run": n_run})
            return block
        idle_total, run_total, excess = p_idle, p_run, p_run - p_idle
        if charging:
            warnings.append("UNTRUSTED: the phone was charging over USB, so the battery counters measured the "
                            "charger, not the model: unplug it (or use a USB hub that cuts power) and run again")
    block["samples"] = {"idle": n_idle, "run": n_run}
    if min(n_idle, n_run) < MIN_SAMPLES:
        warnings.append(f"UNTRUSTED: too few power samples ({n_idle} idle, {n_run} during the inferences; at least "
                        f"{MIN_SAMPLES} each): run longer (--min-secs) or poll faster")
    charger_measured = charging and block["method"] == "battery"
    if excess <= 0 and not charger_measured:
        warnings.append("the run drew no more power than idle: the model's energy is below what this phone's "
                        "counters resolve")
    block.update(idle_power_mw=round(idle_total, 3), run_power_mw=round(run_total, 3),
                 excess_power_mw=round(excess, 3),
                 # a charging phone's battery counters measure the charger: no number rather than a wrong one
                 mj_per_inference=None if charger_measured else round(max(excess, 0.0) * share.mean_latency_ms
                                                                      / 1000.0, 6))
    untrusted = any(w.startswith("UNTRUSTED") for w in warnings)
    block["status"] = "untrusted" if untrusted else "ok"
    block["warnings"] = warnings
    return block
