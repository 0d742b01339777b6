"""The fast code filters against their one-rule-at-a-time reference (`stages/code/reference_filters.py`).

Same documents dropped under the same reasons, the kept ones unchanged, on every file of the real code
sample and on inputs built to hit the fast paths' pre-checks at their edges.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from corpusforge.core.document import Document
from corpusforge.samples.code import SITE_PACKAGES, write_code_sample
from corpusforge.stages.code.basic_filters import ENCODED_PATTERNS, CodeBasicFilters
from corpusforge.stages.code.encoded_data import ENCODED_PRECHECKS
from corpusforge.stages.code.language import CodeLanguage
from corpusforge.stages.code.opencoder import OpenCoderRules
from corpusforge.stages.code.reference_filters import basic_filters_reason, opencoder_reason
from corpusforge.stages.code.repo_reader import RepoReader

SIX = (SITE_PACKAGES / "six.py").read_text()
LANGUAGES = [
    ("x.py", "Python"),
    ("x.pyi", "Python"),
    ("x.c", "C"),
    ("x.cc", "C++"),
    ("x.js", "JavaScript"),
    ("x.sql", "SQL"),
    ("x.json", "JSON"),
    ("x.txt", "Text"),
    ("README", "Text"),
    ("x.html", "HTML"),
    ("x.md", "Markdown"),
    ("x.s", "Motorola 68K Assembly"),
    ("x.lua", "Lua"),
    ("x.yaml", "YAML"),
    ("x.tab", "SQL"),
]


def _copy(docs: list[Document]) -> list[Document]:
    return [Document(d.id, d.text, d.source, dict(d.meta)) for d in docs]


def _assert_same_verdicts(docs: list[Document]) -> None:
    for fast, reference in ((CodeBasicFilters(), basic_filters_reason), (OpenCoderRules(), opencoder_reason)):
        fast.setup()
        expected = [reference(fast.config, d) for d in docs]
        differ = [(d.id, got, want) for d, want in zip(docs, expected) if (got := fast.reject(d)) != want]
        assert not differ, (fast.type, differ[:5])
        kept = [(d.id, d.text, d.meta) for d in fast.run(_copy(docs))]
        assert kept == [(d.id, d.text, d.meta) for d, want in zip(docs, expected) if want is None]
        assert dict(fast.ledger.dropped) == dict(Counter(r for r in expected if r is not None))


@pytest.fixture(scope="module")
def sample_docs(tmp_path_factory) -> list[Document]:
    """Every file of `corpusforge sample`'s code repositories, with its language."""
    out = tmp_path_factory.mktemp("code")
    write_code_sample(str(out))
    reader = RepoReader(paths=[str(out / "repos" / "*")])
    docs = [d for path in RepoReader.expand_inputs(reader.config.paths) for d in reader.read_counted(path)]
    return list(CodeLanguage().run(docs))


def test_fast_filters_match_the_reference_on_the_real_sample(sample_docs):
    assert len(sample_docs) > 80
    _assert_same_verdicts(sample_docs)
    # The sample exercises both stages: each keeps some files and drops others for several reasons.
    for stage in (CodeBasicFilters(), OpenCoderRules()):
        kept = list(stage.run(_copy(sample_docs)))
        assert kept and len(stage.ledger.dropped) >= 3, (stage.type, dict(stage.ledger.dropped))


