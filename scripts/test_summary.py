#!/usr/bin/env python3
"""Counts GoogleTest cases from the XML reports of one meson test run and prints the closing line
"tests: N passed, N failed, N skipped" (a test that is not a GoogleTest executable counts as one case). A test
executable that crashed before writing its report counts
as one failure, so a crash can never pass silently. Exits non-zero when anything failed or nothing ran."""
import json
import pathlib
import sys
import xml.etree.ElementTree as ET

build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build")
passed = failed = skipped = 0
reported = set()
for report in sorted((build / "test-results").glob("*.xml")):
    reported.add(report.stem)
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.get("result") == "skipped" or case.find("skipped") is not None or case.get("status") == "notrun":
            skipped += 1
        else:
            passed += 1

log = build / "meson-logs" / "testlog.json"
if log.exists():
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        # meson names a test "project:suite / name"; its report is <name>.xml.
        name = entry["name"].split(":")[-1].split("/")[-1].strip()
        if name in reported:
            continue
        # A test that is not a GoogleTest executable (a script check) counts as one case.
        if entry.get("result") == "OK":
            passed += 1
        elif entry.get("result") == "SKIP":
            skipped += 1
        elif entry.get("result") != "EXPECTEDFAIL":
            failed += 1
            print(f"test executable failed without a report: {entry['name']} ({entry.get('result')})")

print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
