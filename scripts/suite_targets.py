#!/usr/bin/env python3
"""Prints the ninja targets the tests of one meson suite need (their executables and what they depend on),
so a sanitizer pass can build just those instead of the whole tree:
    ninja -C build-tsan $(python3 scripts/suite_targets.py build-tsan threads)"""
import json
import os
import subprocess
import sys

build_dir, suite = sys.argv[1], sys.argv[2]


def introspect(what):
    out = subprocess.run(['meson', 'introspect', what, build_dir], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


files_of = {t['id']: t['filename'] for t in introspect('--targets')}
targets = set()
for test in introspect('--tests'):
    if not any(s == suite or s.endswith(':' + suite) for s in test['suite']):
        continue
    targets.add(os.path.relpath(test['cmd'][0], build_dir))
    for dep in test.get('depends', []):
        for f in files_of.get(dep, []):
            targets.add(os.path.relpath(f, build_dir))
print(' '.join(sorted(targets)))
