"""Read the power data of a Perfetto trace: `power_rails` and `battery` (BatteryCounters) packets, decoded with
perfetto's own generated protos (protos/perfetto/trace/power/power_rails.proto, battery_counters.proto) and walked
packet by packet with the reader's framing (devlab/trace/framing.py).

What perfetto's android.power data source writes (src/traced/probes/power/android_power_data_source.cc): one
`battery` packet per poll with the counters the config asked for and the HAL had, and, with collect_power_rails,
one `power_rails` packet per poll: the first holds the RailDescriptors (index, rail_name, subsys_name), each holds
every rail's energy accumulated since boot in uWs. A phone without an on-device power monitor writes a first rails
packet with no descriptor and no more after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devlab.trace.framing import PacketStream
from devlab.trace.trace_file import require_trace


@dataclass(frozen=True)
class RailSample:
    ts_ns: int           # the packet's timestamp (trace clock)
    energy_uws: int      # accumulated since boot


@dataclass(frozen=True)
class BatterySample:
    ts_ns: int
    current_ua: int | None
    charge_uah: int | None
    voltage_uv: int | None
    capacity_percent: float | None


@dataclass
class PowerData:
    rails: dict[str, list[RailSample]] = field(default_factory=dict)    # rail_name -> samples in time order
    subsystems: dict[str, str] = field(default_factory=dict)           # rail_name -> subsys_name
    battery: list[BatterySample] = field(default_factory=list)
    rails_packets: int = 0          # power_rails packets seen (1 with no descriptor: the phone has no rails)

    @property
    def span_ns(self) -> int | None:
        stamps = [s.ts_ns for samples in self.rails.values() for s in samples] + [b.ts_ns for b in self.battery]
        return max(stamps) - min(stamps) if stamps else None


def read_power(path: Path) -> PowerData:
    """Every power_rails / battery packet of the trace at `path` (ParseError for a file that is not a trace)."""
    require_trace(Path(path))
    data = PowerData()
    names: dict[int, str] = {}
    for _, packet in PacketStream(Path(path)):
        kind = packet.WhichOneof("data")
        if kind == "power_rails":
            data.rails_packets += 1
            rails = packet.power_rails
            for descriptor in rails.rail_descriptor:
                names[descriptor.index] = descriptor.rail_name
                data.subsystems[descriptor.rail_name] = descriptor.subsys_name
                data.rails.setdefault(descriptor.rail_name, [])
            for energy in rails.energy_data:
                name = names.get(energy.index)
                if name is not None:        # energy before its descriptor (a ring buffer lost it) is unusable
                    data.rails[name].append(RailSample(packet.timestamp, energy.energy))
        elif kind == "battery":
            counters = packet.battery
            data.battery.append(BatterySample(
                packet.timestamp,
                counters.current_ua if counters.HasField("current_ua") else None,
                counters.charge_counter_uah if counters.HasField("charge_counter_uah") else None,
                counters.voltage_uv if counters.HasField("voltage_uv") else None,
                counters.capacity_percent if counters.HasField("capacity_percent") else None))
    for samples in data.rails.values():
        samples.sort(key=lambda s: s.ts_ns)
    data.battery.sort(key=lambda s: s.ts_ns)
    return data
