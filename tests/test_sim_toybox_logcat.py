"""`log` and `logcat` on the simulated phone, through the real adb server (issue 12): the main log buffer, logcat's
-d / -c / -v time / TAG:LEVEL *:S filters, and the simulated benchmark_model's lines under tag `tflite`, as TFLite's
tools/logging.h and minimal_logging_android.cc write them on Android."""

from __future__ import annotations

import re

import pytest

from sim_fixtures import adb_server, sim_phone  # noqa: F401  (fixtures)

THREADTIME = re.compile(r"\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +(\d+) +\d+ ([VDIWEF]) (\S+) *: (.*)")
TIME = re.compile(r"\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ([VDIWEF])/(\S+) *\( *(\d+)\): (.*)")


def test_log_writes_the_main_buffer_and_logcat_filters_it(sim_phone):
    assert sim_phone.shell("logcat -c").returncode == 0
    sim_phone.shell("log -p w -t DevlabCI 'first message'; log -t DevlabCI -p d debug line; log plain")
    dumped = sim_phone.shell("logcat -d").stdout.splitlines()
    entries = [THREADTIME.fullmatch(line).groups()[1:] for line in dumped]
    assert entries == [("W", "DevlabCI", "first message"), ("D", "DevlabCI", "debug line"), ("I", "log", "plain")]
    timed = sim_phone.shell("logcat -d -v time DevlabCI:W '*:S'").stdout.splitlines()
    assert len(timed) == 1 and TIME.fullmatch(timed[0]).group(1, 2, 4) == ("W", "DevlabCI", "first message")
    assert sim_phone.shell("logcat -d -s log").stdout.count("\n") == 1
    assert sim_phone.shell("logcat -c; logcat -d").stdout == ""


def test_log_refuses_a_bad_priority(sim_phone):
    result = sim_phone.shell("log -p x -t T msg")
    assert result.returncode == 1 and result.stderr == "log: bad -p 'x'\n"   # log.c error_exit


def test_log_reads_stdin_lines_and_cuts_long_messages(sim_phone):
    sim_phone.shell("logcat -c")
    assert sim_phone.shell("printf 'one\\ntwo\\n' | log -t Lines").returncode == 0
    long = sim_phone.shell("log -t Long " + "x" * 1100)
    assert long.returncode == 1 and long.stderr == "log: log cut at 1024 bytes\n"
    lines = [THREADTIME.fullmatch(line).group(3, 4) for line in sim_phone.shell("logcat -d").stdout.splitlines()]
    assert lines == [("Lines", "one"), ("Lines", "two"), ("Long", "x" * 1024)]


def test_logcat_without_d_follows_until_the_stream_closes(sim_phone):
    sim_phone.shell("logcat -c")
    # a follower started in the background sees an entry written after it started
    out = sim_phone.shell("logcat -v brief Follow:I '*:S' > /data/local/tmp/follow.txt & "
                          "sleep 0.3; log -t Follow later; sleep 0.5; kill $!; cat /data/local/tmp/follow.txt")
    assert "I/Follow" in out.stdout and out.stdout.rstrip().endswith("later")


def test_benchmark_model_writes_its_lines_to_logcat(sim_phone, real_fixtures):
    remote = "/data/local/tmp/add_10x10.tflite"
    sim_phone.device().sync.push(real_fixtures / "models" / "litert" / "add_10x10.tflite", remote)
    sim_phone.shell("logcat -c")
    run = sim_phone.shell(f"benchmark_model --graph={remote} --num_runs=2")
    assert run.returncode == 0
    lines = sim_phone.shell("logcat -d -v time tflite:V '*:S'").stdout.splitlines()
    messages = [TIME.fullmatch(line).group(1, 4) for line in lines]
    assert ("I", "STARTING!") in messages and ("I", f"Loaded model {remote}") in messages
    # every INFO line the tool printed on stdout is in logcat, in order
    printed = [line[len("INFO: "):] for line in run.stdout.splitlines() if line.startswith("INFO: ")]
    assert [m for p, m in messages if p == "I" and m in printed] == printed
    assert sim_phone.shell("logcat -d -s DevlabCI").stdout == ""


@pytest.mark.timeout(60)   # without the background lines the readline below would wait forever
def test_a_follower_is_never_left_without_lines(sim_phone):
    """A phone's log is never quiet: a client that reads `logcat` until it stops it (adbutils' logcat copier blocks
    in readline) gets a line within about a second even when nothing else logs; `--clear` is logcat's long -c."""
    import subprocess
    import time
    assert sim_phone.shell("logcat --clear").returncode == 0
    follower = subprocess.Popen([str(sim_phone.adb.binary), "-P", str(sim_phone.adb.port), "-s", sim_phone.serial,
                                 "shell", "logcat", "-v", "brief"], stdout=subprocess.PIPE, text=True)
    try:
        started = time.monotonic()
        line = follower.stdout.readline()
        assert line.startswith("D/devlab.sim") and time.monotonic() - started < 10
    finally:
        follower.kill()
        follower.wait(10)
    # the follower ends once its reader is gone (its next write would fail on a phone): no logcat left running
    deadline = time.monotonic() + 10
    while "logcat" in sim_phone.shell("ps -A -o NAME").stdout.split() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "logcat" not in sim_phone.shell("ps -A -o NAME").stdout.split()
