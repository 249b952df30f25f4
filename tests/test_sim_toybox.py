"""The simulated phone's shell and toybox set, through the real adb server (issue 12): control flow as mksh scripts
in CI use it, and toybox commands with their output, exit codes and error lines (landley/toybox toys/*;
docs/sim-fidelity.md "Shell, toybox and services")."""

from __future__ import annotations

import pytest

from sim_fixtures import adb_server, sim_phone  # noqa: F401  (fixtures)

TMP = "/data/local/tmp/toybox"


def sh(phone, script: str) -> tuple[int, str, str]:
    result = phone.shell(script)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="module")
def phone(sim_phone):
    assert sh(sim_phone, f"rm -rf {TMP}; mkdir -p {TMP}/d/e && cd {TMP} && printf 'b\\na\\nc\\n' > d/f && "
                         "echo x > d/e/g")[0] == 0
    return sim_phone


# -------------------------------------------------------------------------------------------------- control flow
@pytest.mark.parametrize("script, out", [
    ("for i in 1 2 3; do echo $i; done", "1\n2\n3\n"),
    ("for f in /data/local/tmp/toybox/d/*; do echo $f; done",
     "/data/local/tmp/toybox/d/e\n/data/local/tmp/toybox/d/f\n"),
    ("i=; while [ \"$i\" != xxx ]; do i=x$i; done; echo $i", "xxx\n"),
    ("until false; do echo once; break; done", "once\n"),
    ("if [ -d /data ]; then echo dir; elif true; then echo no; else echo no; fi", "dir\n"),
    ("if false; then echo no; elif false; then echo no; else echo else; fi", "else\n"),
    ("case sdm845 in sm*|sdm*) echo qcom;; *) echo other;; esac", "qcom\n"),
    ("case x in y) echo no;; esac; echo $?", "0\n"),
    ("false; echo $?; true && echo and; false || echo or", "1\nand\nor\n"),
    ("! false && echo negated", "negated\n"),
    ("L='a b  c'; for w in $L; do echo [$w]; done; for w in \"$L\"; do echo \"[$w]\"; done",
     "[a]\n[b]\n[c]\n[a b  c]\n"),
    ("while read name; do echo got $name; done < /data/local/tmp/toybox/d/f", "got b\ngot a\ngot c\n"),
    ("printf '1\\n2\\n' | while read n; do echo n=$n; done", "n=1\nn=2\n"),
    ("{ echo one; echo two; } > /data/local/tmp/toybox/g; cat /data/local/tmp/toybox/g", "one\ntwo\n"),
    ("( cd /data; pwd ); pwd", "/data\n/\n"),
    ("for i in 1 2; do for j in a b; do [ $j = b ] && continue 2; echo $i$j; done; done", "1a\n2a\n"),
    ("set -- x 'y z'; echo $#; for a in \"$@\"; do echo \"<$a>\"; done", "2\n<x>\n<y z>\n"),
    ("nope 2>&1 | cat; echo $?", "/system/bin/sh: nope: inaccessible or not found\n0\n"),
    ("echo a > /data/local/tmp/toybox/h; echo b >> /data/local/tmp/toybox/h; cat < /data/local/tmp/toybox/h",
     "a\nb\n"),
    ("command -v ls; test -x /system/bin/sh && echo sh", "/system/bin/ls\nsh\n"),
    # command substitution: $(..) and `..`, field-split unquoted, kept whole in "..", trailing newlines cut
    ("x=$(echo hi there); echo \"[$x]\"; for w in $(echo a b); do echo $w; done", "[hi there]\na\nb\n"),
    ("echo `echo back` \"$(printf 'a\\nb\\n')\" $(echo $(echo nested))", "back a\nb nested\n"),
    ("v=$(false); echo $?; n=$(ls /data/local/tmp/toybox/d | wc -l); echo $n", "1\n2\n"),
    ("echo 'a$(no)' \"$(echo ')')\"", "a$(no) )\n"),
])
def test_control_flow(phone, script, out):
    assert sh(phone, script)[:2] == (0, out)


def test_set_e_stops_at_the_first_failure_outside_conditions(phone):
    status, out, _ = sh(phone, "set -e; if false; then :; fi; false || echo tolerated; false; echo unreachable")
    assert (status, out) == (1, "tolerated\n")


def test_syntax_errors_are_status_2(phone):
    status, _, err = sh(phone, "if true; then echo x")
    assert status == 2 and "syntax error" in err


