"""Repository packing: the files of one repository joined into one training document, as StarCoder2 does.

StarCoder2 (paper section 5.2) trains on repository context with files in random order: with
metadata, `<repo_name>REPO<file_sep>path1\\ncode1<file_sep>path2\\ncode2...`, without it
`<file_sep>code1<file_sep>code2...`; half the samples carry metadata, and repository-level FIM is
applied to half the repositories. Here each file may also be FIM-transformed (prefix-suffix-middle
with StarCoder's sentinel tokens) at `fim_rate`. Every draw comes from a generator seeded by the
repository name and `seed`, so the output is the same on every engine and every rerun.

A repository's files must arrive together (the repository reader emits them so; a run's output keeps
the order). The stage holds one repository at a time. Packed documents get `source: code-repo` by
default, so a blend selects file-level (`code`) and repository-level code apart.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

import xxhash
from pydantic import Field

from corpusforge.core.document import Document, make_id
from corpusforge.stages.base import Stage, StageConfig


class RepoPack(Stage):
    """Joins consecutive files of one repository into one document; each file folded in counts as `packed`."""

    type = "repo_pack"
    config: Config

    class Config(StageConfig):
        source: str = "code-repo"  # source kind of the packed documents
        metadata_rate: float = Field(0.5, ge=0, le=1)  # StarCoder2: 50% of samples with repo name and paths
        fim_rate: float = Field(0.5, ge=0, le=1)  # StarCoder2: FIM on 50% of repositories
        fim_file_rate: float = Field(0.5, ge=0, le=1)  # within a FIM repository, the share of files transformed
        repo_name_token: str = "<repo_name>"
        file_sep_token: str = "<file_sep>"
        fim_prefix_token: str = "<fim_prefix>"
        fim_middle_token: str = "<fim_middle>"
        fim_suffix_token: str = "<fim_suffix>"
        shuffle_files: bool = True  # StarCoder2: files in random order within a repository
        max_chars: int = Field(8_000_000, ge=1)  # a repository past this is split into several documents
        seed: int = 0

    def process(self, docs: Iterable[Document]) -> Iterator[Document]:
        current: list[Document] = []
        for doc in docs:
            if current and doc.meta.get("repo") != current[0].meta.get("repo"):
                yield from self._pack(current)
                current = []
            current.append(doc)
        if current:
            yield from self._pack(current)

    def _pack(self, files: list[Document]) -> Iterator[Document]:
        cfg = self.config
        repo = files[0].meta.get("repo") or files[0].id
        rng = random.Random(xxhash.xxh64_intdigest(f"{cfg.seed}\0{repo}".encode("utf-8", "surrogatepass")))
        order = list(files)
        if cfg.shuffle_files:
            rng.shuffle(order)
        with_meta = rng.random() < cfg.metadata_rate
        fim_repo = rng.random() < cfg.fim_rate
        part: list[tuple[Document, str]] = []
        size = n_part = 0
        for doc in order:
            piece = self._file_text(doc, with_meta, fim_repo and rng.random() < cfg.fim_file_rate, rng)
            if part and size + len(piece) > cfg.max_chars:
                yield self._document(repo, part, with_meta, n_part, files)
                part, size, n_part = [], 0, n_part + 1
            part.append((doc, piece))
            size += len(piece)
        if part:
            yield self._document(repo, part, with_meta, n_part, files)
        self.ledger.histogram("packed_with_metadata", "yes" if with_meta else "no")
        if fim_repo:
            self.ledger.count("fim_repositories")

    def _file_text(self, doc: Document, with_meta: bool, fim: bool, rng: random.Random) -> str:
        cfg = self.config
        code = doc.text
        if fim and len(code) >= 2:
            a, b = sorted(rng.sample(range(len(code) + 1), 2))
            code = f"{cfg.fim_prefix_token}{code[:a]}{cfg.fim_suffix_token}{code[b:]}{cfg.fim_middle_token}{code[a:b]}"
            self.ledger.count("fim_files")
        path = doc.meta.get("path") or ""
        return f"{cfg.file_sep_token}{path}\n{code}" if with_meta else f"{cfg.file_sep_token}{code}"

    def _document(
        self, repo: str, part: list[tuple[Document, str]], with_meta: bool, n_part: int, files: list[Document]
    ) -> Document:
        cfg = self.config
        head = f"{cfg.repo_name_token}{repo}" if with_meta else ""
        text = head + "".join(piece for _, piece in part)
        for doc, _ in part[1:]:
            self.drop(doc, "packed")  # folded into the repository document: counted, not lost
        first = part[0][0]
        meta = {"repo": repo}
        for key in ("license", "commit", "repo_stars", "repo_files"):
            if first.meta.get(key) is not None:
                meta[key] = first.meta[key]
        languages = sorted({str(d.meta["language"]) for d, _ in part if d.meta.get("language")})
        if len(languages) == 1:
            meta["language"] = languages[0]
        ann = {}
        buckets = [d.annotations["quality_bucket"] for d, _ in part if d.annotations.get("quality_bucket") is not None]
        if buckets:
            # The repository's bucket is its files' median: one bad file does not sink a repository.
            bucket = sorted(buckets)[len(buckets) // 2]
            ann["quality_bucket"] = bucket
            ann["quality_tier"] = next(
                d.annotations["quality_tier"] for d, _ in part if d.annotations.get("quality_bucket") == bucket
            )
        self.ledger.histogram("files_per_document", _bin(len(part)))
        return Document(
            make_id(cfg.source, f"{repo}#{n_part}:{first.meta.get('commit') or ''}"), text, cfg.source, meta, ann
        )


def _bin(n: int) -> str:
    for hi in (1, 2, 5, 10, 20, 50, 100):
        if n <= hi:
            return f"<={hi}"
    return ">100"
