"""Text rendering with the lynx browser, as Nemotron-CC-Math renders pages before its LLM cleanup.

The command line is NeMo Curator's `LynxExtractor` (RECIPES.md §2.1): a wide dump with no link
list, UTF-8 in and out, no network access. lynx is the Debian package `lynx`, not a Python
dependency: it is looked up when a stage asks for it, and a config that asks for it on a machine
without it stops with a message naming the field (see `require_lynx`).
"""

from __future__ import annotations

import shutil
import subprocess

# NeMo Curator LynxExtractor: `lynx -dump -stdin -nolist -width=10000 ... -localhost -force_html`.
LYNX_ARGS = (
    "-dump",
    "-stdin",
    "-nolist",
    "-width=10000",
    "-assume_charset=utf-8",
    "-display_charset=utf-8",
    "-localhost",
    "-force_html",
    "-noreferer",
    "-nostatus",
)
TIMEOUT_S = 20.0  # Curator's per-page limit


class LynxMissing(ValueError):
    """lynx was asked for and is not installed."""


def lynx_path() -> str | None:
    """The lynx executable on PATH, or None."""
    return shutil.which("lynx")


def require_lynx() -> str:
    """The lynx executable; raises LynxMissing with the install hint when there is none."""
    path = lynx_path()
    if path is None:
        raise LynxMissing(
            "lynx is not installed (Debian/Ubuntu: `apt-get install -y lynx`); "
            "choose another extractor or install it on every worker"
        )
    return path


class LynxRenderer:
    """Renders HTML to text with `lynx -dump`, one subprocess per page."""

    def __init__(self, timeout_s: float = TIMEOUT_S):
        self.executable = require_lynx()
        self.timeout_s = timeout_s

    def __call__(self, html: str) -> str:
        """The page as lynx shows it; raises TimeoutError or RuntimeError on a failed render."""
        # An XML declaration makes lynx treat the page as XML and show the markup (Curator strips it).
        if html.lstrip().startswith("<?xml"):
            html = html[html.find("?>") + 2 :]
        try:
            done = subprocess.run(
                [self.executable, *LYNX_ARGS],
                input=html.encode("utf-8", "surrogatepass"),
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"lynx took over {self.timeout_s} s") from None
        if done.returncode != 0:
            raise RuntimeError(f"lynx exited {done.returncode}: {done.stderr[-200:]!r}")
        return done.stdout.decode("utf-8", "replace")