def test_fast_filters_match_the_reference_on_installed_sources():
    """About 3 MB of source files of the installed packages (Python, C headers, JavaScript, data, docs)."""
    suffixes = {".py", ".pyi", ".c", ".h", ".cpp", ".js", ".json", ".md", ".txt", ".html", ".css", ".pyx", ".yaml"}
    roots = ["pygments", "rich", "jinja2", "yaml", "lxml", "numpy/_core/include", "matplotlib/backends", "networkx"]
    files = sorted(
        p
        for root in roots
        if (SITE_PACKAGES / root).is_dir()
        for p in (SITE_PACKAGES / root).rglob("*")
        if p.suffix in suffixes and "__pycache__" not in p.parts and p.is_file()
    )
    random.Random(11).shuffle(files)
    docs, size = [], Counter()
    for path in files:  # up to about 400 kB of each kind
        if size[path.suffix] > 400_000:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if 0 < len(text) < 2_000_000:
            rel = str(path.relative_to(SITE_PACKAGES))
            docs.append(Document(rel, text, "code", {"path": rel}))
            size[path.suffix] += len(text)
    docs = list(CodeLanguage().run(docs))
    assert len({d.meta["language"] for d in docs}) >= 6, size
    _assert_same_verdicts(docs)


def _hex_list(rng: random.Random, units: int) -> str:
    sep = rng.choice([",", " ", "\n", ", ", "\t", "\u00a0", "\u3000", "", ",\n"])
    prefix = rng.choice(["", "0x", "\\x", "0X"])
    return sep.join(prefix + f"{rng.randrange(256):02x}" for _ in range(units))


def _distinct_name(i: int) -> str:
    out = ""
    while True:
        i, r = divmod(i, 26)
        out += "abcdefghijklmnopqrstuvwxyz"[r]
        if not i:
            return "value_" + out


def _deep_lambda_defaults(depth: int = 700, terms: int = 1600) -> str:
    """A real file plus one statement symtable accepts and `ast.parse` cannot convert (too deep): it parses only
    in symtable's view; distinct names and short lines keep it past every cheaper rule."""
    lambdas = "".join(f"    lambda {_distinct_name(i)}=\n" for i in range(depth))
    total = "".join(f"    {_distinct_name(i)} +\n" for i in range(terms))
    bodies = "".join(f"    : {_distinct_name(i)}\n" for i in range(depth))
    return SIX + "\nhandler = (\n" + lambdas + total + "    last\n" + bodies + ")\n"


