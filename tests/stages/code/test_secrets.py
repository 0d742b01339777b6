"""Secrets redaction on the sample's planted repository: every planted secret goes, every look-alike stays."""

from __future__ import annotations

import json

import pytest

from corpusforge.core.document import Document
from corpusforge.samples.code import write_code_sample
from corpusforge.stages.code.secrets import IPV4_REPLACEMENTS, CodeSecrets

FILES = ["acme/settings.py", "deploy/id_rsa_deploy.py", "acme/checksums.py", "tests/test_login.py"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    out = tmp_path_factory.mktemp("code")
    write_code_sample(str(out))
    acme = out / "repos" / "acme-webapp"
    docs = [Document(f"id-{p}", (acme / p).read_text(), "code", {"path": p}) for p in FILES]
    return json.loads((out / "planted.json").read_text()), docs


def _run(docs, **settings):
    stage = CodeSecrets(**settings)
    out = list(stage.run([Document(d.id, d.text, d.source, dict(d.meta)) for d in docs]))
    return out, stage


def test_planted_secrets_are_redacted_and_look_alikes_kept(planted):
    truth, docs = planted
    out, stage = _run(docs)
    text = "\n".join(d.text for d in out)
    for name, value in truth["secrets"].items():
        needle = value.splitlines()[1] if name == "private_key" else value
        assert needle not in text, name
    for name, value in truth["non_secrets"].items():
        assert value in text, name
    redacted = stage.ledger.extra["secrets_redacted"]
    assert redacted == {
        "AWS Access Key": 1,
        "GitHub Token": 1,
        "Slack Token": 1,
        "JSON Web Token": 1,
        "Private Key Block": 1,
    }
    assert stage.ledger.extra["emails_redacted"] == 1 and stage.ledger.extra["ips_redacted"] == 1
    assert "@example.com" in text and any(ip in text for ip in IPV4_REPLACEMENTS)
    assert "-----BEGIN RSA PRIVATE KEY-----" in text  # the armour stays, the body goes
    assert stage.ledger.balanced and stage.ledger.docs_out == len(docs)


def test_replacements_are_deterministic(planted):
    _, docs = planted
    first, _ = _run(docs)
    second, _ = _run(docs)
    assert [d.text for d in first] == [d.text for d in second]


def test_line_screening_finds_what_scanning_every_line_finds(planted, tmp_path):
    """On every text file of the sample (real packages and the planted repository) the screened scan and the
    full scan make the same redactions."""
    from corpusforge.samples.code import SITE_PACKAGES

    _, docs = planted
    real = [
        Document(f"real-{i}", p.read_text(encoding="utf-8", errors="replace"), "code", {"path": p.name})
        for i, p in enumerate(sorted((SITE_PACKAGES / "idna").glob("*.py")) + [SITE_PACKAGES / "six.py"])
        if p.stat().st_size < 60_000
    ]
    screened, a = _run(docs + real)
    full, b = _run(docs + real, screen_lines=False)
    assert [d.text for d in screened] == [d.text for d in full]
    assert a.ledger.extra == b.ledger.extra
