"""License files: which names are candidates, which SPDX licenses a text holds, and which are permissive.

The Stack v2 (StarCoder2 paper, section 2.1 and appendix A.3/A.4) finds candidate license files by
name, runs ScanCode on them, gives the licenses found to every file under the license file's
folder, and keeps a file only when every license found is permissive (Blue Oak Council approved,
or ScanCode's "Permissive" / "Public Domain" categories) or when none is found. This module is the
fast default: each license is recognised by the phrases its text cannot do without, on a
normalised copy of the text (lower case, markup and punctuation gone, whitespace collapsed).
ScanCode stays the reference: `benchmarks/code_pipeline.py` and the tests measure agreement.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Literal

# Candidate license files by name, after The Stack v2's rule (appendix A.3): LICENSE/LICENCE/COPYING and
# their variants (LICENSE-MIT, LICENSE.APACHE2, COPYING.LESSER; never a source or data file such as
# license.py), files named after a license (MIT.txt, Apache2.0, apache-2.0.LICENSE), NOTICE, COPYRIGHT,
# LEGAL, PATENTS, README and GUIDELINES files.
LICENSE_FILE_PATTERN = (
    r"(?i)^(?!.*\.(?:py|pyi|js|ts|go|rs|java|c|h|cc|cpp|hpp|rb|php|cs|json|ya?ml|toml|xml|html?|css|sh)$)(?:"
    r"(?:un)?licen[cs]es?(?:[-_. ].*)?"
    r"|copying(?:[-_. ].*)?|copyright(?:[-_. ].*)?|notice(?:[-_. ].*)?|legal(?:[-_. ].*)?|patents(?:[-_. ].*)?"
    r"|readme(?:[-_. ].*)?|guidelines(?:[-_. ].*)?"
    r"|(?:mit|apache|bsd|gpl|lgpl|agpl|mpl|epl|isc|zlib|cc0|unlicense|wtfpl|artistic|bsl|psf)"
    r"(?:[-_.]?v?[0-9][0-9.]*)?(?:[-_.](?:licen[cs]e|txt|md|rst|html))*"
    r"|.+\.licen[cs]e"
    r")$"
)
_LICENSE_FILE = re.compile(LICENSE_FILE_PATTERN)


def is_license_file(name: str, pattern: re.Pattern = _LICENSE_FILE) -> bool:
    """True when a file's base name makes it a license candidate (The Stack v2's naming rule)."""
    return bool(pattern.match(name.rsplit("/", 1)[-1]))


def normalise(text: str) -> str:
    """Lower case, markup and punctuation as spaces, whitespace collapsed: what the phrases match."""
    text = text.lower().replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = re.sub(r"[^a-z0-9'.+]+", " ", text)
    text = re.sub(r"\.(?!\d)", " ", text)  # keep version dots (2.0), drop sentence dots
    return " ".join(text.split())


def _any(*phrases: str) -> re.Pattern:
    return re.compile("|".join(phrases))


# One entry per license: (SPDX id, phrases that must all occur, phrases that must not). Phrases are
# regexes over `normalise(text)`. Order does not matter: every license whose phrases match is reported,
# except where a more specific id excludes a more general one (`excluded_by`).
_MIT_GRANT = r"permission is hereby granted free of charge to any person obtaining a copy"
_MIT_NOTICE = r"the above copyright notice and this permission notice shall be included"
_BSD_REDIST = r"redistribution and use in source and binary forms with or without modification are permitted"
_BSD_NAME = r"neither the name|the names? of (?:the )?(?:\w+ ){0,8}(?:may|must) not be used to endorse"
_ISC_GRANT = r"permission to use copy modify and ?/?(?:or )?distribute this software for any purpose"
_NCSA_DEAL = r"to deal with the software without restriction"
_KUHN = r"for any purpose and without fee is hereby granted the author disclaims all warranties"
_GPL_OR_LATER = r"or at your option any later version"
_FSF = r"version |as published by the free software foundation (?:either )?version "

RULES: list[tuple[str, list[str], list[str]]] = [
    ("MIT", [_MIT_GRANT, _MIT_NOTICE], []),
    # The license's name as a reference ("is MIT-licensed", "under the MIT License"), as ScanCode's reference rules.
    ("MIT", [r"\bmit licen[cs]ed?\b"], []),
    # NCSA grants "to deal with the Software" where MIT says "to deal in the Software", and names its disclaimers.
    ("MIT-0", [_MIT_GRANT], [_MIT_NOTICE, _NCSA_DEAL]),
    ("NCSA", [_MIT_GRANT, _NCSA_DEAL], []),
    ("NCSA", [r"university of illinois ncsa open source license"], []),
    ("BSD-3-Clause", [_BSD_REDIST, _BSD_NAME], [r"all advertising materials mentioning"]),
    ("BSD-2-Clause", [_BSD_REDIST], [_BSD_NAME, r"all advertising materials mentioning"]),
    ("BSD-4-Clause", [_BSD_REDIST, r"all advertising materials mentioning"], []),
    (
        "Apache-2.0",
        [
            r"apache license version 2[. ]?0|apache license 2[. ]?0|www apache org licenses license 2[. ]?0|"
            r"includes software developed at the apache software foundation|"
            r"made available under the terms of either of the licenses found in license apache|"
            # the license's own heading (copies that lack the title), and the name as a reference ("Apache 2.0")
            r"terms and conditions for use reproduction and distribution|\bapache (?:license )?v?2[. ]?0\b"
        ],
        [],
    ),
    # The dual-license notice of PyPA projects (packaging, sniffio, ...): ScanCode's rule for it reads
    # Apache-2.0 and BSD-3-Clause, whichever second file it names.
    ("BSD-3-Clause", [r"made available under the terms of either of the licenses found in license apache"], []),
    ("ISC", [_ISC_GRANT, r"provided that the above copyright notice and this permission notice appear"], []),
    ("0BSD", [_ISC_GRANT], [r"provided that the above copyright notice", _KUHN]),
    ("HPND-Markus-Kuhn", [_KUHN], []),
    ("Zlib", [r"altered source versions must be plainly marked as such"], []),
    ("BSL-1.0", [r"boost software license version 1[. ]?0"], []),
    (
        "PSF-2.0",
        [
            r"python software foundation license version 2|psf license agreement|"
            r"this license agreement is between the python software foundation"
        ],
        [],
    ),
    ("Unlicense", [r"this is free and unencumbered software released into the public domain"], []),
    (
        "CC0-1.0",
        [
            r"cc0 1[. ]?0 universal|creative commons legal code cc0|"
            r"dedicated all copyright and related and neighbou?ring rights to this software to the public domain"
        ],
        [],
    ),
    ("CC-BY-4.0", [r"creative commons attribution 4[. ]?0 international"], [r"noncommercial|noderivatives|sharealike"]),
    ("WTFPL", [r"do what the fuck you want to public license"], []),
    ("Artistic-2.0", [r"the artistic license 2[. ]?0"], []),
    ("Artistic-1.0", [r"the artistic license"], [r"the artistic license 2[. ]?0"]),
    # The GPL-3.0 text names the AGPL in its section 13, so only the AGPL's own title or grant counts.
    (
        "AGPL-3.0",
        [
            r"gnu affero general public license version 3|"
            r"under the terms of the gnu affero general public license"
        ],
        [],
    ),
    # The license's own title, or the standard notice ("... as published by the Free Software Foundation,
    # either version 3 of the License").
    ("LGPL-3.0", [rf"gnu lesser general public license (?:{_FSF})?3"], []),
    ("LGPL-2.1", [rf"gnu lesser general public license (?:{_FSF})?2[. ]?1"], []),
    ("LGPL-2.0", [rf"gnu library general public license (?:{_FSF})?2"], []),
    ("GPL-3.0", [rf"gnu general public license (?:{_FSF})?3|gnu general public license v3"], []),
    ("GPL-2.0", [rf"gnu general public license (?:{_FSF})?2|gnu general public license v2"], []),
    ("GPL-1.0", [rf"gnu general public license (?:{_FSF})?1\b"], []),
    ("MPL-2.0", [r"mozilla public license version 2[. ]?0|mozilla public license v ?2[. ]?0|mpl 2[. ]?0"], []),
    ("MPL-1.1", [r"mozilla public license version 1[. ]?1"], []),
    ("EPL-2.0", [r"eclipse public license v(?:ersion)? ?2[. ]?0"], []),
    ("EPL-1.0", [r"eclipse public license v(?:ersion)? ?1[. ]?0"], []),
    ("CDDL-1.0", [r"common development and distribution license"], []),
    ("OFL-1.1", [r"sil open font license"], []),
    # Short references in notices ("licensed under the GPL 2.0 or the LGPL 2.1 or the MPL 1.1"), as ScanCode's
    # reference rules read them; the -only/-or-later suffix follows the notice ("GPLv2+" is -or-later).
    # The LLVM exception to Apache-2.0 names GPLv2 only to grant compatibility with it.
    (
        "GPL-2.0",
        [r"\bgpl ?v?2(?:[. ]?0)?\b(?![.\d])(?! ?\+)(?! or later)"],
        [r"llvm exceptions to the apache 2[. ]?0 license"],
    ),
    ("LGPL-2.1", [r"\blgpl ?v?2[. ]?1\b"], []),
    ("MPL-1.1", [r"\bmpl ?v?1[. ]?1\b"], []),
    # The name without a version ("(GPL license)" in a list of bundled tools): ScanCode reads the GPL as
    # GPL-1.0-or-later and the LGPL as LGPL-2.0-or-later, the earliest versions, which any later one allows.
    ("GPL-1.0-or-later", [r"\bgpl licen[cs]e\b"], []),
    ("LGPL-2.0-or-later", [r"\blgpl licen[cs]e\b"], []),
    (
        "LicenseRef-proprietary",
        [
            r"proprietary and confidential|unauthorized copying of this file via any medium|"
            r"end user license agreement eula"
        ],
        [],
    ),
]
_COMPILED = [(spdx, [re.compile(p) for p in need], [re.compile(p) for p in avoid]) for spdx, need, avoid in RULES]
# The GNU family: the full text's own "how to apply" appendix says "or (at your option) any later
# version", so -only/-or-later is read from a notice, never from the license text itself.
_GNU = ("AGPL-3.0", "LGPL-3.0", "LGPL-2.1", "LGPL-2.0", "GPL-3.0", "GPL-2.0", "GPL-1.0")
_GNU_FULL_TEXT = re.compile(
    r"terms and conditions for copying distribution and modification|"
    r"everyone is permitted to copy and distribute verbatim copies"
)
# A text that embeds the GPL/LGPL in another license's notice does not make it GPL-licensed: the LGPL's
# own text refers to the GPL ("version 3 of the GNU General Public License"), so a lesser match hides it.
_EXCLUDED_BY = {"GPL-3.0": ("LGPL-3.0",), "GPL-2.0": ("LGPL-2.1", "LGPL-2.0")}
_LESSER_FULL_TEXT = re.compile(
    r"gnu (?:lesser|library) general public license version [23](?:[. ]?[01])? "
    r"(?:february 1999|june 1991|29 june 2007)"
)
_GPL_SHORT = re.compile(r"\bgpl ?v?[23]")

# ScanCode's categories for the ids above (its license DB): Permissive and Public Domain are kept
# (The Stack v2, appendix A.4, with the Blue Oak Council list); copyleft in every strength and
# commercial/proprietary licenses are dropped.
Category = Literal["permissive", "public-domain", "copyleft", "copyleft-limited", "commercial", "unknown"]
CATEGORIES: dict[str, Category] = {
    "MIT": "permissive",
    "MIT-0": "permissive",
    "BSD-2-Clause": "permissive",
    "BSD-3-Clause": "permissive",
    "BSD-4-Clause": "permissive",
    "Apache-2.0": "permissive",
    "ISC": "permissive",
    "0BSD": "permissive",
    "NCSA": "permissive",
    "HPND-Markus-Kuhn": "permissive",
    "CC-BY-4.0": "permissive",
    "Zlib": "permissive",
    "BSL-1.0": "permissive",
    "PSF-2.0": "permissive",
    "Python-2.0": "permissive",
    "Unlicense": "public-domain",
    "CC0-1.0": "public-domain",
    "WTFPL": "public-domain",
    "Artistic-2.0": "copyleft-limited",
    "Artistic-1.0": "copyleft-limited",
    "MPL-2.0": "copyleft-limited",
    "MPL-1.1": "copyleft-limited",
    "EPL-2.0": "copyleft-limited",
    "EPL-1.0": "copyleft-limited",
    "CDDL-1.0": "copyleft-limited",
    "OFL-1.1": "copyleft-limited",
    "LGPL-3.0": "copyleft-limited",
    "LGPL-2.1": "copyleft-limited",
    "LGPL-2.0": "copyleft-limited",
    "GPL-3.0": "copyleft",
    "GPL-2.0": "copyleft",
    "GPL-1.0": "copyleft",
    "AGPL-3.0": "copyleft",
    "LicenseRef-proprietary": "commercial",
}
KEEP_CATEGORIES = frozenset({"permissive", "public-domain"})


def base_id(spdx: str) -> str:
    """The id without its -only / -or-later / + suffix (the key of CATEGORIES)."""
    return re.sub(r"(?:-only|-or-later|\+)$", "", spdx)


def category(spdx: str) -> Category:
    """ScanCode-style category of an SPDX id. An id this module does not list (ScanCode's own
    `LicenseRef-scancode-*` ids, a dataset's `detected_licenses`) takes ScanCode's category where ScanCode is
    installed, so the ScanCode detector's finds are judged as ScanCode files them; else it is `unknown`."""
    known = CATEGORIES.get(base_id(spdx))
    if known is not None:
        return known
    return _scancode_categories().get(spdx.lower(), "unknown")


_SCANCODE_CATEGORY: dict[str, Category] = {
    "Permissive": "permissive",
    "Public Domain": "public-domain",
    "Copyleft": "copyleft",
    "Copyleft Limited": "copyleft-limited",
    "Commercial": "commercial",
}


@functools.lru_cache(maxsize=1)
def _scancode_categories() -> dict[str, Category]:
    """SPDX id (lower case) -> category, from ScanCode's license database; empty without ScanCode."""
    try:
        from licensedcode.cache import get_licenses_db
    except ImportError:
        return {}
    out: dict[str, Category] = {}
    for lic in get_licenses_db().values():
        keys = [lic.spdx_license_key, *(lic.other_spdx_license_keys or [])]
        for key in filter(None, keys):
            out[key.lower()] = _SCANCODE_CATEGORY.get(lic.category or "", "unknown")
    return out


# SPDX-License-Identifier tags (ScanCode's spdx-id matcher reads them) and "License: <id>" metadata lines (README
# front matter, package headers). Only ids this module knows count: free text follows "License:" too.
_SPDX_TAG = re.compile(r"(?im)^[\W_]*spdx-license-identifier\s*:\s*(.+?)\s*(?:\*/|-->)?\s*$")
_LICENSE_FIELD = re.compile(
    r"(?im)^[\W_]*licen[cs]e\s*:\s*([A-Za-z0-9.+-]+(?:\s+(?:OR|AND|WITH)\s+[A-Za-z0-9.+-]+)*)\s*$"
)
_KNOWN = {k.lower(): k for k in CATEGORIES}


def _tagged(text: str) -> set[str]:
    """Known SPDX ids named by identifier tags or license fields, with the GNU -only/-or-later suffix."""
    out = set()
    for pattern in (_SPDX_TAG, _LICENSE_FIELD):
        for m in pattern.finditer(text):
            for spdx in spdx_ids(m.group(1)):
                base = base_id(spdx)
                known = _KNOWN.get(base.lower())
                if known is None:
                    continue
                if known in _GNU:
                    known += "-or-later" if spdx[len(base) :] in ("+", "-or-later") else "-only"
                out.add(known)
    return out


def classify(text: str) -> list[str]:
    """The SPDX ids of the licenses a license file's text holds, sorted (empty: none recognised)."""
    norm = normalise(text[:200_000])
    found = {
        spdx
        for spdx, need, avoid in _COMPILED
        if all(p.search(norm) for p in need) and not any(p.search(norm) for p in avoid)
    }
    if _LESSER_FULL_TEXT.search(norm) and not _GPL_SHORT.search(norm):
        for general, specifics in _EXCLUDED_BY.items():
            if general in found and any(x in found for x in specifics):
                found.discard(general)
    out = set()
    for spdx in found:
        if spdx in _GNU:
            # The whole license text is the license itself (-only); a notice that grants "any later
            # version" without the text is -or-later.
            later = bool(re.search(_GPL_OR_LATER, norm)) and not _GNU_FULL_TEXT.search(norm)
            spdx += "-or-later" if later else "-only"
        out.add(spdx)
    return sorted(out | _tagged(text[:200_000]))


def decide(licenses: Iterable[str]) -> tuple[Literal["permissive", "no_license", "non_permissive"], str | None]:
    """The Stack v2 decision (paper Fig. 1): no license found, all permissive, or the first non-permissive id."""
    ids = sorted(set(licenses))
    if not ids:
        return "no_license", None
    for spdx in ids:
        if category(spdx) not in KEEP_CATEGORIES:
            return "non_permissive", spdx
    return "permissive", None


def spdx_ids(expression: str | None) -> list[str]:
    """The ids of an SPDX expression ("MIT OR Apache-2.0", "GPL-2.0-or-later WITH X"), sorted."""
    if not expression:
        return []
    tokens = re.split(r"[()\s]+", expression)
    ids, skip = set(), False
    for tok in tokens:
        if not tok:
            continue
        if tok.upper() in ("AND", "OR"):
            continue
        if tok.upper() == "WITH":
            skip = True
            continue
        if skip:
            skip = False
            continue
        ids.add(tok)
    return sorted(ids)