def _adversarial() -> list[tuple[str, str]]:
    """(name, text): edges of each rule and of each fast path's pre-check."""
    rng = random.Random(7)
    base64 = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk="
    texts = {
        "empty": "",
        "blank": " \n\t\n",
        "one_line": "x = 1",
        "minified_megabyte_line": "var a=" + "1," * 500_000 + "1;\n",
        "long_line_1001": "x = '" + "a" * 995 + "'\n" + SIX[:4000],
        "many_lines": "x = 1\n" * 100_001,
        "huge_file": SIX * 60,
        "binary_ish": "".join(chr(rng.randrange(256)) for _ in range(20_000)),
        "replacement_chars": SIX[:5000] + "\ufffd" * 80,
        "nul_bytes": SIX[:3000] + "\x00\x00" + SIX[3000:6000],
        "lone_surrogate": SIX[:3000] + "\ud800" + SIX[3000:5000],
        "syntax_error": SIX.replace("def ", "def (", 1),
        "deep_nesting": "x = " + "-" * 3000 + "1\n" + SIX[:3000],
        "symtable_only_error": SIX + "\ndef f(a):\n    global a\n",
        "deep_lambda_defaults": _deep_lambda_defaults(),
        "invalid_escape": SIX[:3000] + '\nPATTERN = "\\d+\\s*"\n' + SIX[3000:6000],
        "base64_63": SIX[:3000] + "\n" + base64[:63] + "\n" + SIX[3000:6000],
        "base64_64": SIX[:3000] + "\n" + base64[:64] + "\n" + SIX[3000:6000],
        "base64_long": SIX[:3000] + '\nDATA = """\n' + "\n".join([base64] * 20) + '\n"""\n' + SIX[3000:4000],
        "base64_across_lines": SIX[:2000] + "\n" + "\n".join(["QUJDREVGR0hJSktMTU5P"] * 10) + "\n" + SIX[2000:4000],
        "unicode_7": SIX[:3000] + '\ns = "' + "\\u00e9" * 7 + '"\n' + SIX[3000:5000],
        "unicode_8": SIX[:3000] + '\ns = "' + "\\u00e9" * 8 + '"\n' + SIX[3000:5000],
        "unicode_many": SIX[:2000] + '\ns = "' + "\\u00e9" * 400 + '"\n' + SIX[2000:3000],
        "hex_after_word": SIX[:2000] + "\nx = b'" + "".join(f"\\x{i:02x}" for i in range(40)) + "'\n" + SIX[2000:3000],
        "hex_after_accent": "é" + " ".join(f"{i:02x}" for i in range(40)) + "é\n" + SIX[:3000],
        "hex_table": "static const unsigned char t[] = {\n"
        + ",\n".join(",".join(f"0x{(i * 7 + j) % 256:02x}" for j in range(16)) for i in range(400))
        + "\n};\n",
        "hex_spaced_c_array": "int t[] = {" + ", ".join(f"0x{i:02X}" for i in range(300)) + "};\n" * 20,
        "numbers_table": "\n".join(", ".join(str(10 + (i * j) % 90) for j in range(12)) for i in range(60)),
        "todo_cases": SIX[:3000] + "\n# TODO: x\n# ToDo\n#fixme\n# your code here\nx = 'todos'\n" + SIX[3000:5000],
        "todo_dotless_i": SIX[:3000] + "\n# f\u0131xme\n# F\u0130XME later\n" + SIX[3000:5000],
        "todo_line_breaks": SIX[:3000] + "\n# a\rTODO\x0bb\x1cfixme\u2028c\x85todo\r\nd\n" + SIX[3000:5000],
        "dotted_capital_before_todo": "\u0130" * 50 + "\n# TODO\n" + SIX[:4000],
        "asserts": "\n".join(["assert x == 1", "self.assertEqual(a, b)", "EXPECT_EQ(a, b);", "  expect(a)"] * 30),
        "comments_slash": "\n".join(["// c", "/* d", " * e", "\u3000// f", "int x = 1;"] * 40),
        "comments_hash": "\n".join(["# a comment line here", "x = 1", "\u00a0# b"] * 60),
        "strings_escaped": "\n".join(['s = "a \\" b"', "t = 'it\\'s'", "u = `a\nb`", 'v = "x\\\n"'] * 40),
        # 21 one-letter words: the shortest literal the long-string rule counts (43 characters).
        "strings_21_words": SIX[:6000].rsplit("\n", 1)[0]
        + "\n"
        + "\n".join(f'value_{i} = "a b c d e f g h i j k l m n o p q r s t u"' for i in range(60)),
        "strings_long": "\n".join(['s = "' + " ".join(["word"] * 25) + '"'] * 40),
        "docstrings": '"""' + "doc " * 300 + '"""\n' + SIX[:3000] + "\n'''more'''\n",
        "long_words_separators": "z" * 25
        + "\x1c"
        + SIX[:4000]
        + "\x1f"
        + "\t".join(["q" * 21] * 40)
        + "\x0b"
        + "\x1d".join(["r" * 20] * 40)
        + "y" * 30,
        "long_words": "\n".join(["x = " + "a" * 30, "https://" + "b" * 40, "www." + "c" * 30] * 50),
        "hex_words": "\n".join(["x = 0xDEADBEEFCAFEBABE0123456789", "y = 0Xff"] * 60),
        "repetitive": "a b " * 5000,
        "repetitive_lines": "\n".join(["x = compute(value)"] * 200),
        "non_ascii_words": ("naïve café İstanbul ΣΟΦΟΣ straße " * 200 + "\n") * 20,
        "mixed_case_unicode": "\n".join(f"ĞÜŞ{i} = 'çöğ' + str({i})  # İyi" for i in range(300)),
        "xml_header": '<?xml version="1.0"?>\n' + "<a>text</a>\n" * 100,
        "autogen_head": "# This file is automatically generated. Do not edit.\n" + SIX[:4000],
        "two_mains": "int main(void) { return 0; }\nint main(int a, char **b) { return a; }\n" * 10,
        "preprocessor": "#include <a.h>\n#define X 1\n" * 100 + "int x;\n",
        "html_page": "<html><body>" + "<p>Some visible text here.</p>" * 20 + "</body></html>",
        "json_rows": "\n".join(f'{{"id": {i}, "name": "row {i}"}}' for i in range(700)),
    }
    return list(texts.items())


