"""License classification on real license texts (the venv's wheels), the keep/drop rule, the filter stage."""

from __future__ import annotations

from importlib import metadata

import pytest

from corpusforge.core.document import Document
from corpusforge.samples.code import _license_files
from corpusforge.stages.code import licenses
from corpusforge.stages.code.license_filter import LicenseFilter


def _text(dist: str, name_part: str = "") -> str:
    files = [f for f in _license_files(metadata.distribution(dist)) if name_part.upper() in f.name.upper()]
    return files[0].read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize(
    "dist,part,expected",
    [
        ("six", "", ["MIT"]),
        ("markupsafe", "", ["BSD-3-Clause"]),
        ("sniffio", "APACHE", ["Apache-2.0"]),
        ("sniffio", "LICENSE.MIT", ["MIT"]),
        ("certifi", "", ["MPL-2.0"]),
        ("python-daemon", "GPL", ["GPL-3.0-only"]),
        ("python-daemon", "ASF", ["Apache-2.0"]),
        ("tld", "LGPL", ["LGPL-2.1-only"]),
        ("defusedxml", "", ["PSF-2.0"]),
    ],
)
def test_real_license_texts_are_classified(dist, part, expected):
    assert licenses.classify(_text(dist, part)) == expected


def test_notices_and_or_later():
    assert licenses.classify('Licensed under the Apache License, Version 2.0 (the "License")') == ["Apache-2.0"]
    notice = (
        "This library is free software; you can redistribute it and/or modify it under the terms of the GNU "
        "Lesser General Public License as published by the Free Software Foundation; either version 2.1 of "
        "the License, or (at your option) any later version."
    )
    assert licenses.classify(notice) == ["LGPL-2.1-or-later"]
    assert licenses.classify("tld is licensed under the GPL 2.0 or the LGPL 2.1 or the MPL 1.1, at your option") == [
        "GPL-2.0-only",
        "LGPL-2.1-only",
        "MPL-1.1",
    ]
    assert licenses.classify("Copyright 2020 nobody in particular") == []


def test_decision_is_the_stack_v2_rule():
    assert licenses.decide([]) == ("no_license", None)
    assert licenses.decide(["MIT", "Apache-2.0"]) == ("permissive", None)
    assert licenses.decide(["MIT", "GPL-3.0-only"]) == ("non_permissive", "GPL-3.0-only")
    assert licenses.decide(["Unlicense"]) == ("permissive", None)
    assert licenses.decide(["LicenseRef-proprietary"])[0] == "non_permissive"
    assert licenses.spdx_ids("(MIT OR Apache-2.0) AND GPL-2.0-or-later WITH Classpath-exception-2.0") == [
        "Apache-2.0",
        "GPL-2.0-or-later",
        "MIT",
    ]


def test_license_filter_drops_by_license_and_counts():
    docs = [
        Document("a", "x", "code", {"license": "MIT"}),
        Document("b", "x", "code", {}),
        Document("c", "x", "code", {"license": "MIT AND GPL-2.0-only"}),
        Document("d", "x", "code", {"license": "LicenseRef-proprietary"}),
    ]
    stage = LicenseFilter()
    kept = [d.id for d in stage.run(docs)]
    assert kept == ["a", "b"]
    assert dict(stage.ledger.dropped) == {"non_permissive:GPL-2.0-only": 1, "non_permissive:LicenseRef-proprietary": 1}
    assert stage.ledger.extra["licenses"]["no license"] == 1 and stage.ledger.balanced


def test_category_table_agrees_with_scancode_license_db():
    """Every id this module knows is permissive exactly when ScanCode's own category says so."""
    pytest.importorskip("licensedcode")
    from licensedcode.models import load_licenses

    by_spdx = {lic.spdx_license_key: lic for lic in load_licenses().values() if lic.spdx_license_key}
    checked = 0
    for spdx, ours in licenses.CATEGORIES.items():
        lic = by_spdx.get(spdx) or by_spdx.get(f"{spdx}-only")
        if lic is None:
            continue
        theirs_keep = lic.category in ("Permissive", "Public Domain")
        assert (ours in licenses.KEEP_CATEGORIES) == theirs_keep, (spdx, lic.category)
        checked += 1
    assert checked >= 20


@pytest.mark.slow
def test_fast_detector_agrees_with_scancode_on_the_sample(tmp_path):
    """The keep/drop decision of the fast detector against ScanCode's on every license file of the sample.

    The issue's target is 98%; measured is 16 of 17 (benchmarks/reference/code_pipeline.json). The one
    disagreement is ScanCode reading the PSF license's history ("previously distributed under the GNU General
    Public License") as GPL-1.0-or-later, which would drop every PSF-licensed file.
    """
    from corpusforge.samples.code import write_code_sample
    from corpusforge.stages.code.scancode import available, scancode_licenses

    if not available():
        pytest.skip("scancode-toolkit is not installed (pip install corpusforge[license])")
    write_code_sample(str(tmp_path))
    files = [
        p
        for p in sorted((tmp_path / "repos").rglob("*"))
        if p.is_file() and ".git" not in p.parts[-3:] and licenses.is_license_file(p.name)
    ]
    assert len(files) >= 15
    disagree = []
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        if licenses.decide(licenses.classify(text))[0] != licenses.decide(scancode_licenses(text))[0]:
            disagree.append(p.relative_to(tmp_path / "repos").as_posix())
    assert disagree == ["typing-extensions/LICENSE"]
