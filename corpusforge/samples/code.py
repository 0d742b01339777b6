"""A small code sample from real repositories nobody here wrote: packages installed in the project's own venv.

Each package below becomes one repository snapshot: its installed source files under the import
name, and its license files (from the wheel's `.dist-info`) at the repository root, so the license
stage meets real license texts. The snapshots come in every shape the reader takes: folders, a
tarball, a zip and a bare git repository. Licenses are mixed on purpose: MIT, BSD, Apache, PSF,
MIT-or-Apache, tri-licensed MPL/GPL/LGPL, Apache-with-GPL files, Artistic/GPL, MPL-2.0, and a
package whose wheel carries no license file at all (unlicensed).

One more repository, `acme-webapp`, is written by this module and plants what the code stages must
find (`planted.json` records every item): secrets (an AWS key, a GitHub token, a private key block,
a JWT, a Slack webhook, an e-mail, a public IP) and things that only look like secrets (hashes,
UUIDs, test fixtures, private IPs, a version string), ambiguous extensions (.h, .m, .pl), a Jupyter
notebook, a near-duplicate fork of a real file and an exact copy of one, a HumanEval solution (when
../shared/data is present) and bad input: a binary file with a .py extension, invalid UTF-8, a
UTF-16 file with a BOM, a megabyte-long minified line, an empty file and a symlink loop. A corrupt
tarball and a corrupt zip sit beside the good snapshots.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import random
import shutil
import string
import subprocess
import sysconfig
import tarfile
import uuid
import zipfile
from importlib import metadata
from pathlib import Path

SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
SHARED_HUMANEVAL = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "benchmarks" / "humaneval" / "HumanEval.jsonl.gz"
)

# (distribution, import names, snapshot shape); licenses as their wheels declare them.
PACKAGES: list[tuple[str, tuple[str, ...], str]] = [
    ("six", ("six.py",), "folder"),  # MIT
    ("annotated-types", ("annotated_types",), "git"),  # MIT
    ("markupsafe", ("markupsafe",), "tar"),  # BSD-3-Clause, with a compiled .so
    ("cycler", ("cycler",), "zip"),  # BSD-3-Clause
    ("idna", ("idna",), "folder"),  # BSD-3-Clause, large generated tables
    ("sniffio", ("sniffio",), "folder"),  # MIT OR Apache-2.0, three license files
    ("mdurl", ("mdurl",), "folder"),  # MIT
    ("defusedxml", ("defusedxml",), "folder"),  # PSF-2.0
    ("typing-extensions", ("typing_extensions.py",), "folder"),  # PSF-2.0
    ("tld", ("tld",), "folder"),  # MPL-1.1 OR GPL-2.0 OR LGPL-2.1
    ("python-daemon", ("daemon",), "folder"),  # Apache-2.0 files and a GPL-3.0 file
    ("text-unidecode", ("text_unidecode",), "folder"),  # Artistic or GPL
    ("certifi", ("certifi",), "folder"),  # MPL-2.0
    ("faust-cchardet", ("cchardet",), "folder"),  # no license file in the wheel: unlicensed
]
MAX_COPIED_BYTES = 300_000  # per file: keeps the sample a few MB (large data files and binaries skipped)
_SKIP_DIRS = {"__pycache__"}
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "corpusforge",
    "GIT_AUTHOR_EMAIL": "sample@example.com",
    "GIT_COMMITTER_NAME": "corpusforge",
    "GIT_COMMITTER_EMAIL": "sample@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000",
}


def _license_files(dist: metadata.Distribution) -> list[Path]:
    out = []
    for f in dist.files or []:
        name = f.name.upper()
        if ".dist-info" in str(f) and any(k in name for k in ("LICEN", "COPYING")):
            out.append(Path(str(dist.locate_file(f))))
    return sorted(out)


def _copy_package(dist_name: str, imports: tuple[str, ...], dest: Path) -> int:
    """Copy a package's sources and license files into `dest`; returns files written (0: not installed)."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return 0
    written = 0
    for lic in _license_files(dist):
        if lic.is_file():
            shutil.copyfile(lic, dest / lic.name)
            written += 1
    for name in imports:
        src = SITE_PACKAGES / name
        if src.is_file():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / name)
            written += 1
            continue
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(SITE_PACKAGES)
            if any(p in _SKIP_DIRS for p in rel.parts) or not path.is_file() or path.is_symlink():
                continue
            if path.stat().st_size > MAX_COPIED_BYTES:
                continue
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)
            written += 1
    return written


