"""Corpora for the word-embedding model: tokenise, rank the vocabulary, keep a token-id stream.

A :class:`Corpus` is the token stream as integer ids over a frequency-ranked vocabulary (id 0 is the
most frequent word), so the top-V vocabulary for any V is simply ``ids < V`` (THEORY.md §7, "corpus
statistics"). Two extra ids mark the rest: ``oov_id`` (a word outside the stored vocabulary: it keeps
its position, so window distances stay true, but never forms a pair) and ``pad_id`` (a document
boundary: context windows never cross it).

The shipped corpora are the artifacts built by ``scripts/build_corpus.py`` (``dln_core/data/corpus/``, package data); a user's
plain text goes through :func:`corpus_from_text`, the same tokeniser and the same id layout.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..resources import data_path

TOKEN_RE = re.compile(r"[a-z]+")
DATA_DIR = data_path()  # dln_core/data (package data; README.md there lists sources and licences)
SHIPPED_CORPORA = {  # name -> artifact built by scripts/build_corpus.py (dln_core/data/README.md: sources, licences)
    "default": DATA_DIR / "corpus" / "default_corpus.npz",  # 6 sources, 10.1 M words, incl. GPL-2+ GCIDE
    "nogpl": DATA_DIR / "corpus" / "nogpl_corpus.npz",  # the same without GCIDE, 6.0 M words
}
MIN_TOKENS = 50  # below this no window statistics are meaningful
MIN_DISTINCT = 2  # V ≥ 2 (EmbedConfig): a one-word text has no pairs of different words
MAX_UNDECODABLE_SHARE = 0.05  # above this share of invalid UTF-8 sequences the data is not text
_DOC_SPLIT = re.compile(r"\n\s*\n")  # a blank line ends a document in user text


def tokenize(text: str) -> list[str]:
    """Lowercase ``[a-z]+`` tokens (digits and punctuation separate words and are dropped)."""
    return TOKEN_RE.findall(text.lower())


@dataclass(frozen=True, eq=False)
class Corpus:
    """A token-id stream over a frequency-ranked vocabulary (see the module docstring)."""

    ids: np.ndarray  # (n,) integer ids; < len(vocab) in vocabulary, oov_id, pad_id
    vocab: tuple[str, ...]  # ranked by corpus frequency, most frequent first
    counts: np.ndarray  # (len(vocab),) corpus counts of the vocabulary words
    name: str
    digest: str  # content hash: the key of the on-disk statistics cache

    @property
    def oov_id(self) -> int:
        return len(self.vocab)

    @property
    def pad_id(self) -> int:
        return len(self.vocab) + 1

    @property
    def n_tokens(self) -> int:
        """Word tokens (documents' pads excluded)."""
        return int(np.count_nonzero(self.ids != self.pad_id))

    def vocabulary(self, size: int) -> list[str]:
        """The top-``size`` words; ConfigError if the corpus has fewer distinct words."""
        check_vocab_size(size, len(self.vocab))
        return list(self.vocab[:size])


def check_vocab_size(size: int, available: int) -> None:
    if not isinstance(size, int | np.integer) or size < 2 or size > available:
        raise ConfigError("vocab", f"must be an integer in [2, {available}] for this corpus", size)


@functools.lru_cache(maxsize=2)
def load_default_corpus(name: str = "default") -> Corpus:
    """A shipped corpus artifact by name (``SHIPPED_CORPORA``), read once per process."""
    if name not in SHIPPED_CORPORA:
        raise ConfigError("corpus", f"must be one of {sorted(SHIPPED_CORPORA)} or a text file", name)
    return load_corpus_artifact(SHIPPED_CORPORA[name], name)


def load_corpus_artifact(path: str | Path, name: str | None = None) -> Corpus:
    """A corpus artifact (.npz with ids, vocab, counts, meta) written by scripts/build_corpus.py."""
    p = Path(path)
    raw = p.read_bytes()
    with np.load(p, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        vocab = tuple(str(w) for w in z["vocab"])
        ids = z["ids"].astype(np.int32)
        counts = z["counts"].astype(np.int64)
    if meta.get("oov_id") != len(vocab) or meta.get("pad_id") != len(vocab) + 1:
        raise ValueError(f"{p}: unexpected id layout in corpus artifact")
    return Corpus(ids, vocab, counts, name=name or p.stem, digest=hashlib.sha256(raw).hexdigest()[:16])


def encode_documents(docs, vocab_cap: int, counts: collections.Counter | None = None):
    """Token documents -> (ids, vocab, vocab counts): the top ``vocab_cap`` words by frequency (ties
    alphabetical, so builds are deterministic) get ids 0..V-1, other words the OOV id V, and a pad id
    V + 1 closes every document so that context windows never cross documents. Shared by uploads and
    scripts/build_corpus.py, so both lay out the id stream identically."""
    counts = counts if counts is not None else collections.Counter(t for d in docs for t in d)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:vocab_cap]
    vocab = tuple(w for w, _ in ranked)
    index = {w: i for i, w in enumerate(vocab)}
    oov, pad = len(vocab), len(vocab) + 1
    stream: list[int] = []
    for d in docs:
        stream.extend(index.get(t, oov) for t in d)
        stream.append(pad)
    return np.asarray(stream, dtype=np.int64), vocab, np.asarray([c for _, c in ranked], dtype=np.int64)


def corpus_from_text(text: str, name: str = "upload", vocab_cap: int = 20_000) -> Corpus:
    """Tokenise user text (blank lines separate documents) into a :class:`Corpus`.

    Raises ConfigError("corpus", ...) when the text has fewer than ``MIN_TOKENS`` words or fewer
    than ``MIN_DISTINCT`` distinct words.
    """
    docs = [toks for part in _DOC_SPLIT.split(text) if (toks := tokenize(part))]
    n = sum(len(d) for d in docs)
    if n < MIN_TOKENS:
        raise ConfigError("corpus", f"must contain at least {MIN_TOKENS} words ([a-z]+ tokens)", n)
    counts = collections.Counter(t for d in docs for t in d)
    if len(counts) < MIN_DISTINCT:
        raise ConfigError("corpus", f"needs at least {MIN_DISTINCT} distinct words", len(counts))
    ids, vocab, vocab_counts = encode_documents(docs, vocab_cap, counts)
    digest = hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()[:16]
    return Corpus(
        ids.astype(np.int32),
        vocab,
        vocab_counts,
        name=name,
        digest=f"{digest}-{vocab_cap}",
    )


def decode_text(data: bytes) -> str:
    """UTF-8 text from bytes, a few undecodable bytes replaced (U+FFFD).

    ConfigError("corpus", "must be plain UTF-8 text") for binary data: any NUL byte, or more than
    ``MAX_UNDECODABLE_SHARE`` of the characters undecodable (a PDF, an image, a zip would otherwise
    be tokenised into letter fragments and train on noise).
    """
    if b"\x00" in data:
        raise ConfigError("corpus", "must be plain UTF-8 text", "binary data (NUL bytes)")
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.count("\ufffd".encode())  # genuine U+FFFD in the text is fine
    if text and bad > MAX_UNDECODABLE_SHARE * len(text):
        raise ConfigError("corpus", "must be plain UTF-8 text", f"{100 * bad / len(text):.0f}% undecodable bytes")
    return text


def read_text_corpus(path: str | Path, max_mb: float) -> Corpus:
    """A plain-text corpus file (:func:`decode_text`), capped at ``max_mb`` megabytes."""
    p = Path(path)
    size_mb = p.stat().st_size / 1e6
    if size_mb > max_mb:
        raise ConfigError("corpus", f"file must be at most {max_mb:g} MB", f"{size_mb:.1f} MB")
    return corpus_from_text(decode_text(p.read_bytes()), name=p.name)


def corpus_from_upload(data: bytes, name: str, max_mb: float) -> Corpus:
    """Uploaded bytes (the page's file uploader) through the same path as :func:`read_text_corpus`."""
    size_mb = len(data) / 1e6
    if size_mb > max_mb:
        raise ConfigError("corpus", f"upload must be at most {max_mb:g} MB", f"{size_mb:.1f} MB")
    return corpus_from_text(decode_text(data), name=name)
