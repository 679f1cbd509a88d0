"""A minimal compiler cache for Verilator's design-independent runtime objects.

Verilator's makefile runs every compile as ``$(OBJCACHE) $(CXX) ... -c -o X.o src.cpp``. The
runner sets ``OBJCACHE`` to this script (copied next to the build cache with an executable
shebang). For outputs named ``verilated*.o`` (Verilator's runtime library: about 17 s of
compilation, identical for every design) the object and its ``-MMD`` dependency file are
stored under ``$IVITA_OBJCACHE_DIR`` keyed by a hash of the full command line and the source
file's contents; later builds copy them instead of compiling. Every other compile runs
unchanged. Standalone on purpose: it imports nothing from ivita.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile


def _cached_output(args: list[str]) -> str | None:
    if "-c" not in args or "-o" not in args:
        return None
    i = args.index("-o")
    out = args[i + 1] if i + 1 < len(args) else ""
    base = os.path.basename(out)
    return out if base.startswith("verilated") and base.endswith(".o") else None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: _objcache.py COMPILER ARGS...", file=sys.stderr)
        return 2
    cache = os.environ.get("IVITA_OBJCACHE_DIR")
    out = _cached_output(args)
    if not cache or out is None:
        return subprocess.call(args)
    h = hashlib.sha256("\0".join(args).encode())
    for a in args:  # the source file's contents, so an edited runtime is never reused
        if a.endswith((".cpp", ".cc", ".c")) and os.path.isfile(a):
            with open(a, "rb") as f:
                h.update(f.read())
    entry = os.path.join(cache, h.hexdigest()[:24])
    dep = out[:-2] + ".d"
    if os.path.isfile(entry + ".o"):
        shutil.copyfile(entry + ".o", out)
        if os.path.isfile(entry + ".d"):
            shutil.copyfile(entry + ".d", dep)
        return 0
    rc = subprocess.call(args)
    if rc == 0:
        os.makedirs(cache, exist_ok=True)
        for src, suffix in ((out, ".o"), (dep, ".d")):
            if os.path.isfile(src):
                fd, tmp = tempfile.mkstemp(dir=cache)
                os.close(fd)
                shutil.copyfile(src, tmp)
                os.replace(tmp, entry + suffix)  # atomic: concurrent builders never see halves
    return rc


if __name__ == "__main__":
    sys.exit(main())
