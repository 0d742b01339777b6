"""Keep permissive and unlicensed files, drop copyleft and commercial ones with the license as the reason.

The Stack v2 decision (StarCoder2 paper Fig. 1, appendix A.4): a file is permissive only if every
license found for it is permissive (Blue Oak Council approved, ScanCode's Permissive or Public
Domain categories); a file with no license found is kept as "no license"; anything else goes.
"""

from __future__ import annotations

from corpusforge.core.document import Document
from corpusforge.stages.base import Filter, StageConfig
from corpusforge.stages.code import licenses


class LicenseFilter(Filter):
    """Drops files whose licenses are not all permissive (reason `non_permissive:<SPDX id>`)."""

    type = "license_filter"
    config: Config

    class Config(StageConfig):
        keep_unlicensed: bool = True  # The Stack v2 keeps "no license" files
        # Extra ids to treat as permissive (an organisation's own allow-list), on top of licenses.CATEGORIES.
        also_permissive: list[str] = []

    def reject(self, doc: Document) -> str | None:
        ids = licenses.spdx_ids(doc.meta.get("license"))
        ledger = self.ledger
        for spdx in ids or ["no license"]:
            ledger.histogram("licenses", spdx)
        allowed = set(self.config.also_permissive)
        decision, offending = licenses.decide([i for i in ids if i not in allowed])
        ledger.histogram("license_decision", decision)
        if decision == "no_license" and ids:  # every id was allow-listed
            decision = "permissive"
        if decision == "non_permissive":
            return f"non_permissive:{offending}"
        if decision == "no_license" and not self.config.keep_unlicensed:
            return "no_license"
        return None
