"""JUnit XML: one testsuite per cell, one testcase per check; an XFAIL is a skipped case with its reason."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from harness.results.cells import CellReport, console_tail
from harness.results.text import first_line
from harness.verdict.checks import FAIL, NOT_RUN


def _suite(cell: CellReport, command: str) -> ET.Element:
    suite = ET.Element("testsuite", name=cell.label)
    props = ET.SubElement(suite, "properties")
    for key, value in (("arch", cell.arch), ("kernel", cell.kernel), ("toolchain", cell.toolchain),
                       ("status", cell.status), ("note", cell.note), ("command", command),
                       ("artifacts", cell.result.artifacts if cell.result else "")):
        ET.SubElement(props, "property", name=key, value=value)
    classname = f"kprobe-harness.{cell.label}"
    console = console_tail(cell.result)
    checks = cell.result.checks if cell.result else []
    if cell.error or not checks:
        case = ET.SubElement(suite, "testcase", classname=classname, name="run")
        ET.SubElement(case, "error", message=first_line(cell.error) or "no checks ran").text = cell.error
    for check in checks:
        case = ET.SubElement(suite, "testcase", classname=classname, name=check.name)
        if check.status == FAIL and cell.status == "xfail":
            ET.SubElement(case, "skipped", message=f"XFAIL: {cell.note}")
        elif check.excuse:
            ET.SubElement(case, "skipped", message=f"not run ({check.excuse}): {check.detail}")
        elif check.status in (FAIL, NOT_RUN):  # a check not run without an excuse counts as failed
            failure = ET.SubElement(case, "failure", message=first_line(check.detail))
            failure.text = check.detail + (f"\n\nlast console lines:\n{console}" if console else "")
    if cell.status == "xpass":
        case = ET.SubElement(suite, "testcase", classname=classname, name="known_issues")
        ET.SubElement(case, "failure", message=f"XPASS: {cell.note}").text = cell.note
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        suite.set(attr, str(sum(1 for c in cases if c.find(tag) is not None)))
    suite.set("time", f"{cell.result.seconds:.2f}" if cell.result else "0")
    return suite


def render(cells: Sequence[CellReport], command: str) -> str:
    root = ET.Element("testsuites", name="kprobe-harness")
    for cell in cells:
        root.append(_suite(cell, command))
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in root)))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