def _fuzz(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Texts stitched from the pieces the pre-checks look at: hex pairs, prefixes, separators, escapes, words."""
    rng = random.Random(seed)
    pieces = [
        "0x",
        "\\x",
        "\\u",
        ",",
        " ",
        "\n",
        "\t",
        "\r\n",
        "\u00a0",
        "\u2028",
        "\x1c",
        "_",
        "é",
        "x",
        "g",
        "Z",
        "=",
        "+/",
        '"',
        "'",
        "`",
        "\\",
        "todo",
        "FIXME",
        "\u0131",
        "#",
        "//",
        "*",
        "assert ",
    ]
    out = []
    for i in range(n):
        parts = []
        for _ in range(rng.randrange(50, 400)):
            if rng.random() < 0.45:
                parts.append(f"{rng.randrange(256):02x}" if rng.random() < 0.8 else f"{rng.randrange(65536):04X}")
            elif rng.random() < 0.1:
                parts.append("QUJD" * rng.randrange(1, 20))
            else:
                parts.append(rng.choice(pieces))
        out.append((f"fuzz{i}", "".join(parts)))
    return out


def test_fast_filters_match_the_reference_on_adversarial_inputs():
    docs = [
        Document(f"{name}:{path}", text, "code", {"path": f"src/{name}/{path}", "language": lang})
        for name, text in _adversarial() + _fuzz(60)
        for path, lang in (LANGUAGES if len(text) < 100_000 else LANGUAGES[:1] + LANGUAGES[4:7])
    ]
    _assert_same_verdicts(docs)


def test_encoded_data_prechecks_never_miss_a_match():
    """A pre-check says False only where its pattern finds nothing, on fuzz built to nearly match."""
    import re

    compiled = {p: re.compile(p) for p in ENCODED_PATTERNS}
    texts = [t for _, t in _fuzz(400, seed=1)] + [t for _, t in _adversarial()]
    rng = random.Random(3)
    texts += [_hex_list(rng, rng.randrange(6, 11)) for _ in range(300)]
    matched = {p: 0 for p in ENCODED_PATTERNS}
    for text in texts:
        for pattern, regex in compiled.items():
            if regex.search(text):
                matched[pattern] += 1
                assert ENCODED_PRECHECKS[pattern](text), (pattern, text[:80])
    assert all(matched.values()), matched  # every pattern was hit, so every pre-check was tested


def test_parse_edges_reach_the_parse():
    """The symtable fallbacks are exercised by the stage: each file gets past every cheaper rule to the parse."""
    stage = OpenCoderRules()
    stage.setup()
    for text, want in ((SIX + "\ndef f(a):\n    global a\n", None), (_deep_lambda_defaults(), "python_syntax_error")):
        doc = Document("x", text, "code", {"path": "src/x.py", "language": "Python"})
        assert stage.reject(doc) == want == opencoder_reason(stage.config, doc)


def test_long_word_chars_match_str_split():
    """The ASCII byte-table path against `str.split()` on every adversarial and fuzzed text."""
    import re

    from corpusforge.stages.code.opencoder import _long_word_chars

    url = re.compile(r"^(?:https?|ftp)://|^www\.")
    texts = [t for _, t in _adversarial() + _fuzz(200, seed=4)] + ["", " ", "a" * 21, " " + "a" * 21 + " "]
    texts += [t.encode("ascii", "ignore").decode("ascii") for t in texts]  # the fuzz again on the ASCII path
    for text in texts:
        want = sum(len(w) for w in text.split() if len(w) > 20 and not url.match(w))
        assert _long_word_chars(text) == want, text[:60]
