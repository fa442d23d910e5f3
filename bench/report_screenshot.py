"""Open a Snakemake report (or any HTML page) in headless Chromium with the network cut off,
screenshot it, and check that it rendered.

    .venv/bin/python bench/report_screenshot.py report.html report.png [TEXT ...]

The report is one self-contained HTML file (React app, styles and results inlined), so it must
render offline: every request that would leave the machine goes to a closed port. The page is
checked by its DOM after its scripts ran: the report's app must have filled its empty root and
every TEXT given must be there (default: "Results", the report's navigation). Needs Chromium
(Debian: apt-get install chromium); exits 2 when there is none.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
EMPTY_APP = '<div id="app"></div>'  # Snakemake's report before its scripts ran


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _run(browser: str, report: Path, *extra: str) -> str:
    with tempfile.TemporaryDirectory(prefix="swaplib-chromium-") as profile:
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={profile}",
            # Offline: any request that is not for the file itself fails at once.
            "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--window-size=1400,1000", "--virtual-time-budget=15000",
            *extra, report.resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"{browser} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout


def screenshot(report: Path, png: Path, expect: list[str]) -> str:
    """Screenshot the report into png; return its rendered DOM. Raises when the app did not render."""
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found (looked for " + ", ".join(BROWSERS) + ")")
    dom = _run(browser, report, "--dump-dom")
    missing = [text for text in expect if text not in dom]
    if EMPTY_APP in dom or missing:
        raise RuntimeError(f"{report}: the page did not render offline (missing: {missing or 'the report app'})")
    _run(browser, report, f"--screenshot={png.resolve()}")
    if not png.is_file():
        raise RuntimeError(f"{browser} wrote no screenshot {png}")
    return dom


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    report, png = Path(sys.argv[1]), Path(sys.argv[2])
    try:
        screenshot(report, png, sys.argv[3:] or ["Results"])
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    print(f"{png} ({png.stat().st_size // 1024} KiB): {report} rendered offline")


if __name__ == "__main__":
    main()
