#!/usr/bin/env python3
"""The installed tree stands on its own, and holds only what is meant to be installed.

  install_test.py BUILD_DIR MESON PKG_CONFIG PROGRAM_CPP HEADER_LIST -- CXX...

meson install --destdir puts the build into a temporary directory; then, with nothing of the source tree on any
include path:
  * the installed headers under include/rfarm/ are exactly the public and detail/ headers meson lists
    (HEADER_LIST, one a line) and flatc's farm_generated.h: a private header installed is a failure;
  * one translation unit that includes every installed header compiles with the flags of the installed
    rfarm.pc and rfarm-farm.pc (a header that includes one that was not installed fails here);
  * PROGRAM_CPP, copied next to nothing, compiles and links through the same pkg-config files and runs.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def run(argv, **kw):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if done.returncode != 0:
        sys.exit(f"FAILED ({done.returncode}): {' '.join(argv)}\n{done.stdout}")
    return done.stdout


def main():
    sep = sys.argv.index("--")
    build_dir, meson, pkg_config, program_cpp, header_list = sys.argv[1:sep]
    cxx = sys.argv[sep + 1:]
    expected = {line.strip() for line in open(header_list) if line.strip()}
    expected.add("farm/protocol/farm_generated.h")

    work = tempfile.mkdtemp(prefix="rfarm-install-test-")
    try:
        destdir = os.path.join(work, "root")
        run([meson, "install", "-C", build_dir, "--no-rebuild", "--quiet", "--destdir", destdir])
        installed = json.loads(run([meson, "introspect", build_dir, "--installed"]))
        pc_files = [path for path in installed.values() if os.path.basename(path) in ("rfarm.pc", "rfarm-farm.pc")]
        if len(pc_files) != 2:
            sys.exit(f"expected rfarm.pc and rfarm-farm.pc among the installed files, found {pc_files}")
        pc_dir = destdir + os.path.dirname(pc_files[0])

        env = dict(os.environ, PKG_CONFIG_PATH=pc_dir, PKG_CONFIG_SYSROOT_DIR=destdir)
        cflags = run([pkg_config, "--cflags", "rfarm", "rfarm-farm"], env=env).split()
        libs = run([pkg_config, "--libs", "rfarm", "rfarm-farm"], env=env).split()
        roots = [flag[2:] for flag in cflags if flag.startswith("-I" + destdir) and flag.endswith("/rfarm")]
        if len(roots) != 1:
            sys.exit(f"rfarm.pc's Cflags should name one include/rfarm directory in the installed tree: {cflags}")
        include_root = roots[0]
        lib_dirs = [flag[2:] for flag in libs if flag.startswith("-L" + destdir)]

        headers = set()
        for dirpath, _, names in os.walk(include_root):
            for name in names:
                headers.add(os.path.relpath(os.path.join(dirpath, name), include_root))
        problems = [f"installed but not public or detail/: {h}" for h in sorted(headers - expected)]
        problems += [f"listed but not installed: {h}" for h in sorted(expected - headers)]
        if problems:
            sys.exit("\n".join(problems))

        all_headers = os.path.join(work, "all_headers.cpp")
        with open(all_headers, "w") as out:
            for h in sorted(headers):
                out.write(f'#include "{h}"\n')
        run(cxx + cflags + ["-Wall", "-Wextra", "-fsyntax-only", all_headers], cwd=work)

        program = os.path.join(work, "program.cpp")
        shutil.copyfile(program_cpp, program)
        binary = os.path.join(work, "program")
        rpath = [f"-Wl,-rpath,{d}" for d in lib_dirs]
        run(cxx + cflags + ["-Wall", "-Wextra", program, "-o", binary] + libs + rpath, cwd=work)
        output = run([binary], cwd=work)
        if "installed rfarm works" not in output:
            sys.exit(f"the program said: {output}")
        print(f"{len(headers)} installed headers compile from the installed tree; {output.strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
