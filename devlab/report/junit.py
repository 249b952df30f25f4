"""JUnit XML for CI: one test case per device x variant; failures carry the gate's or the run's error text.

The shape is the one CI servers read (Jenkins / GitLab / GitHub test reporters): <testsuites> holding <testsuite>
elements with tests/failures/errors/skipped counts, each holding <testcase classname name time> with an optional
<failure message type>text</failure> or <skipped message/>.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devlab.errors import DevlabError
from devlab.fsutil import atomic_write_bytes
from devlab.report.gate import GateVerdict


@dataclass(frozen=True)
class JUnitCase:
    classname: str          # devlab.<device>
    name: str               # <variant>/<accelerator>
    time_s: float = 0.0
    failure: str | None = None          # one-line message; the case failed
    failure_type: str = "failure"
    details: str = ""                   # longer text inside <failure> (or system-out when passing)
    skipped: str | None = None


@dataclass(frozen=True)
class JUnitSuite:
    name: str
    cases: tuple[JUnitCase, ...]
    timestamp: str | None = None

    @property
    def failures(self) -> int:
        return sum(1 for c in self.cases if c.failure is not None)

    @property
    def skipped(self) -> int:
        return sum(1 for c in self.cases if c.skipped is not None and c.failure is None)


def device_classname(record_device: dict[str, Any]) -> str:
    name = record_device.get("alias") or record_device.get("serial") or "device"
    return f"devlab.{name}" + (".simulated" if record_device.get("simulated") else "")


def run_suite(record: dict[str, Any]) -> JUnitSuite:
    """A run: a case per variant x accelerator; a failed variant is a failed case with the run's error text."""
    classname = device_classname(record["device"])
    cases = []
    for v in record["variants"]:
        timing = v.get("timing") or {}
        latency = timing.get("latency_ms") or {}
        time_s = (latency.get("mean_ms") or 0) * (latency.get("count") or 0) / 1000
        name = f"{v['variant']}/{v['accelerator']}"
        if v["status"] == "failed":
            cases.append(JUnitCase(classname, name, time_s, failure=v.get("error") or "failed",
                                   failure_type="run-failed", details=v.get("error") or ""))
        elif v["status"] == "skipped":
            cases.append(JUnitCase(classname, name, time_s, skipped=v.get("error") or "skipped"))
        else:
            cases.append(JUnitCase(classname, name, time_s, details=_latency_text(timing)))
    return JUnitSuite(f"devlab run {record['run_id']}", tuple(cases), record.get("created"))


def run_failure_suite(device: str, message: str) -> JUnitSuite:
    """A run that failed before any variant ran (device unreachable, build failed): one failed case."""
    return JUnitSuite(f"devlab run on {device}", (JUnitCase(f"devlab.{device}", "run", failure=message,
                                                            failure_type="run-failed", details=message),))


def gate_suite(verdict: GateVerdict) -> JUnitSuite:
    comparison = verdict.comparison
    classname = "devlab." + comparison.candidate_device.split(" ")[0]
    cases = []
    for delta in comparison.variants:
        failure = verdict.failure_for(delta)
        interval = ("-" if delta.ci_low_pct is None
                    else f"[{delta.ci_low_pct:+.2f}, {delta.ci_high_pct:+.2f}] %")
        text = (f"baseline {comparison.baseline_run} median {_ms(delta.baseline_median_ms)} ms "
                f"({delta.baseline_source}); candidate {comparison.candidate_run} median "
                f"{_ms(delta.candidate_median_ms)} ms ({delta.candidate_source}); delta "
                f"{'-' if delta.delta_pct is None else f'{delta.delta_pct:+.2f} %'}, interval {interval}, "
                f"verdict {delta.verdict}" + (f" ({delta.note})" if delta.note else ""))
        if failure is not None:
            cases.append(JUnitCase(classname, delta.key, failure=failure.reason, failure_type="gate-regression",
                                   details=text))
        elif delta.verdict == "not comparable":
            cases.append(JUnitCase(classname, delta.key, skipped=delta.note or "not comparable", details=text))
        else:
            cases.append(JUnitCase(classname, delta.key, details=text))
    return JUnitSuite(f"devlab gate {comparison.candidate_run} vs {comparison.baseline_run}", tuple(cases))


def junit_xml(suites: list[JUnitSuite]) -> bytes:
    root = ET.Element("testsuites", name="devlab", tests=str(sum(len(s.cases) for s in suites)),
                      failures=str(sum(s.failures for s in suites)), errors="0",
                      skipped=str(sum(s.skipped for s in suites)),
                      time=_secs(sum(c.time_s for s in suites for c in s.cases)))
    for suite in suites:
        attrs = {"name": suite.name, "tests": str(len(suite.cases)), "failures": str(suite.failures), "errors": "0",
                 "skipped": str(suite.skipped), "time": _secs(sum(c.time_s for c in suite.cases)),
                 "hostname": socket.gethostname()}
        if suite.timestamp:
            attrs["timestamp"] = suite.timestamp
        element = ET.SubElement(root, "testsuite", attrs)
        for case in suite.cases:
            node = ET.SubElement(element, "testcase", classname=case.classname, name=case.name,
                                 time=_secs(case.time_s))
            if case.failure is not None:
                failure = ET.SubElement(node, "failure", message=case.failure, type=case.failure_type)
                failure.text = case.details or case.failure
            elif case.skipped is not None:
                ET.SubElement(node, "skipped", message=case.skipped)
            if case.details and case.failure is None:
                ET.SubElement(node, "system-out").text = case.details
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(path: Path, suites: list[JUnitSuite]) -> Path:
    atomic_write_bytes(path, junit_xml(suites))
    return path


def _latency_text(timing: dict[str, Any]) -> str:
    latency = timing.get("latency_ms") or {}
    if not latency:
        return ""
    return (f"median {_ms(latency.get('median_ms'))} ms, mean {_ms(latency.get('mean_ms'))} ms, "
            f"p90 {_ms(latency.get('p90_ms'))} ms over {latency.get('count')} runs ({timing.get('source')})")


def _secs(value: float) -> str:
    return f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


class RunJUnitSink:
    """Where `devlab run --junit FILE` writes its verdict: the run's cases, or one failed case when it died."""

    def __init__(self, path: Path | None, device: str) -> None:
        self.path = path
        self.device = device

    def write(self, record: dict[str, Any]) -> None:
        if self.path is not None:
            write_junit(self.path, [run_suite(record)])


@contextmanager
def junit_for_run(path: Path | None, device: str) -> Iterator[RunJUnitSink]:
    sink = RunJUnitSink(path, device)
    try:
        yield sink
    except DevlabError as exc:
        # CI reads the file even when the run failed: the failure text must reach the test report.
        if path is not None:
            write_junit(path, [run_failure_suite(device, exc.one_line())])
        raise


def farm_suites(devices: list[tuple[str, dict[str, Any] | None, str | None]]) -> list[JUnitSuite]:
    """A farm: a suite per device (name, its run.json or None, its whole-device error or None)."""
    suites = []
    for name, record, error in devices:
        if record is None:
            suites.append(run_failure_suite(name, error or "no result"))
        else:
            suites.append(run_suite(record))
    return suites
