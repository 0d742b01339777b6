"""The secret scanner's pre-checks change nothing: same redactions and counts with them as without them."""

from __future__ import annotations

import random
import string

import pytest

from corpusforge.core.document import Document
from corpusforge.samples.code import SITE_PACKAGES, write_code_sample
from corpusforge.stages.code.secret_prechecks import AsciiViews, may_hold_email, may_hold_ipv4, may_hold_ipv6
from corpusforge.stages.code.secrets import EMAIL, IPV4, IPV6, CodeSecrets, _screens

RNG = random.Random(5)


def _chars(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


HEX, ALNUM = "0123456789abcdef", string.ascii_letters + string.digits
# One line per detect-secrets pattern the pre-checks guard, in several spellings, plus e-mails and IPs.
PLANTED = [
    f'ARTIFACTORY = "AKC{_chars(ALNUM, 40)}"',
    f"artifactory_password: AP6{_chars(ALNUM, 20)}\n",
    f'aws_secret_access_key = "{_chars(ALNUM + "/+", 40)}"',
    f'AWS_TOKEN: "{_chars(ALNUM, 40)}"',
    f'cloudant_api_key = "{_chars(HEX, 64)}"',
    f'CL_PW: "{_chars(HEX.upper(), 64)}"',
    f"clou-password = {_chars(string.ascii_lowercase, 24)}",
    f"url = 'https://admin:{_chars(HEX, 64)}@acme.cloudant.com'",
    f"url = 'https://admin:{_chars(string.ascii_lowercase, 24)}@acme.CLOUDANT.com'",
    f"token = 'M{_chars(ALNUM, 23)}.{_chars(ALNUM, 6)}.{_chars(ALNUM + '_-', 27)}'",
    f'ibm_cloud_iam_api_key = "{_chars(ALNUM + "_-", 44)}"',
    f'IAM_TOKEN := "{_chars(ALNUM, 44)}"',
    f'ibm_cos_hmac_secret_access_key = "{_chars(HEX, 48)}"',
    f"mailchimp = '{_chars(HEX, 32)}-us12'",
    f"slack = 'xoxb-{RNG.randrange(10**11)}-{RNG.randrange(10**11)}-{_chars(ALNUM.lower(), 24)}'",
    f"hook = 'https://hooks.slack.com/services/T{_chars(ALNUM, 8)}/B{_chars(ALNUM, 8)}/{_chars(ALNUM, 24)}'",
    f'softlayer_api_key = "{_chars(HEX + "ghijkl", 64)}"',
    f'SL_TOKEN = "{_chars(ALNUM.lower(), 64)}"',
    f"u = 'https://api.softlayer.com/soap/v3.1/{_chars(HEX, 64)}'",
    f"stripe = 'sk_live_{_chars(ALNUM, 24)}'",
    f"ghp = 'ghp_{_chars(ALNUM, 36)}'",
    f"jwt = 'eyJ{_chars(ALNUM, 20)}.eyJ{_chars(ALNUM, 20)}.{_chars(ALNUM, 20)}'",
    "contact = 'jane.doe@acme-corp.com', 'ops@example.com'",
    "@property\n@pytest.mark.parametrize\nuser@host\n",
    "servers = ['93.184.216.34', '10.0.0.1', '8.8.8.8', '2001:db8:85a3::8a2e:370:7334', 'fe80::1']",
    "version 1.2.3.4 and x[1:2] and a:b:c and 'deadbeef:cafe'",
    "sha256 = '" + _chars(HEX, 64) + "'\nmd5: " + _chars(HEX, 32) + "\n",
]


def _texts() -> list[str]:
    six = (SITE_PACKAGES / "six.py").read_text()
    out = []
    for i, line in enumerate(PLANTED):
        out.append(six[: 2000 * (i % 3)] + "\n" + line + "\n" + six[4000:5000])
        out.append("caf\u00e9 = 1\n" + line)  # non-ASCII: the screens run without pre-checks
        out.append(line.upper())
        out.append("\u212a" + line.lower())  # KELVIN SIGN matches "k" under IGNORECASE
    return out


def _redacted(docs: list[Document], prechecks: bool) -> tuple[list[tuple], dict]:
    stage = CodeSecrets(prechecks=prechecks)
    out = list(stage.run([Document(d.id, d.text, d.source, dict(d.meta)) for d in docs]))
    return [(d.id, d.text, d.annotations) for d in out], dict(stage.ledger.extra)


@pytest.fixture(scope="module")
def sample_docs(tmp_path_factory) -> list[Document]:
    out = tmp_path_factory.mktemp("code")
    write_code_sample(str(out))
    files = sorted(p for p in (out / "repos").rglob("*") if p.is_file() and p.suffix in {".py", ".js", ".c", ".md"})
    return [Document(str(p), p.read_text(encoding="utf-8", errors="replace"), "code", {}) for p in files]


def test_same_redactions_with_and_without_prechecks(sample_docs):
    docs = sample_docs + [Document(f"planted{i}", t, "code", {"path": "x.py"}) for i, t in enumerate(_texts())]
    fast, fast_counts = _redacted(docs, prechecks=True)
    slow, slow_counts = _redacted(docs, prechecks=False)
    assert fast == slow
    assert fast_counts == slow_counts
    # The planted lines were found: every kind the pre-checks guard shows up in the counts.
    kinds = set(fast_counts["secrets_redacted"])
    assert {"Slack Token", "Stripe Access Key", "GitHub Token", "JSON Web Token"} <= kinds, kinds
    assert fast_counts["emails_redacted"] and fast_counts["ips_redacted"]


def test_every_precheck_is_true_where_its_pattern_matches():
    from detect_secrets.settings import transient_settings

    stage = CodeSecrets()
    stage.setup()
    with transient_settings(stage._settings):
        screens = _screens()
    assert screens is not None
    texts = [t for t in _texts() if t.isascii()]
    hit = set()
    for pattern, precheck in screens:
        for text in texts:
            if precheck is not None and pattern.search(text):
                hit.add(pattern.pattern)
                assert precheck(AsciiViews(text)), (pattern.pattern[:60], text[:80])
    guarded = {p.pattern for p, check in screens if check is not None}
    assert hit == guarded, guarded - hit  # each pre-check met a text its pattern matches
    for regex, check in ((EMAIL, may_hold_email), (IPV4, may_hold_ipv4), (IPV6, may_hold_ipv6)):
        matched = [t for t in _texts() if regex.search(t)]
        assert matched and all(check(t) for t in matched), regex.pattern[:40]
