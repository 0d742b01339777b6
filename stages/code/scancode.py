"""ScanCode Toolkit as the license detector: the reference The Stack v2 used (optional, heavy).

`pip install scancode-toolkit` (with pluggy < 1.7, whose hook discovery its plugin system predates).
Its license index loads once per process (about 10 s); each license text then takes well under a second.
"""

from __future__ import annotations

import functools

from corpusforge.stages.code.licenses import spdx_ids


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """True when scancode-toolkit imports and its index loads."""
    try:
        from licensedcode.cache import get_index

        get_index()
        return True
    except Exception:
        return False


def scancode_licenses(text: str) -> list[str]:
    """SPDX ids ScanCode detects in a license text, sorted (its `LicenseRef-scancode-*` ids included)."""
    from licensedcode.cache import get_index
    from licensedcode.detection import detect_licenses

    index = get_index()
    ids: set[str] = set()
    for detection in detect_licenses(index=index, query_string=text):
        expression = getattr(detection, "license_expression_spdx", None) or ""
        ids.update(spdx_ids(expression))
    return sorted(ids)