def _tar(src: Path, out: Path) -> None:
    with tarfile.open(out, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(src.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=f"{src.name}/{path.relative_to(src).as_posix()}")
            info.mtime, info.uid, info.gid, info.uname, info.gname = 1704067200, 0, 0, "", ""
            if path.is_file():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def _zip(src: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(f"{src.name}/{path.relative_to(src).as_posix()}", (2024, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, path.read_bytes())


def _git_bare(src: Path, out: Path) -> bool:
    """A bare repository holding one commit of `src`; False when git is not installed."""
    if shutil.which("git") is None:
        return False
    env = {**os.environ, **_GIT_ENV}
    run = lambda *a: subprocess.run(
        ["git", f"--git-dir={out}", f"--work-tree={src}", *a], env=env, check=True, capture_output=True
    )
    subprocess.run(["git", "init", "--bare", "-q", "-b", "main", str(out)], env=env, check=True, capture_output=True)
    run("add", "-A")
    run("commit", "-q", "-m", "snapshot")
    return True


# -- the planted repository ---------------------------------------------------------------------


def _token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _secrets(rng: random.Random) -> dict[str, str]:
    upper = string.ascii_uppercase + string.digits
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": "1290384756", "name": "svc-deploy", "iat": 1717171717}).encode())
    key_body = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(600))).decode()
    key_lines = "\n".join(key_body[i : i + 64] for i in range(0, len(key_body), 64))
    return {
        "aws_access_key": "AKIA" + _token(rng, 16, upper),
        "github_token": "ghp_" + _token(rng, 36),
        "private_key": f"-----BEGIN RSA PRIVATE KEY-----\n{key_lines}\n-----END RSA PRIVATE KEY-----",
        "jwt": f"{header}.{payload}.{_b64url(bytes(rng.getrandbits(8) for _ in range(32)))}",
        "slack_webhook": f"https://hooks.slack.com/services/T{_token(rng, 8, upper)}/B{_token(rng, 8, upper)}/"
        f"{_token(rng, 24)}",
        "email": "jane.doe@acme-corp.com",
        "public_ip": "34.201.17.88",
    }


def _non_secrets(rng: random.Random) -> dict[str, str]:
    return {
        "sha256": hashlib.sha256(b"acme release 1.4.2").hexdigest(),
        "md5": hashlib.md5(b"acme release 1.4.2").hexdigest(),
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "fixture_password": "changeme",
        "fixture_template": "${GITHUB_TOKEN}",
        "fixture_placeholder": "<your-api-key-here>",
        "fixture_sequential": "abcdefghijklmnopqrstuvwxyz0123456789",
        "private_ip": "10.0.12.7",
        "dns_ip": "8.8.8.8",
        "version": "1.2.3.4",
    }


def _planted_repo(root: Path, rng: random.Random, planted: dict) -> None:
    s, ns = _secrets(rng), _non_secrets(rng)
    planted["secrets"], planted["non_secrets"] = s, ns
    files: dict[str, str | bytes] = {}
    files["acme/settings.py"] = f'''"""Deployment settings for the acme web application."""
import os

DEBUG = os.environ.get("ACME_DEBUG", "0") == "1"
AWS_ACCESS_KEY_ID = "{s["aws_access_key"]}"
AWS_REGION = "eu-west-1"
GITHUB_TOKEN = "{s["github_token"]}"
SLACK_WEBHOOK_URL = "{s["slack_webhook"]}"
SERVICE_JWT = "{s["jwt"]}"
MAINTAINER = "{s["email"]}"
METRICS_HOST = "{s["public_ip"]}"


def database_url(name: str) -> str:
    """The connection string of one of the application's databases."""
    host = os.environ.get("ACME_DB_HOST", "localhost")
    return f"postgresql://acme@{{host}}:5432/{{name}}"


def feature_flags() -> dict:
    """Flags read once at start-up; an unknown flag is off."""
    flags = {{}}
    for item in os.environ.get("ACME_FLAGS", "").split(","):
        if item.strip():
            flags[item.strip()] = True
    return flags


def notify_channel(message: str, level: str = "info") -> dict:
    """The payload the deploy bot posts to the team channel after each release."""
    colour = {{"info": "good", "warning": "warning", "error": "danger"}}.get(level, "good")
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    summary = lines[0] if lines else "deploy finished"
    details = "\\n".join(lines[1:])
    return {{"attachments": [{{"color": colour, "title": summary, "text": details}}]}}


def cache_settings(debug: bool) -> dict:
    """Cache sizes and lifetimes; debug runs keep nothing between requests."""
    if debug:
        return {{"backend": "memory", "max_entries": 0, "ttl_seconds": 0}}
    size = int(os.environ.get("ACME_CACHE_ENTRIES", "10000"))
    ttl = int(os.environ.get("ACME_CACHE_TTL", "300"))
    return {{"backend": "redis", "max_entries": size, "ttl_seconds": ttl}}
'''
    files["deploy/id_rsa_deploy.py"] = f'''"""Key material the deploy script writes to disk before it connects."""
import pathlib

DEPLOY_KEY = """{s["private_key"]}
"""


def write_key(path: str) -> None:
    """Write the deploy key with owner-only permissions."""
    target = pathlib.Path(path)
    target.write_text(DEPLOY_KEY)
    target.chmod(0o600)
    print("wrote", target)


def ssh_command(host: str, key_path: str, user: str = "deploy", port: int = 22) -> list:
    """The ssh invocation the deploy step runs against one host."""
    options = ["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    return ["ssh", "-i", key_path, "-p", str(port), *options, f"{{user}}@{{host}}"]


def rollout(hosts: list, key_path: str, batch_size: int = 2) -> list:
    """Deploy to the hosts in small batches; stop at the first batch that fails."""
    done = []
    for start in range(0, len(hosts), batch_size):
        batch = hosts[start:start + batch_size]
        for host in batch:
            command = ssh_command(host, key_path)
            print("would run:", " ".join(command))
            done.append(host)
    return done


def main(argv: list) -> int:
    """Write the key, then roll out to the hosts named on the command line."""
    key_path = "/tmp/deploy_key"
    write_key(key_path)
    hosts = [arg for arg in argv if not arg.startswith("-")]
    if not hosts:
        print("usage: id_rsa_deploy.py HOST [HOST ...]")
        return 2
    finished = rollout(hosts, key_path)
    print(f"deployed to {{len(finished)}} of {{len(hosts)}} hosts")
    return 0
'''
    files["acme/checksums.py"] = f'''"""Release artefacts and their digests, checked before an upgrade."""
import hashlib

# sha256 and md5 digests of the release archive, as published next to it
RELEASE_SHA256 = "{ns["sha256"]}"
RELEASE_MD5 = "{ns["md5"]}"
REQUEST_NAMESPACE = "{ns["uuid"]}"
INTERNAL_API_HOST = "{ns["private_ip"]}"
FALLBACK_DNS = "{ns["dns_ip"]}"
MIN_SERVER_VERSION = "{ns["version"]}"


def verify(data: bytes) -> bool:
    """True when the archive's sha256 hash matches the published one."""
    return hashlib.sha256(data).hexdigest() == RELEASE_SHA256


def describe() -> str:
    """One line for the upgrade log."""
    return f"release {{RELEASE_SHA256[:12]}} (namespace {{REQUEST_NAMESPACE}})"
'''
    files["tests/test_login.py"] = f'''"""Login tests: credentials below are fixtures, never real ones."""
import unittest

TEST_PASSWORD = "{ns["fixture_password"]}"
TOKEN_FROM_ENV = "{ns["fixture_template"]}"
API_KEY = "{ns["fixture_placeholder"]}"
ALPHABET = "{ns["fixture_sequential"]}"


class LoginTest(unittest.TestCase):
    def setUp(self):
        self.users = {{"admin": TEST_PASSWORD, "guest": ""}}
        self.attempts = []

    def login(self, user, password):
        ok = check_login(user, password)
        self.attempts.append((user, ok))
        return ok

    def test_rejects_empty_password(self):
        result = self.login("admin", "")
        self.assertFalse(result)
        self.assertEqual(self.attempts, [("admin", False)])

    def test_accepts_fixture_password(self):
        result = self.login("admin", self.users["admin"])
        self.assertTrue(result)
        self.assertEqual(len(self.attempts), 1)

    def test_unknown_user_is_rejected(self):
        result = self.login("", TEST_PASSWORD)
        self.assertFalse(result)
        self.assertIn(("", False), self.attempts)

    def test_alphabet_is_complete(self):
        letters = [c for c in ALPHABET if c.isalpha()]
        digits = [c for c in ALPHABET if c.isdigit()]
        self.assertEqual(len(letters), 26)
        self.assertEqual(len(digits), 10)
        self.assertEqual(len(set(ALPHABET)), 36)

    def test_placeholders_are_not_keys(self):
        for value in (API_KEY, TOKEN_FROM_ENV):
            self.assertFalse(value.isalnum())


def check_login(user: str, password: str) -> bool:
    """The rule under test: a known user with the fixture password."""
    return bool(user) and password == TEST_PASSWORD


if __name__ == "__main__":
    unittest.main()
'''
    # Ambiguous extensions that content must settle.
    files["native/bridge.h"] = """#import <Foundation/Foundation.h>

@interface AcmeBridge : NSObject
@property (nonatomic, copy) NSString *endpoint;
- (instancetype)initWithEndpoint:(NSString *)endpoint;
- (void)sendEvent:(NSString *)name payload:(NSDictionary *)payload;
@end
"""
    files["native/ring_buffer.h"] = """#ifndef ACME_RING_BUFFER_H
#define ACME_RING_BUFFER_H
#include <vector>
#include <cstddef>

namespace acme {
template <typename T>
class RingBuffer {
 public:
  explicit RingBuffer(std::size_t capacity) : items_(capacity), head_(0), size_(0) {}
  void push(const T& item) {
    items_[(head_ + size_) % items_.size()] = item;
    if (size_ < items_.size()) { ++size_; } else { head_ = (head_ + 1) % items_.size(); }
  }
  std::size_t size() const { return size_; }
 private:
  std::vector<T> items_;
  std::size_t head_;
  std::size_t size_;
};
}  // namespace acme
#endif
"""
    files["native/checksum.h"] = """#ifndef ACME_CHECKSUM_H
#define ACME_CHECKSUM_H
#include <stddef.h>
#include <stdint.h>

/* Adler-32 over a buffer, as zlib defines it. */
static inline uint32_t acme_adler32(const unsigned char *data, size_t len) {
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < len; i++) {
        a = (a + data[i]) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}
#endif
"""
    files["analysis/smooth.m"] = """function y = smooth(x, width)
% SMOOTH  Moving average of a signal with an odd window width.
%   y = smooth(x, width) returns a vector the size of x.
if mod(width, 2) == 0
    error('width must be odd');
end
half = (width - 1) / 2;
y = zeros(size(x));
for i = 1:numel(x)
    lo = max(1, i - half);
    hi = min(numel(x), i + half);
    y(i) = mean(x(lo:hi));
end
end
"""
    files["scripts/rotate_logs.pl"] = """#!/usr/bin/perl
use strict;
use warnings;

my $dir = shift @ARGV or die "usage: rotate_logs.pl DIR\\n";
opendir(my $dh, $dir) or die "cannot open $dir: $!";
for my $file (sort grep { /\\.log$/ } readdir $dh) {
    my $path = "$dir/$file";
    next unless -s $path > 1_000_000;
    rename $path, "$path.1" or warn "rename $path: $!";
    print "rotated $path\\n";
}
closedir $dh;
"""
    files["rules/family.pl"] = """% Family relations used by the permissions demo.
:- dynamic parent/2.

parent(ann, bob).
parent(bob, carla).
parent(bob, dan).

grandparent(X, Z) :- parent(X, Y), parent(Y, Z).
sibling(X, Y) :- parent(P, X), parent(P, Y), X \\= Y.
"""
    files["notebooks/explore.ipynb"] = json.dumps(
        {
            "cells": [
                {
                    "cell_type": "markdown",
                    "metadata": {},
                    "source": ["# Request latency\n", "\n", "Load one day of access logs and plot p50/p99."],
                },
                {
                    "cell_type": "code",
                    "metadata": {},
                    "execution_count": 1,
                    "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1440 rows\n"]}],
                    "source": [
                        "import statistics\n",
                        "\n",
                        "def percentile(values, q):\n",
                        "    ordered = sorted(values)\n",
                        "    k = int(round(q * (len(ordered) - 1)))\n",
                        "    return ordered[k]\n",
                    ],
                },
                {
                    "cell_type": "code",
                    "metadata": {},
                    "execution_count": 2,
                    "outputs": [],
                    "source": [
                        "latencies = [12.5, 14.1, 13.3, 120.0, 15.2, 11.9]\n",
                        "print(percentile(latencies, 0.5), percentile(latencies, 0.99))\n",
                        "print(statistics.mean(latencies))\n",
                    ],
                },
            ],
            "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )
    files["notebooks/broken.ipynb"] = '{"cells": [{"cell_type": "code", "source": ["x = 1"'  # truncated JSON
    # Bad input the reader and filters must count.
    files["acme/_native.py"] = bytes(rng.getrandbits(8) for _ in range(4096)) + b"\0" * 64  # binary, .py name
    files["acme/legacy_latin1.py"] = "# caf\xe9 menu: cr\xe8me br\xfbl\xe9e\nPRICE = 7\n".encode("latin-1")
    files["acme/windows_notes.py"] = "# Notes saved by a Windows editor\nGREETING = 'hello'\n".encode("utf-16")
    files["static/app.min.js"] = "var a=" + ",".join(str(rng.randint(0, 9999)) for _ in range(220_000)) + ";\n"
    files["acme/__init__.py"] = ""
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    (root / "static" / "loop").symlink_to("..", target_is_directory=True)  # a symlink loop


