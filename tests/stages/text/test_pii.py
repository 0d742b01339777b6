"""PII normalisation: e-mails and public IPs replaced as datatrove's PIIFormatter does; private IPs kept."""

from datatrove.pipeline.formatters import PIIFormatter

from corpusforge.core.document import Document
from corpusforge.stages.text.pii import PiiNormalize

TEXT = (
    "Write to jane.doe@mail.co.uk or admin@[192.168.0.1]. Our server 8.8.8.8 and 1.1.1.1 answer; "
    "the router 192.168.1.1, loopback 127.0.0.1 and 10.0.0.7 stay. Version 1.2 ships at 12:30:45."
)


def _normalize(text: str, **settings) -> tuple[str, dict]:
    stage = PiiNormalize(**settings)
    (doc,) = stage.run([Document("d", text)])
    return doc.text, stage.ledger.extra


def test_matches_datatrove_pii_formatter():
    ours, extra = _normalize(TEXT, remove_ipv6=False)
    assert ours == PIIFormatter().format(TEXT)
    assert "email@example.com" in ours and "firstname.lastname@example.org" in ours
    assert "22.214.171.124" in ours and "126.96.36.199" in ours
    assert "192.168.1.1" in ours and "127.0.0.1" in ours and "10.0.0.7" in ours and "12:30:45" in ours
    assert extra == {"emails_replaced": 2, "ipv4_replaced": 2, "docs_changed": 1}


def test_public_ipv6_is_replaced_private_kept():
    text = "Reach us at 2a00:1450:4001:81c::200e; fe80::1 and ::1 are local; the ratio is 3:4:5."
    out, extra = _normalize(text)
    assert out == "Reach us at 2001:db8::1; fe80::1 and ::1 are local; the ratio is 3:4:5."
    assert extra["ipv6_replaced"] == 1


def test_replacements_restart_per_document():
    stage = PiiNormalize()
    docs = [Document(str(i), "mail a@example.net now") for i in range(3)]
    assert {d.text for d in stage.run(docs)} == {"mail email@example.com now"}
    assert stage.ledger.extra["emails_replaced"] == 3 and stage.ledger.balanced


def test_all_ips_when_not_public_only_and_switches():
    out, _ = _normalize("router 192.168.1.1", only_remove_public_ips=False)
    assert out == "router 22.214.171.124"
    text = "a@b.org at 8.8.8.8"
    assert _normalize(text, remove_emails=False, remove_ips=False)[0] == text