# ---------------------------------------------------------------------------------------------------------- ls
def test_ls_la_has_total_and_dot_entries(phone):
    status, out, _ = sh(phone, f"ls -la {TMP}/d")
    lines = out.splitlines()
    assert status == 0 and lines[0].startswith("total ") and lines[0].split()[1].isdigit()
    assert [line.split()[-1] for line in lines[1:]] == [".", "..", "e", "f"]
    assert lines[1].startswith("d") and lines[4].startswith("-")


def test_ls_recurses(phone):
    assert sh(phone, f"cd {TMP} && ls -R d") == (0, "d:\ne\nf\n\nd/e:\ng\n", "")


def test_ls_missing_is_toybox_error(phone):
    assert sh(phone, "ls /nope") == (1, "", "ls: /nope: No such file or directory\n")


# ------------------------------------------------------------------------------------------------ toybox set
@pytest.mark.parametrize("script, expected", [
    # touch.c: creates the file; a missing parent is perror_msg's line, exit 1
    (f"cd {TMP} && touch t && ls t", (0, "t\n", "")),
    ("touch /nope/x", (1, "", "touch: /nope/x: No such file or directory\n")),
    # head.c / tail.c, -N and -n N, tail -n +K
    (f"head -n 2 {TMP}/d/f; head -1 {TMP}/d/f; tail -n 1 {TMP}/d/f; tail -n +2 {TMP}/d/f",
     (0, "b\na\nb\nc\na\nc\n", "")),
    ("head /nope", (1, "", "head: /nope: No such file or directory\n")),
    # wc.c: one count of stdin prints the number alone
    (f"wc -l < {TMP}/d/f; wc -l {TMP}/d/f; echo a b | wc -w", (0, f"3\n3 {TMP}/d/f\n2\n", "")),
    # sed.c: s///g, -n p, d, addresses, back-references, &, -i
    (f"sed 's/a/A/' {TMP}/d/f; sed -n 2p {TMP}/d/f; sed '1d;$d' {TMP}/d/f", (0, "b\nA\nc\na\na\n", "")),
    ("echo 'hello world' | sed 's/\\(hello\\) \\(world\\)/\\2 \\1/; s/o/0/g'; echo abc | sed 's/b/[&]/'",
     (0, "w0rld hell0\na[b]c\n", "")),
    (f"cd {TMP} && printf 'k=1\\n' > s && sed -i 's/1/2/' s && cat s", (0, "k=2\n", "")),
    ("echo 'a;b' | sed 's/;/,/'; echo abc | sed 's/b/[&]/;s/a/\\&/'; echo /x/y | sed 's|/|:|g'",
     (0, "a,b\n&[b]c\n:x:y\n", "")),
    ("echo a | sed 's/a/b'", (1, "", "sed: unmatched 's'\n")),
    # cut.c, sort.c, tr.c
    ("echo a:b:c | cut -d: -f2,3; echo abcdef | cut -c2-4", (0, "b:c\nbcd\n", "")),
    ("printf '10\\n9\\n9\\n100\\n' | sort -n -u; printf 'b\\na\\n' | sort -r", (0, "9\n10\n100\nb\na\n", "")),
    ("echo Hello | tr a-z A-Z; echo a-b-c | tr -d -; echo 'a  b' | tr -s ' '", (0, "HELLO\nabc\na b\n", "")),
    # cp.c (dir without -r is skipped, exit 1), mv.c, ln.c -s, readlink (toys/other/readlink.c)
    (f"cd {TMP} && cp d/f c && cat c && mv c m && ls m && ls c",
     (1, "b\na\nc\nm\n", "ls: c: No such file or directory\n")),
    (f"cd {TMP} && cp d d2", (1, "", "cp: Skipped dir 'd'\n")),
    (f"cd {TMP} && cp nope x", (1, "", "cp: bad 'nope': No such file or directory\n")),
    (f"cd {TMP} && cp -r d d3 && ls d3 d3/e", (0, "d3:\ne\nf\n\nd3/e:\ng\n", "")),
    (f"cd {TMP} && ln -sf d/f lk && readlink lk && readlink -f lk && cat lk | head -1",
     (0, f"d/f\n{TMP}/d/f\nb\n", "")),
    (f"readlink {TMP}/d/f; echo $?", (0, "1\n", "")),
    # find.c -name / -type, du.c (1K blocks), basename.c / dirname.c
    (f"cd {TMP} && find d -name '*g'; find d -type d; find nope; echo $?",
     (0, "d/e/g\nd\nd/e\n1\n", "find: nope: No such file or directory\n")),
    ("basename /a/b/model.tflite .tflite; dirname /a/b/c; dirname c", (0, "model\n/a/b\n.\n", "")),
    # xargs.c (-n, 123 when a run failed), printf.c (the format reused), env.c, date.c, toybox's multiplexer
    ("echo a b c | xargs -n 2 echo x; echo /nope | xargs ls 2>/dev/null; echo $?", (0, "x a b\nx c\n123\n", "")),
    ("echo x | xargs sh -c 'exit 255'; echo $?", (0, "124\n", "xargs: sh: exited with status 255; aborting\n")),
    ("printf '%s=%d\\n' a 1 b 2; printf '%05.1f|%x\\n' 3.14159 255", (0, "a=1\nb=2\n003.1|ff\n", "")),
    ("env FOO=bar env | grep FOO; toybox basename /x/y; toybox nope",
     (1, "FOO=bar\ny\n", "toybox: Unknown command nope\n")),
])
def test_toybox_commands(phone, script, expected):
    assert sh(phone, script) == expected


