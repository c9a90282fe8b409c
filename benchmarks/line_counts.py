"""Lines of Python per package (and top-level module) of ``workbench/`` at two commits.

    python benchmarks/line_counts.py 57bfaca HEAD
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter


def counts(rev: str) -> Counter[str]:
    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "workbench"], check=True,
                           capture_output=True, text=True).stdout.split()
    out: Counter[str] = Counter()
    for f in files:
        if f.endswith(".py"):
            parts = f.split("/")
            unit = parts[1] if len(parts) == 2 else parts[1] + "/"
            text = subprocess.run(["git", "show", f"{rev}:{f}"], check=True, capture_output=True).stdout
            out[unit] += text.count(b"\n")
    return out


def main() -> None:
    before_rev, after_rev = (sys.argv[1:3] + ["57bfaca", "HEAD"][len(sys.argv[1:3]):])
    before, after = counts(before_rev), counts(after_rev)
    units = sorted(set(before) | set(after), key=lambda u: (not u.endswith("/"), u))
    print(f"| workbench/ | {before_rev} | {after_rev} |\n|---|---:|---:|")
    for u in units:
        print(f"| {u} | {before.get(u, 0)} | {after.get(u, 0)} |")
    print(f"| total | {sum(before.values())} | {sum(after.values())} |")


if __name__ == "__main__":
    main()
