"""JUnit XML: the shape CI servers read (testsuites/testsuite/testcase/failure) with consistent counts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from devlab.report.junit import JUnitCase, JUnitSuite, write_junit
from report_helpers import devlab, host_run

ALLOWED_CHILDREN = {"testsuites": {"testsuite"}, "testsuite": {"testcase", "properties", "system-out", "system-err"},
                    "testcase": {"failure", "error", "skipped", "system-out", "system-err"}}


def validate_junit(path: Path) -> ET.Element:
    """The JUnit schema's shape: element nesting, required attributes, and counts that add up."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for suite in root:
        assert suite.tag in ALLOWED_CHILDREN["testsuites"]
        assert suite.get("name") and float(suite.get("time")) >= 0
        cases = [c for c in suite if c.tag == "testcase"]
        assert {c.tag for c in suite} <= ALLOWED_CHILDREN["testsuite"]
        failures = sum(1 for c in cases if c.find("failure") is not None)
        skipped = sum(1 for c in cases if c.find("skipped") is not None)
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == failures and int(suite.get("skipped")) == skipped
        assert int(suite.get("errors")) == sum(1 for c in cases if c.find("error") is not None)
        for case in cases:
            assert case.get("classname") and case.get("name") and float(case.get("time")) >= 0
            assert {c.tag for c in case} <= ALLOWED_CHILDREN["testcase"]
            failure = case.find("failure")
            if failure is not None:
                assert failure.get("message") and failure.get("type") and failure.text
        totals["tests"] += len(cases)
        totals["failures"] += failures
        totals["skipped"] += skipped
    for key, value in totals.items():
        assert int(root.get(key)) == value
    return root


def test_validator_rejects_wrong_counts(tmp_path: Path) -> None:
    path = write_junit(tmp_path / "x.xml", [JUnitSuite("s", (JUnitCase("devlab.a", "v/gpu", failure="slow"),))])
    validate_junit(path)
    path.write_text(path.read_text().replace('failures="1"', 'failures="0"', 1))
    try:
        validate_junit(path)
    except AssertionError:
        return
    raise AssertionError("a count mismatch passed the validator")


def test_run_junit_has_a_case_per_variant(tmp_path: Path) -> None:
    junit = tmp_path / "run.xml"
    run_dir = host_run(tmp_path / "runs", "--junit", str(junit))
    root = validate_junit(junit)
    names = sorted(c.get("name") for c in root.iter("testcase"))
    assert names == ["fp16/cpu", "fp32/cpu"]
    assert {c.get("classname") for c in root.iter("testcase")} == {"devlab.host"}
    assert run_dir.name in root.find("testsuite").get("name")


def test_failed_run_writes_its_error_as_a_failure(tmp_path: Path) -> None:
    junit = tmp_path / "failed.xml"
    result = devlab("run", "--device", "no-such-phone", "--out", str(tmp_path), "--junit", str(junit))
    assert result.returncode == 2
    root = validate_junit(junit)
    (failure,) = list(root.iter("failure"))
    assert "no-such-phone" in failure.get("message") and failure.get("type") == "run-failed"


def test_special_characters_are_escaped(tmp_path: Path) -> None:
    case = JUnitCase("devlab.a<b>", 'v&"x"', failure="slower <by> 20 % & more", details="line1\nline2 ]]>")
    root = validate_junit(write_junit(tmp_path / "esc.xml", [JUnitSuite("s&s", (case,))]))
    parsed = next(root.iter("testcase"))
    assert parsed.get("name") == 'v&"x"' and parsed.find("failure").text == "line1\nline2 ]]>"