def test_du_counts_1k_blocks(phone):
    status, out, _ = sh(phone, f"cd {TMP} && du -s d && du d")
    lines = out.splitlines()
    total = int(lines[0].split("\t")[0])
    assert status == 0 and lines[0].endswith("\td") and total >= int(lines[1].split("\t")[0]) > 0
    assert [line.split("\t")[1] for line in lines[1:]] == ["d/e", "d"]


def test_date_formats(phone):
    status, out, _ = sh(phone, "date +%Y-%m-%d")
    assert status == 0 and len(out.strip()) == 10 and out[4] == "-"
    assert sh(phone, "date 010100002000")[0] == 1   # setting the clock needs root


def test_toybox_lists_its_commands(phone):
    names = sh(phone, "toybox")[1].split()
    assert {"ls", "sed", "find", "xargs", "ps"} <= set(names) and "logcat" not in names


def test_ps_lists_the_shell_and_a_running_benchmark(phone):
    """ps.c: the Android default columns; a process started in the background is listed with its pid (and its
    /proc entry) while it runs, named after the program mksh's child execs; without -A only the caller's session.
    A hung benchmark_model (faults.py) and a perfetto started with --background are listed with their pids."""
    status, out, _ = sh(phone, "sleep 30 & echo $!")
    pid = out.strip()
    cfg = "/data/misc/perfetto-configs/toybox.cfg"
    bench = sh(phone, "setprop devlab.fault.hang benchmark_model; benchmark_model --graph=/x.tflite & echo $!")[1]
    traced = sh(phone, f"echo 'duration_ms: 60000' > {cfg}; perfetto --background --txt -c {cfg} -o "
                       "/data/misc/perfetto-traces/toybox.pf")[1]
    try:
        names = {row.split()[1]: row.split()[-1] for row in sh(phone, "ps -A")[1].splitlines()[1:]}
        assert names[bench.strip()] == "benchmark_model" and names[traced.strip()] == "perfetto"
        # what CI scripts do with it: pid=$(pidof NAME) (toys/lsb/pidof.c), 1 when none runs
        assert sh(phone, "pid=$(pidof benchmark_model); echo $pid") == (0, bench, "")
        assert sh(phone, "pidof nothing_runs")[0] == 1
        status, out, _ = sh(phone, "ps -A")
        header, *rows = out.splitlines()
        assert status == 0 and header.split() == ["USER", "PID", "PPID", "VSZ", "RSS", "WCHAN", "ADDR", "S", "NAME"]
        by_pid = {row.split()[1]: row.split()[-1] for row in rows}
        assert by_pid["1"] == "init" and by_pid[pid] == "sleep"
        assert sh(phone, f"ps -o PID,NAME -p {pid}")[1].split() == ["PID", "NAME", pid, "sleep"]
        mine = sh(phone, "echo $$; ps -o PID,PPID,NAME")[1].splitlines()
        assert mine[1].split() == ["PID", "PPID", "NAME"]
        assert [row.split()[2] for row in mine[2:]] == ["sh", "ps"] and mine[3].split()[1] == mine[0]
    finally:
        sh(phone, f"setprop devlab.fault.hang ''; kill {pid} {bench.strip()} {traced.strip()}")
    assert sh(phone, "ps -o PID -p 999999")[0] == 1
