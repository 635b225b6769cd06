"""Speed of the clinic audit (issue 15): ``photostation audit`` on generated archives.

The archive is the sample archive's three patients (2 visits x 3 views, 1600x1200 JPEGs with
camera EXIF) copied ``--patients`` times over under new codes; each copy's pixels get a little
noise (so every file has its own fingerprint and is checked and compared for real) and keep
their EXIF. Each audit runs as ``photostation audit`` in its own process, on a fresh ledger.

Figures:

- photos per second per core with 1 and 2 workers (a photo = its checks plus, for a
  follow-up, its comparison with the baseline), and the speed-up from 1 to 2 workers;
- a re-run of the unchanged archive, as a share of the first run's time (target < 5 %);
- the audit process's peak memory (largest resident set of it and its workers) on the
  archive and on one twice as large (target: flat);
- drift events: the sample's P003 month 6 was taken with another camera body and settings,
  rotated and tilted, so events on its copies are true; any other event is a false alarm.
  Copy k of the archive is dated 3k days later (EXIF and manifest), so each station's photos
  form a time series.

Run ``.venv/bin/python benchmarks/audit.py [--quick] [--patients N] [--out FILE]``
(default 4 copies = 12 patients, 72 photos, 36 pairs, ~10 min on 2 cores; ``--quick``:
2 copies, ~4 min).
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.records import ROOT, benchmark_parser, write_results  # noqa: E402

SAMPLE = ROOT / "sample_images"
CLI = [sys.executable, "-m", "photostation_cli.main"]


def _shifted_exif(image: Image.Image, days: int) -> bytes:
    """The photo's EXIF with its dates moved by ``days`` (each copy is a later cohort)."""
    exif = image.getexif()
    fmt = "%Y:%m:%d %H:%M:%S"
    sub = exif.get_ifd(0x8769)
    for tags, tag in ((exif, 0x0132), (sub, 0x9003), (sub, 0x9004)):
        if tag in tags:
            tags[tag] = (dt.datetime.strptime(str(tags[tag]), fmt) + dt.timedelta(days=days)).strftime(fmt)
    return exif.tobytes()


def build_archive(folder: Path, copies: int, seed: int) -> int:
    """The sample patients ``copies`` times over, copy k taken 3k days later; returns the
    number of photos."""
    rng = np.random.default_rng(seed)
    lines = (SAMPLE / "manifest.csv").read_text().splitlines()
    rows = [lines[0]]
    count = 0
    for copy in range(copies):
        days = 3 * copy
        for source in sorted(p for p in SAMPLE.iterdir() if p.is_dir()):
            code = f"{source.name}-{copy:03d}"
            for photo in sorted(source.glob("*/*.jpg")):
                target = folder / code / photo.parent.name / photo.name
                target.parent.mkdir(parents=True, exist_ok=True)
                with Image.open(photo) as image:
                    exif = _shifted_exif(image, days)
                    pixels = np.asarray(image, dtype=np.int16)
                noisy = np.clip(pixels + rng.integers(-1, 2, pixels.shape), 0, 255).astype(np.uint8)
                Image.fromarray(noisy).save(target, quality=92, exif=exif)
                count += 1
            for row in csv.DictReader(lines):
                if row["patient"] == source.name:
                    row["patient"] = code
                    if row["visit_date"]:
                        row["visit_date"] = (dt.date.fromisoformat(row["visit_date"])
                                             + dt.timedelta(days=days)).isoformat()
                    rows.append(",".join(_quoted(row[k]) for k in lines[0].split(",")))
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return count


def _quoted(value: str) -> str:
    return f'"{value}"' if "," in value or '"' in value else value


def false_drift(report: Path) -> tuple[int, int]:
    """(drift events, those with no photo of a drifted visit): the sample's P003 month 6 was
    taken with another camera body and settings, rotated and tilted, so events on its copies
    are true; any other event is a false alarm."""
    with open(report / "drift.csv", newline="") as handle:
        events = list(csv.DictReader(handle))
    false = [e for e in events if "P003-" not in e["photos"] or "/month-6/" not in e["photos"]]
    return len(events), len(false)


_MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(done.stderr)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
print(done.returncode)
sys.stdout.write(done.stdout)
"""


def run_audit(archive: Path, ledger: Path, workers: int, report: Path | None = None) -> dict:
    """One ``photostation audit`` process (in a wrapper process of its own, so that the peak
    resident set of the audit and its workers is this run's alone); its wall time, JSON
    summary and peak memory."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURED] + CLI +
                          ["audit", str(archive), "--db", str(ledger), "--workers", str(workers), "--json"]
                          + (["--report", str(report)] if report else []),
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    usage, code, output = done.stdout.split("\n", 2)
    peak_kib, cpu_s = usage.split()
    if int(code) not in (0, 1):
        raise SystemExit(f"audit failed ({code}): {done.stderr.strip()}")
    return {"seconds": seconds, "summary": json.loads(output), "peak_rss_mib": int(peak_kib) / 1024,
            "cpu_s": float(cpu_s)}


def main(argv: list[str] | None = None) -> int:
    p = benchmark_parser(__doc__.splitlines()[0], ROOT / "benchmarks" / "results" / "audit.json",
                         quick="2 copies of the sample patients instead of 4", jobs="(unused: 1 and 2 workers are run)",
                         keep=False)
    p.add_argument("--patients", type=int, help="copies of the sample's 3 patients (default 4, --quick 2)")
    args = p.parse_args(argv)
    copies = args.patients or (2 if args.quick else 4)
    with tempfile.TemporaryDirectory(prefix="photostation-audit-") as tmp:
        work = Path(tmp)
        photos = build_archive(work / "archive", copies, args.seed)
        big = work / "archive-x2"
        build_archive(big, 2 * copies, args.seed + 1)
        print(f"audit benchmark: {photos} photos ({3 * copies} patients); twice as large: {2 * photos}")
        one = run_audit(work / "archive", work / "one.db", 1)
        two = run_audit(work / "archive", work / "two.db", 2, report=work / "report")
        events, false = false_drift(work / "report")
        again = run_audit(work / "archive", work / "two.db", 2)
        double = run_audit(big, work / "big.db", 2)
    results = {
        "photos": photos, "pairs": one["summary"]["pairs"], "copies": copies,
        "first_run_1_worker_s": round(one["seconds"], 1), "first_run_2_workers_s": round(two["seconds"], 1),
        "photos_per_s_1_worker": round(photos / one["seconds"], 3),
        "photos_per_s_per_core_2_workers": round(photos / two["seconds"] / 2, 3),
        "speedup_1_to_2": round(one["seconds"] / two["seconds"], 2),
        "rerun_s": round(again["seconds"], 2), "rerun_share_pct": round(100 * again["seconds"] / two["seconds"], 2),
        "rerun_compared": again["summary"]["pairs_compared"], "rerun_checked": again["summary"]["photos_checked"],
        "peak_rss_mib": two["peak_rss_mib"], "peak_rss_mib_twice_as_large": double["peak_rss_mib"],
        "double_run_s": round(double["seconds"], 1),
        "cores_used_1_worker": round(one["cpu_s"] / one["seconds"], 2),
        "cores_used_2_workers": round(two["cpu_s"] / two["seconds"], 2),
        "photos_per_cpu_s_1_worker": round(photos / one["cpu_s"], 3),
        "photos_per_cpu_s_2_workers": round(photos / two["cpu_s"], 3),
        "drift_events": events, "false_drift_events": false, "cohort": two["summary"]["cohort"],
    }
    print(f"\n{'measure':<46}{'value':>12}  target")
    print("-" * 72)
    r = results
    rows = [
        ("first run, 1 worker (s)", f"{r['first_run_1_worker_s']:.1f}", ""),
        ("first run, 2 workers (s)", f"{r['first_run_2_workers_s']:.1f}", ""),
        ("photos per second, 1 worker", f"{r['photos_per_s_1_worker']:.3f}", ""),
        ("photos per second per core, 2 workers", f"{r['photos_per_s_per_core_2_workers']:.3f}", ""),
        ("cores busy on average, 1 / 2 workers", f"{r['cores_used_1_worker']:.2f} / {r['cores_used_2_workers']:.2f}",
         ""),
        ("photos per CPU-second, 1 / 2 workers",
         f"{r['photos_per_cpu_s_1_worker']:.3f} / {r['photos_per_cpu_s_2_workers']:.3f}", "equal"),
        ("speed-up 1 -> 2 workers", f"{r['speedup_1_to_2']:.2f}x", "near 2x"),
        ("re-run of the unchanged archive (s)", f"{r['rerun_s']:.2f}", ""),
        ("re-run / first run (2 workers)", f"{r['rerun_share_pct']:.1f} %", "< 5 %"),
        ("pairs compared / photos checked on re-run", f"{r['rerun_compared']} / {r['rerun_checked']}", "0 / 0"),
        ("peak memory, archive, 2 workers (MiB)", f"{r['peak_rss_mib']:.0f}", ""),
        (f"peak memory, twice as large, {2 * photos} photos (MiB)", f"{r['peak_rss_mib_twice_as_large']:.0f}",
         "flat"),
        ("drift events (all)", f"{events}", ""),
        ("drift events on photos that did not drift", f"{false}", "0"),
    ]
    for name, value, target in rows:
        print(f"{name:<46}{value:>12}  {target}")
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