def _near_duplicate(src: str, rng: random.Random) -> str:
    """A real file with a few edits, as a fork makes: two renamed identifiers and one changed line."""
    lines = src.splitlines(keepends=True)
    code_lines = [i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")]
    for i in rng.sample(code_lines, min(3, len(code_lines))):
        lines[i] = lines[i].rstrip("\n") + "  # patched in fork\n"
    return "".join(lines)


_TEXTUTILS_HEAD = '''"""Small string and list helpers used by the templates."""
from typing import List


def slugify(title: str) -> str:
    """Lower-case words joined by hyphens, for URLs."""
    words = [w for w in "".join(c if c.isalnum() else " " for c in title.lower()).split() if w]
    return "-".join(words)


def truncate(text: str, limit: int = 80) -> str:
    """Cut text at a word boundary and mark the cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "\u2026"


'''
# Planted when the real HumanEval file is absent: an item in HumanEval's shape, written for this module.
_OWN_EVAL_ITEM = {
    "task_id": "Sample/0",
    "prompt": 'def run_length_encode(text: str) -> str:\n    """Encode runs of a repeated character as the '
    'character and its count.\n    >>> run_length_encode("aaabcc")\n    \'a3b1c2\'\n    """\n',
    "canonical_solution": "    out = []\n    i = 0\n    while i < len(text):\n        j = i\n"
    "        while j < len(text) and text[j] == text[i]:\n            j += 1\n"
    '        out.append(f"{text[i]}{j - i}")\n        i = j\n    return "".join(out)\n',
    "test": "",
    "entry_point": "run_length_encode",
}


def _humaneval_item() -> dict | None:
    if not SHARED_HUMANEVAL.exists():
        return None
    with gzip.open(SHARED_HUMANEVAL, "rt") as f:
        return json.loads(f.readline())


def write_code_sample(out_dir: str, seed: int = 0) -> dict:
    """Write repository snapshots under `out_dir/repos`, eval items under `out_dir/eval`; returns planted.json."""
    rng = random.Random(seed)
    out = Path(out_dir)
    repos, work = out / "repos", out / "_build"
    for d in (repos, work):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    planted: dict = {"repositories": {}, "near_duplicates": [], "exact_duplicates": []}
    for dist_name, imports, shape in PACKAGES:
        src = work / dist_name
        src.mkdir()
        if not _copy_package(dist_name, imports, src):
            shutil.rmtree(src)
            continue
        if shape == "tar":
            target = repos / f"{dist_name}.tar.gz"
            _tar(src, target)
        elif shape == "zip":
            target = repos / f"{dist_name}.zip"
            _zip(src, target)
        elif shape == "git" and _git_bare(src, repos / f"{dist_name}.git"):
            target = repos / f"{dist_name}.git"
        else:
            target = repos / dist_name
            shutil.copytree(src, target)
        planted["repositories"][dist_name] = target.name
    # A fork of cycler with a few edits (near duplicates, fewer files: the original's copy must win) and an
    # exact copy of six.py re-indented with trailing spaces (an exact duplicate after whitespace normalisation).
    fork = repos / "cycler-fork"
    if (work / "cycler" / "cycler" / "__init__.py").exists():
        (fork / "cycler").mkdir(parents=True)
        shutil.copyfile(next((work / "cycler").glob("LICENSE*")), fork / "LICENSE")
        original = (work / "cycler" / "cycler" / "__init__.py").read_text()
        (fork / "cycler" / "__init__.py").write_text(_near_duplicate(original, rng))
        planted["near_duplicates"].append(["cycler/cycler/__init__.py", "cycler-fork/cycler/__init__.py"])
    acme = repos / "acme-webapp"
    acme.mkdir()
    _planted_repo(acme, rng, planted)
    six_src = work / "six" / "six.py"
    if six_src.exists():
        vendored = acme / "acme" / "vendor" / "six.py"
        vendored.parent.mkdir(parents=True)
        vendored.write_text("".join(line.rstrip("\n") + "  \n" for line in six_src.read_text().splitlines()))
        planted["exact_duplicates"].append(["six/six.py", "acme-webapp/acme/vendor/six.py"])
    item = _humaneval_item() or _OWN_EVAL_ITEM
    if item is not None:
        (acme / "acme" / "textutils.py").write_text(_TEXTUTILS_HEAD + item["prompt"] + item["canonical_solution"])
        planted["humaneval"] = item["task_id"]
    # Damaged snapshots: a tarball cut in half and a zip that is not one.
    good_tar = repos / "markupsafe.tar.gz"
    if good_tar.exists():
        data = good_tar.read_bytes()
        (repos / "truncated.tar.gz").write_bytes(data[: len(data) // 2])
    (repos / "corrupt.zip").write_bytes(b"PK\x03\x04" + bytes(rng.getrandbits(8) for _ in range(512)))
    shutil.rmtree(work)
    eval_dir = out / "eval"
    eval_dir.mkdir(parents=True, exist_ok=True)
    if SHARED_HUMANEVAL.exists():
        with gzip.open(SHARED_HUMANEVAL, "rt") as f:
            (eval_dir / "humaneval.jsonl").write_text(f.read())
    else:  # without ../shared/data the index holds the item this module wrote, in HumanEval's format
        (eval_dir / "humaneval.jsonl").write_text(json.dumps(_OWN_EVAL_ITEM) + "\n")
    (out / "planted.json").write_text(json.dumps(planted, indent=2))
    return planted
