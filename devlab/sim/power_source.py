"""The simulated `android.power` data source: the battery_counters and power_rails packets traced_probes writes,
from the phone's power model (devlab/sim/power.py).

As perfetto's src/traced/probes/power/android_power_data_source.cc does it:
- it polls every `battery_poll_ms` (0 = the default 1000 ms; under 100 ms is capped to 100 ms), starting with a
  tick at Start; here the poll runs on the simulated clock (battery_poll_ms times the time scale, in wall time), so a
  short test gets as many samples as a phone would in that simulated time;
- each tick writes one `battery` (BatteryCounters) packet holding only the counters the config lists, and, with
  `collect_power_rails`, one `power_rails` packet: the first one carries the rail descriptors, every one carries
  each rail's accumulated energy (uWs since boot) with its timestamp_ms; a phone without rails writes one rails
  packet with no descriptor on the first tick and none after (rails collection turns itself off);
- timestamps are the trace clock's (BOOTTIME on a phone; here the phone's simulated BOOTTIME,
  `DeviceState.trace_clock_ns`, as for every other packet it writes).
"""

from __future__ import annotations

import io

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import AndroidPowerConfig, TraceConfig, TracePacket

from devlab.sim import faults
from devlab.sim.perfetto_service import _frames
from devlab.sim.power import power_model
from devlab.sim.state import DeviceState
from devlab.trace.writer import SEQ_INCREMENTAL_STATE_CLEARED, SEQ_NEEDS_INCREMENTAL_STATE, TraceWriter

POWER_SEQUENCE = 3
MIN_POLL_MS = 100         # kMinPollIntervalMs
DEFAULT_POLL_MS = 1000    # kDefaultPollIntervalMs


def charging(device: DeviceState) -> bool:
    """The `charging` fault (1 / 0) when set, else whether USB powers the phone (`unplugged` fault unset)."""
    forced = device.getprop(faults.CHARGING)
    if forced in ("0", "1"):
        return forced == "1"
    return not faults.is_set(device.getprop(faults.UNPLUGGED))


def power_config(config: TraceConfig, offered: tuple[str, ...]) -> AndroidPowerConfig | None:
    for ds in config.data_sources:
        if ds.config.name == "android.power" and "android.power" in offered:
            return ds.config.android_power_config
    return None


def power_frames(device: DeviceState, config: TraceConfig, offered: tuple[str, ...], start_ns: int,
                 end_ns: int) -> list[bytes]:
    """The framed packets the data source wrote between start_ns and end_ns (wall ns of the simulator)."""
    power = power_config(config, offered)
    if power is None:
        return []
    poll_ms = power.battery_poll_ms or DEFAULT_POLL_MS
    poll_ms = max(poll_ms, MIN_POLL_MS)
    step_ns = max(1, int(poll_ms * 1e6 * (device.time_scale or 1.0)))
    model = power_model(device)
    counters = set(power.battery_counters)
    rails = model.profile.rails if power.collect_power_rails else ()
    body = io.BytesIO()
    writer = TraceWriter(body)
    writer.write(TracePacket(trusted_packet_sequence_id=POWER_SEQUENCE, sequence_flags=SEQ_INCREMENTAL_STATE_CLEARED))
    plugged_in = charging(device)
    ts, first = start_ns, True
    while ts <= end_ns:
        if counters:
            reading = model.battery(ts, plugged_in)
            packet = TracePacket(trusted_packet_sequence_id=POWER_SEQUENCE, timestamp=device.trace_clock_ns(ts))
            battery = packet.battery
            if AndroidPowerConfig.BATTERY_COUNTER_CHARGE in counters:
                battery.charge_counter_uah = reading.charge_uah
            if AndroidPowerConfig.BATTERY_COUNTER_CAPACITY_PERCENT in counters:
                battery.capacity_percent = reading.capacity_percent
            if AndroidPowerConfig.BATTERY_COUNTER_CURRENT in counters:
                battery.current_ua = reading.current_ua
            if AndroidPowerConfig.BATTERY_COUNTER_CURRENT_AVG in counters:
                battery.current_avg_ua = reading.current_ua
            if AndroidPowerConfig.BATTERY_COUNTER_VOLTAGE in counters:
                battery.voltage_uv = reading.voltage_uv
            writer.write(packet)
        if power.collect_power_rails and (rails or first):
            packet = TracePacket(trusted_packet_sequence_id=POWER_SEQUENCE, timestamp=device.trace_clock_ns(ts),
                                 sequence_flags=SEQ_NEEDS_INCREMENTAL_STATE)
            packet.power_rails.session_uuid = 1
            if first:
                for index, rail in enumerate(rails):
                    packet.power_rails.rail_descriptor.add(index=index, rail_name=rail.name,
                                                           subsys_name=rail.subsys, sampling_rate=1000)
            for index, rail in enumerate(rails):
                packet.power_rails.energy_data.add(index=index, timestamp_ms=device.trace_clock_ns(ts) // 1_000_000,
                                                   energy=model.rail_energy_uws(rail, ts))
            writer.write(packet)
        first = False
        ts += step_ns
    writer.flush()
    return _frames(body.getvalue())
