#!/usr/bin/env python3
"""Checks that what a Markdown file shows of the tree is what the tree holds.

1. Every code block marked as an example shows that file exactly.

A block is marked by an HTML comment on the line before its fence:

    <!-- example: examples/echo_server.cpp -->
    ```cpp
    ...the whole file...
    ```

The files under examples/ are built and run by the test suite, so a marked block cannot drift from code that
compiles and works.

2. Every paragraph marked as a package list names exactly the packages the script can install:

    <!-- packages: scripts/install-deps.sh -->
    toolchain `g++` `meson` ...

(every `word` in backticks up to the next blank line, against the script's packages=( ... ) arrays: packages and test_packages).

Usage: check_doc_examples.py ROOT DOC.md [DOC.md ...]; exits 1 naming each mismatch.
"""
import difflib
import pathlib
import re
import sys

MARK = re.compile(r"^<!-- example: (\S+) -->\s*$")
PACKAGES_MARK = re.compile(r"^<!-- packages: (\S+) -->\s*$")


def package_lists(text):
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = PACKAGES_MARK.match(line)
        if not m:
            continue
        paragraph = []
        for follow in lines[i + 1:]:
            if not follow.strip():
                break
            paragraph.append(follow)
        yield i + 1, m.group(1), set(re.findall(r"`([^`\s]+)`", " ".join(paragraph)))


def script_packages(script_text):
    """Every package of the script's packages=( ... ) array and of any other *_packages=( ... ) array (the
    build set and the test set of install-deps.sh)."""
    arrays = re.findall(r"^(?:\w+_)?packages=\((.*?)^\)", script_text, re.S | re.M)
    if not arrays:
        return None
    words = set()
    for body in arrays:
        for line in body.splitlines():
            words.update(line.split("#", 1)[0].split())
    return words


def blocks(text):
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if m and i + 1 < len(lines) and lines[i + 1].startswith("```"):
            j = i + 2
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if j == len(lines):
                raise SystemExit(f"unterminated code block after line {i + 1}")
            yield i + 1, m.group(1), "".join(lines[i + 2:j])
            i = j
        i += 1


def main():
    root = pathlib.Path(sys.argv[1])
    failures = 0
    checked = 0
    for doc in sys.argv[2:]:
        doc_path = root / doc
        for line, path, shown in blocks(doc_path.read_text()):
            checked += 1
            source = root / path
            if not source.exists():
                print(f"{doc}:{line}: {path} does not exist")
                failures += 1
                continue
            actual = source.read_text()
            if shown != actual:
                failures += 1
                print(f"{doc}:{line}: the block differs from {path}:")
                sys.stdout.writelines(difflib.unified_diff(actual.splitlines(keepends=True),
                                                           shown.splitlines(keepends=True), path, doc))
        for line, path, shown in package_lists(doc_path.read_text()):
            checked += 1
            installed = script_packages((root / path).read_text())
            if installed is None:
                print(f"{doc}:{line}: {path} has no packages=( ... ) array")
                failures += 1
            elif shown != installed:
                failures += 1
                print(f"{doc}:{line}: the list differs from {path}: "
                      f"not shown {sorted(installed - shown)}, not installed {sorted(shown - installed)}")
    if checked == 0:
        print("no marked example blocks found: the check would prove nothing")
        return 1
    print(f"{checked} marked block(s) checked, {failures} differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
