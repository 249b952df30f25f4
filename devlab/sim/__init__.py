"""The simulated phone: a process that speaks the device side of adb, so the REAL adb server connects to it.

Modules (one job each):
- adb_protocol: wire format (headers, CNXN banner, shell v2 packets); server: TCP server, connections, streams
  with OKAY/WRTE/CLSE flow control; services: shell v1/v2, exec, sync v1 (STAT, LIST, SEND, RECV, QUIT).
- fs: the sandboxed filesystem (a host folder plays `/`; nothing escapes it); state: props, jobs, timeline.
- shell: the small shell; commands/: the command registry (`register(name)`, `CommandContext`, every module there is
  auto-imported; see devlab/sim/commands/__init__.py for the API other commands such as perfetto use).
- profiles: s23 / pixel8 / pixel6-a12 identity, GPU, thermal, battery and cost-model constants; costmodel: the
  documented deterministic cost model; commands/benchmark_model: the simulated classic benchmark_model (GPU kernel
  id CONTRACT in its docstring); bench_flags / bench_tables: its flags and op-profile tables; timeline: SimEvents
  for the simulated perfetto; perfetto_service: its tracing service (sessions, --query forms, buffers, trace_stats).
- faults: fault injection (drop_after_bytes, hang, offline, no_shell_v2); daemon + __main__: run phones as processes
  (`devlab sim start|stop|list|fault`, devlab/cli/sim_cmd.py).

In-process use (tests): `SimServer(get_profile("s23"), port, root=dir, time_scale=0.01).start()`, then
`adb connect 127.0.0.1:<port>`; `server.device` is the DeviceState; `server.stop()`.
"""
