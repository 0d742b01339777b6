"""ScanCode Toolkit as the license detector: the reference The Stack v2 used (optional, heavy).

`pip install scancode-toolkit` (with pluggy < 1.7, whose hook discovery its plugin system predates).
Its license index loads once per process (about 10 s); each license text then takes well under a second.

`scancode_decision` is The Stack v2's keep/drop rule read the way ScanCode itself reads its output:
detections only (a match ScanCode files as a license clue has no license expression and is not one),
each license key judged by ScanCode's own category (Permissive and Public Domain are kept; StarCoder2
appendix A.4), an `A OR B` expression permissive when either side is (the licensee's choice, per SPDX),
an exception (`WITH`) judged by its license, and "Unstated License" references ("See LICENSE") ignored,
since they point at another license file, which is judged on its own.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from corpusforge.stages.code.licenses import spdx_ids

Decision = Literal["permissive", "no_license", "non_permissive"]
_KEEP = ("Permissive", "Public Domain")
_POINTER = "Unstated License"


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """True when scancode-toolkit imports and its index loads."""
    try:
        from licensedcode.cache import get_index

        get_index()
        return True
    except Exception:
        return False


def _detections(text: str) -> list[Any]:
    from licensedcode.cache import get_index
    from licensedcode.detection import detect_licenses

    return [d for d in detect_licenses(index=get_index(), query_string=text) if d.license_expression]


def scancode_licenses(text: str) -> list[str]:
    """SPDX ids ScanCode detects in a license text, sorted (its `LicenseRef-scancode-*` ids included)."""
    ids: set[str] = set()
    for detection in _detections(text):
        ids.update(spdx_ids(getattr(detection, "license_expression_spdx", None) or ""))
    return sorted(ids)


def _keep(node: Any, categories: dict[str, str]) -> bool | None:
    """True: permissive; False: not; None: only pointers to another license file."""
    from license_expression import AND, OR, LicenseSymbol, LicenseWithExceptionSymbol

    if isinstance(node, LicenseWithExceptionSymbol):
        return _keep(node.license_symbol, categories)
    if isinstance(node, LicenseSymbol):
        category = categories.get(node.key, "")
        return None if category == _POINTER else category in _KEEP
    values = [v for v in (_keep(arg, categories) for arg in node.args) if v is not None]
    if not values:
        return None
    if isinstance(node, OR):
        return any(values)
    if isinstance(node, AND):
        return all(values)
    raise ValueError(f"unexpected license expression node {node!r}")


def scancode_decision(text: str) -> tuple[Decision, list[str]]:
    """The Stack v2 decision on ScanCode's detections and ScanCode's categories, and the SPDX ids detected."""
    from licensedcode.cache import get_licenses_db, get_licensing

    categories = {key: lic.category or "" for key, lic in get_licenses_db().items()}
    licensing = get_licensing()
    ids: set[str] = set()
    verdicts = []
    for detection in _detections(text):
        ids.update(spdx_ids(getattr(detection, "license_expression_spdx", None) or ""))
        verdicts.append(_keep(licensing.parse(detection.license_expression), categories))
    judged = [v for v in verdicts if v is not None]
    if not judged:
        return "no_license", sorted(ids)
    return ("permissive" if all(judged) else "non_permissive"), sorted(ids)
