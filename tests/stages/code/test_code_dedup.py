"""Near-dedup with the code preset: \\w tokens (identifiers stay whole) and the keep-the-larger-repository rule."""

from __future__ import annotations

from corpusforge.core import storage
from corpusforge.core.document import Document
from corpusforge.pipelines.engines.local import LocalEngine
from corpusforge.pipelines.runner import iter_output, run_pipeline
from corpusforge.pipelines.schema import validate_pipeline
from corpusforge.samples.code import SITE_PACKAGES
from corpusforge.stages.dedup.fuzzy import FuzzyDedup
from corpusforge.stages.dedup.minhash import reference_shingles


def test_code_tokens_keep_identifiers_whole():
    assert len(reference_shingles("foo_bar baz", "code", 1)) == 2
    assert len(reference_shingles("foo_bar baz", "word", 1)) == 3
    p = FuzzyDedup(preset="code").params
    assert (p.shingle, p.ngram, p.bands * p.rows, p.threshold) == ("code", 5, 250, 0.7)


def test_the_copy_from_the_larger_repository_survives(tmp_path):
    original = (SITE_PACKAGES / "six.py").read_text()
    fork = original.replace("def ", "def  ", 3) + "\n# vendored copy\n"  # a near duplicate, and longer
    other = (SITE_PACKAGES / "typing_extensions.py").read_text()
    docs = [
        Document("fork", fork, "code", {"repo": "someone/six-fork", "repo_files": 2, "repo_stars": 0}),
        Document("orig", original, "code", {"repo": "benjaminp/six", "repo_files": 40, "repo_stars": 0}),
        Document("other", other, "code", {"repo": "python/typing", "repo_files": 30}),
    ]
    storage.write_documents(str(tmp_path / "in" / "0.parquet"), docs)
    config = validate_pipeline(
        {
            "name": "code-dedup",
            "output": str(tmp_path / "out"),
            "engine": {"type": "local", "workers": 1},
            "input": {"type": "parquet", "paths": [str(tmp_path / "in" / "*.parquet")]},
            "stages": [{"type": "fuzzy_dedup", "preset": "code", "keep": "repo", "partitions": 2}],
        }
    )
    result = run_pipeline(config, engine=LocalEngine(workers=1))
    assert sorted(d.id for d in iter_output(result.output)) == ["orig", "other"]
    assert result.stages[-1].dropped["fuzzy_duplicate"] == 1
