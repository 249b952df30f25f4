"""The simulated phone's network as a shell user sees it: `ip addr`, `ifconfig` (wlan0 with an address on a home
Wi-Fi subnet, lo), `ping` of loopback and that subnet, and `nc` to a port `adb reverse` bound on the phone
(devlab/sim/reverse.py). toybox toys/net/{ifconfig,ping,netcat}.c; `ip` is iproute2 on Android."""

from __future__ import annotations

import time

from devlab.sim.commands import CommandContext, register
from devlab.sim.reverse import table_of

# The simulated phone's addresses (a phone on a home network's DHCP); made up, stable across runs
WLAN_ADDRESS, WLAN_PREFIX, WLAN_MAC = "192.168.1.42", 24, "02:00:00:44:55:66"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@register("ip")
def ip(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    if args[:1] in (["addr"], ["a"], ["address"]) and args[1:2] in ([], ["show"], ["list"]):
        only = args[args.index("dev") + 1] if "dev" in args and args.index("dev") + 1 < len(args) else None
        blocks = {
            "lo": "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n"
                  "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
                  "    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n",
            "wlan0": "30: wlan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP group default qlen 3000\n"
                     f"    link/ether {WLAN_MAC} brd ff:ff:ff:ff:ff:ff\n"
                     f"    inet {WLAN_ADDRESS}/{WLAN_PREFIX} brd 192.168.1.255 scope global wlan0\n"
                     "       valid_lft forever preferred_lft forever\n"}
        if only is not None and only not in blocks:
            ctx.stderr.write(f'Device "{only}" does not exist.\n')
            return 1
        ctx.stdout.write("".join(text for name, text in blocks.items() if only in (None, name)))
        return 0
    if args[:1] == ["route"]:
        ctx.stdout.write(f"192.168.1.0/24 dev wlan0 proto kernel scope link src {WLAN_ADDRESS}\n")
        return 0
    ctx.stderr.write('Object "' + (args[0] if args else "") + '" is unknown, try "ip help".\n')
    return 255


@register("ifconfig")
def ifconfig(ctx: CommandContext) -> int:
    names = ctx.argv[1:] or ["lo", "wlan0"]
    blocks = {
        "lo": "lo        Link encap:Local Loopback\n          inet addr:127.0.0.1  Mask:255.0.0.0\n"
              "          UP LOOPBACK RUNNING  MTU:65536  Metric:1\n\n",
        "wlan0": f"wlan0     Link encap:Ethernet  HWaddr {WLAN_MAC}\n"
                 f"          inet addr:{WLAN_ADDRESS}  Bcast:192.168.1.255  Mask:255.255.255.0\n"
                 "          UP BROADCAST RUNNING MULTICAST  MTU:1500  Metric:1\n\n"}
    for name in names:
        if name not in blocks:
            return ctx.error(f"{name}: No such device")   # ifconfig.c: SIOCGIFFLAGS fails with ENODEV
        ctx.stdout.write(blocks[name])
    return 0


@register("ping")
def ping(ctx: CommandContext) -> int:
    """`ping -c N HOST`: loopback and the phone's own address answer; nothing else is reachable (the simulated
    phone has no network beyond adb), so ping exits 1 with 100% loss, as an unreachable host does."""
    args = ctx.argv[1:]
    count = int(args[args.index("-c") + 1]) if "-c" in args and args[args.index("-c") + 1].isdigit() else 4
    hosts = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] not in ("-c", "-W",
                                                                                                         "-i", "-w"))]
    if not hosts:
        return ctx.error("Needs 1 argument", 2)
    host = hosts[0]
    address = "127.0.0.1" if host in _LOOPBACK else host
    reachable = address in ("127.0.0.1", WLAN_ADDRESS)
    ctx.stdout.write(f"PING {host} ({address}) 56(84) bytes of data.\n")
    for seq in range(1, count + 1):
        if reachable:
            ctx.stdout.write(f"64 bytes from {address}: icmp_seq={seq} ttl=64 time=0.05 ms\n")
        if seq < count and not ctx.sleep(0.01):
            break
    received = count if reachable else 0
    ctx.stdout.write(f"\n--- {host} ping statistics ---\n{count} packets transmitted, {received} received, "
                     f"{100 - 100 * received // count}% packet loss, time {count}ms\n")
    return 0 if reachable else 1


@register("nc")
def nc(ctx: CommandContext) -> int:
    """`nc [-w SECS] HOST PORT` (toys/net/netcat.c): connect to a port on the phone; only loopback ports `adb reverse` bound exist.
    Sends stdin, prints what comes back until the other side closes (or -w seconds of silence)."""
    args = ctx.argv[1:]
    wait = None
    if "-w" in args:
        at = args.index("-w")
        wait = float(args[at + 1])
        del args[at:at + 2]
    if len(args) != 2 or not args[1].isdigit():
        return ctx.error("usage: nc [-w SECS] HOST PORT")
    host, port = args
    listener = table_of(ctx.device).lookup(f"tcp:{port}") if host in _LOOPBACK else None
    if listener is None:
        return ctx.error("connect: Connection refused")
    stream = listener.connection.open_to_host(listener.connect_to)   # type: ignore[attr-defined]
    if stream is None:   # the host side could not connect: adbd closes the phone's socket at once
        return 0
    try:
        data = ctx.read_stdin()
        if data:
            stream.write(data)
        deadline = None if wait is None else time.monotonic() + wait
        while not ctx.cancelled.is_set():
            try:
                chunk = stream.inbox.get(timeout=0.1)
            except Exception:   # queue.Empty: nothing yet
                if deadline is not None and time.monotonic() > deadline:
                    break
                continue
            if chunk is None:
                break
            ctx.stdout.write(chunk)
            if deadline is not None:
                deadline = time.monotonic() + wait
    finally:
        stream.close()
    return 0
