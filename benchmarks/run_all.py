"""Run every benchmark script in this folder in turn and print their figures.

    python benchmarks/run_all.py            # full runs
    python benchmarks/run_all.py --quick    # short runs (a few minutes in all)
"""
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv):
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name
                     and not p.name.startswith("_"))
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} {' '.join(argv)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *argv])
        print(f"=== {script.name}: exit {code} after {time.perf_counter() - start:.0f} s",
              flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
