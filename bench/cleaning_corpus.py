"""Synthetic English-like corpus with planted bad documents, exact duplicates and near-duplicates.

Writes `<stem>.jsonl` (one `{"id", "text"}` object per line), `<stem>.labels.tsv` (id, kind, detail,
family) and `<stem>.pairs.tsv` (every pair of documents inside a planted family, with its exact
Jaccard over word 5-gram shingles, `cleaning_rules.shingles`). Deterministic for a given seed and
size (one `random.Random` per writer).

Documents (~3 KB): 280–520 words drawn from a Zipf–Mandelbrot distribution over a 30,000-word
vocabulary whose head is ~600 real English words (function words first, so Gopher's stop-word rule
holds) and whose tail is derived from them (suffixes, compounds),
sentences of 6–24 words with commas and terminal punctuation, 3–7 sentences per paragraph,
paragraphs separated by a blank line, one in five documents with a bullet list. Good documents pass
every Gopher/C4/FineWeb rule of `cleaning_rules.rule_failures`.

What is planted, per generation unit (a unit is one document or one family):

- `bad` (8% of units): a document built to fail one rule family — `too_short`, `lorem_ipsum`,
  `javascript`, `curly_braces`, `bullets`, `ellipsis`, `repeated_lines`, `repeated_paragraphs`,
  `symbols`, `non_alpha` (label `detail` = the type; `BAD_RULES` = the rules it must fail).
- `exact` (4%): a document plus 1–2 copies — byte-identical, whitespace-changed (doubled spaces,
  trailing blanks) or case-changed (lower-cased). Their shingle Jaccard is 1.
- `near` (5%): a base document plus 1–4 variants, each made by word-level edits (substitution,
  insertion, deletion, equally likely) at an edit rate from `EDIT_RATES` (edits / words). With
  5-gram shingles an edit rate of ~2.5% lands near Jaccard 0.75, so families straddle the threshold.
- otherwise one unique good document.

Documents are shuffled within blocks of 2,000 and numbered `doc-000000001`… in output order.
`--append` writes an increment (`inc-…` ids, 1% of the corpus by default) whose near/exact
documents are copies or variants of existing unique good documents; its pairs go to its own
`.pairs.tsv`.

    .venv/bin/python bench/cleaning_corpus.py --docs 100000 --out /tmp/refinery-bench/cleaning-100000-7
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cleaning_rules import jaccard, shingles

SEED = 7
VOCAB_SIZE = 30_000
BLOCK = 2_000
EDIT_RATES = (0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.10, 0.20, 0.30)
P_BAD, P_EXACT, P_NEAR = 0.08, 0.04, 0.05
BAD_TYPES = (
    "too_short",
    "lorem_ipsum",
    "javascript",
    "curly_braces",
    "bullets",
    "ellipsis",
    "repeated_lines",
    "repeated_paragraphs",
    "symbols",
    "non_alpha",
)
# The rule (cleaning_rules names) each bad type must fail; it may fail others too.
BAD_RULES = {
    "too_short": "gopher_word_count",
    "lorem_ipsum": "c4_lorem_ipsum",
    "javascript": "c4_too_few_sentences",
    "curly_braces": "c4_curly_bracket",
    "bullets": "gopher_bullet_lines",
    "ellipsis": "gopher_ellipsis_lines",
    "repeated_lines": "gopher_dup_line_frac",
    "repeated_paragraphs": "gopher_dup_para_frac",
    "symbols": "gopher_symbol_word_ratio",
    "non_alpha": "gopher_alpha_words",
}

HEAD = """the of and to a in is that for it as was with be by on not he i this are or his from at which but have
an they you were her she there one all we their been has would when who will more no if out so said what
up its about into than them can only other new some could time these two may then do first any my now
such like our over man me even most made after also did many before must through back years where much
your way well down should because each just those people how too little state good very make world still
own see men work long here get both between life being under never day same another know while last
might us great old year off come since against go came right used take three states himself few house
use during without again place around however home small found thought went say part once general high
upon school every does got united left number course war until always away something fact though water
less public put think almost hand enough far took head yet government system better set told nothing
night end why called did eyes find going look asked later knew point next city business give group
toward young let room president side social given present several order national possible rather second
face per among form important often things looked early white case john become large big need four
within felt along children saw best church ever least power development light thing seemed family
interest want members mind country area others done turned although open god service certain kind
problem began different door thus help sense means whole matter perhaps itself york times human law line
above name example action company hands local show whether five history gave today either act feet
across taken past quite anything having seen death experience body word half really field am car words
already themselves information tell together college shall money period held keep sure real probably
free seems political cannot behind miss question air office making brought whose special heard major
problems ago became federal study available known result street economic boy position reason change
south board individual job areas society west close turn love community true court force full seem am
front music market policy data river report""".split()  # noqa: SIM905 — a word list reads better as text
SUFFIXES = ("s", "ing", "ed", "er", "ers", "ly", "ness", "ment", "ful", "less", "able", "ish", "ward", "ist", "ism")
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore."
JS_LINES = [
    "Please enable JavaScript in your browser to see the {} {} page.",
    "JavaScript is disabled, so the {} {} widget cannot load here.",
    "This {} site needs JavaScript to show the {} content.",
    "Turn on JavaScript to read {} comments about the {}.",
]


def vocabulary(seed: int) -> list[str]:
    """The head is real English in rough frequency order; the tail is made of it (English-looking to a
    language identifier): a head word plus an English suffix, or two head words compounded."""
    rng = random.Random(seed)
    words = list(dict.fromkeys(HEAD))
    seen = set(words)
    content = [w for w in words if len(w) >= 3]
    while len(words) < VOCAB_SIZE:
        first = rng.choice(content)
        word = first + (rng.choice(SUFFIXES) if rng.random() < 0.4 else rng.choice(content))
        if word not in seen and len(word) <= 14:
            seen.add(word)
            words.append(word)
    return words


class Writer:
    """Makes documents; all randomness comes from one random.Random."""

    def __init__(self, seed: int) -> None:
        self.words = vocabulary(seed)
        self.cum_weights = list(itertools.accumulate(1.0 / (rank + 2.7) for rank in range(1, len(self.words) + 1)))
        self.rng = random.Random(seed + 1)

    def draw(self, n: int) -> list[str]:
        """n words from the Zipf–Mandelbrot distribution p(rank) ∝ 1 / (rank + 2.7)."""
        return self.rng.choices(self.words, cum_weights=self.cum_weights, k=n)

    def sentence(self, n: int | None = None) -> str:
        rng = self.rng
        tokens = self.draw(n or rng.randint(6, 24))
        for i in range(2, len(tokens) - 2):
            if rng.random() < 0.06:
                tokens[i] += ","
        end = rng.choices((".", "?", "!"), (0.9, 0.06, 0.04))[0]
        return tokens[0].capitalize() + (" " + " ".join(tokens[1:]) if len(tokens) > 1 else "") + end

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(3, 7)))

    def bullet_list(self) -> str:
        items = [f"- {self.sentence(self.rng.randint(6, 14))}" for _ in range(self.rng.randint(3, 6))]
        return "\n".join(items)

    def good(self) -> str:
        target = self.rng.randint(280, 520)
        blocks: list[str] = []
        count = 0
        while count < target:
            block = self.bullet_list() if blocks and self.rng.random() < 0.05 else self.paragraph()
            blocks.append(block)
            count += len(block.split())
        return "\n\n".join(blocks)

    # -- bad documents: each fails the rule in BAD_RULES -----------------------------------------
    def bad(self, kind: str) -> str:
        rng = self.rng
        if kind == "too_short":
            return self.sentence(rng.randint(10, 20)) + " " + self.sentence(rng.randint(8, 16))
        if kind == "lorem_ipsum":
            blocks = self.good().split("\n\n")
            blocks.insert(rng.randint(0, len(blocks)), LOREM + " " + self.sentence())
            return "\n\n".join(blocks)
        if kind == "javascript":
            lines = [rng.choice(JS_LINES).format(*self.draw(2)) for _ in range(rng.randint(8, 12))]
            return self.sentence(14) + " " + self.sentence(14) + "\n" + "\n".join(lines)
        if kind == "curly_braces":
            blocks = self.good().split("\n\n")
            code = f'The {self.draw(1)[0]} setting {{"mode": "{self.draw(1)[0]}", "level": 3}} was applied.'
            blocks.insert(rng.randint(0, len(blocks)), code)
            return "\n\n".join(blocks)
        if kind == "bullets":
            return "\n".join(f"- {self.sentence(rng.randint(6, 12))}" for _ in range(rng.randint(30, 50)))
        if kind == "ellipsis":
            lines = [self.sentence(rng.randint(8, 14))[:-1] + "..." for _ in range(rng.randint(12, 20))]
            lines += [self.sentence() for _ in range(rng.randint(3, 6))]
            rng.shuffle(lines)
            return "\n".join(lines)
        if kind == "repeated_lines":
            distinct = [self.sentence() for _ in range(rng.randint(4, 6))]
            return "\n".join(rng.choice(distinct) for _ in range(rng.randint(25, 40)))
        if kind == "repeated_paragraphs":
            distinct = [self.paragraph() for _ in range(3)]
            return "\n\n".join(distinct * 3)
        if kind == "symbols":
            tokens = self.good().split(" ")
            return " ".join("#" + t if i % 4 == 0 else t for i, t in enumerate(tokens))
        if kind == "non_alpha":
            tokens = self.good().split(" ")
            return " ".join(f"{rng.randint(10, 99999):,}" if i % 3 == 0 else t for i, t in enumerate(tokens))
        raise ValueError(kind)

    # -- duplicates ----------------------------------------------------------------------------------
    def exact_copy(self, text: str, how: str) -> str:
        if how == "identical":
            return text
        if how == "case":
            return text.lower()
        # whitespace: doubled spaces at random places, trailing blanks on some lines
        lines = []
        for line in text.split("\n"):
            tokens = line.split(" ")
            line = "".join(t + (" " * self.rng.choice((1, 1, 1, 2, 3))) for t in tokens).rstrip(" ")
            lines.append(line + (" " if self.rng.random() < 0.2 else ""))
        return "\n".join(lines)

    def edit(self, text: str, rate: float) -> str:
        """Word-level edits: substitutions, insertions, deletions, round(rate * words) in all (at least one)."""
        lines = [line.split(" ") for line in text.split("\n")]
        positions = [(li, ti) for li, line in enumerate(lines) for ti, tok in enumerate(line) if tok]
        edits = max(1, round(rate * len(positions)))
        chosen = sorted(self.rng.sample(range(len(positions)), edits), reverse=True)
        new_words = self.draw(edits)
        for k, pos in enumerate(chosen):
            li, ti = positions[pos]
            token = lines[li][ti]
            op = self.rng.randrange(3)
            if op == 0:  # substitute, keeping trailing punctuation
                stripped = token.rstrip(".,?!")
                lines[li][ti] = new_words[k] + token[len(stripped) :]
            elif op == 1:  # insert after, moving the token's trailing punctuation to the new word
                stripped = token.rstrip(".,?!")
                lines[li][ti] = stripped
                lines[li].insert(ti + 1, new_words[k] + token[len(stripped) :])
            elif len([t for t in lines[li] if t]) > 1 and ti > 0:  # delete (never a line's first token)
                punct = token[len(token.rstrip(".,?!")) :]
                del lines[li][ti]
                lines[li][ti - 1] += punct
            else:  # a line's first token is never deleted: insert before it instead
                lines[li].insert(ti, new_words[k])
        return "\n".join(" ".join(line) for line in lines)


def units(writer: Writer, prefix: str = "") -> Iterator[list[tuple[str, str, str, str, float]]]:
    """Endless generation units: lists of (text, kind, detail, family, rate)."""
    rng = writer.rng
    family = 0
    while True:
        roll = rng.random()
        if roll < P_BAD:
            kind = rng.choice(BAD_TYPES)
            yield [(writer.bad(kind), "bad", kind, "", 0.0)]
            continue
        base = writer.good()
        if roll < P_BAD + P_EXACT:
            family += 1
            fam = f"{prefix}x{family}"
            members = [(base, "exact", "base", fam, 0.0)]
            for _ in range(rng.randint(1, 2)):
                how = rng.choice(("identical", "whitespace", "case"))
                members.append((writer.exact_copy(base, how), "exact", how, fam, 0.0))
            yield members
        elif roll < P_BAD + P_EXACT + P_NEAR:
            family += 1
            fam = f"{prefix}n{family}"
            members = [(base, "near", "base", fam, 0.0)]
            for _ in range(rng.randint(1, 4)):
                rate = rng.choice(EDIT_RATES)
                members.append((writer.edit(base, rate), "near", f"rate={rate}", fam, rate))
            yield members
        else:
            yield [(base, "good", "", "", 0.0)]


def family_pairs(members: list[tuple[str, str, str, str]]) -> list[tuple[str, str, str, float]]:
    """All pairs (id_a < id_b) inside one family, with their exact shingle Jaccard. members: (id, text, detail, fam)."""
    sets = {doc_id: shingles(text) for doc_id, text, _, _ in members}
    details = {doc_id: detail for doc_id, _, detail, _ in members}
    out = []
    for (a, *_), (b, *_) in itertools.combinations(sorted(members), 2):
        out.append((a, b, members[0][3], f"{details[a]}|{details[b]}", jaccard(sets[a], sets[b])))
    return out


def generate(stem: Path, docs: int, seed: int = SEED) -> dict:
    """Write `stem`.jsonl/.labels.tsv/.pairs.tsv with exactly `docs` documents; returns summary stats."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    writer = Writer(seed)
    gen = units(writer)
    tmp = {ext: stem.with_name(stem.name + ext + ".tmp") for ext in (".jsonl", ".labels.tsv", ".pairs.tsv")}
    stats = {"docs": 0, "bytes": 0, "text_bytes": 0, "kinds": {}, "pairs": 0, "pairs_ge_075": 0}
    pending: list = []
    with (
        tmp[".jsonl"].open("w", encoding="utf-8") as out,
        tmp[".labels.tsv"].open("w", encoding="utf-8") as labels,
        tmp[".pairs.tsv"].open("w", encoding="utf-8") as pairs,
    ):
        labels.write("id\tkind\tdetail\tfamily\n")
        pairs.write("id_a\tid_b\tfamily\tdetails\tjaccard\n")
        while stats["docs"] < docs:
            block: list = []
            while len(block) < min(BLOCK, docs - stats["docs"]):
                unit = next(gen)
                block.extend(unit[: min(BLOCK, docs - stats["docs"]) - len(block)])
            writer.rng.shuffle(block)
            families: dict[str, list] = {}
            for text, kind, detail, fam, _rate in block:
                stats["docs"] += 1
                doc_id = f"doc-{stats['docs']:09d}"
                line = json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n"
                out.write(line)
                stats["bytes"] += len(line.encode())
                stats["text_bytes"] += len(text.encode())
                stats["kinds"][kind] = stats["kinds"].get(kind, 0) + 1
                labels.write(f"{doc_id}\t{kind}\t{detail}\t{fam}\n")
                if fam:
                    families.setdefault(fam, []).append((doc_id, text, detail, fam))
            pending = [m for m in families.values() if len(m) > 1]
            for members in pending:
                for a, b, fam, details, jac in family_pairs(members):
                    pairs.write(f"{a}\t{b}\t{fam}\t{details}\t{jac:.6f}\n")
                    stats["pairs"] += 1
                    stats["pairs_ge_075"] += jac >= 0.75
    for ext, path in tmp.items():
        path.replace(stem.with_name(stem.name + ext))
    stem.with_name(stem.name + ".stats.json").write_text(json.dumps(stats, indent=1))
    return stats


def read_jsonl(path: Path):
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def generate_increment(stem: Path, base_stem: Path, fraction: float = 0.01, seed: int = SEED + 1000) -> dict:
    """An increment of `fraction` × the corpus: new ids; near/exact members are variants of existing good docs."""
    labels = {}
    with base_stem.with_name(base_stem.name + ".labels.tsv").open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            doc_id, kind, *_ = line.rstrip("\n").split("\t")
            labels[doc_id] = kind
    total = len(labels)
    count = max(10, round(total * fraction))
    writer = Writer(seed)
    rng = writer.rng
    good_ids = sorted(i for i, k in labels.items() if k == "good")
    picked = set(rng.sample(good_ids, max(2, count // 10)))  # ~10% of the increment copies/edits old docs
    originals = {
        doc["id"]: doc["text"]
        for doc in read_jsonl(base_stem.with_name(base_stem.name + ".jsonl"))
        if doc["id"] in picked
    }
    docs: list[tuple[str, str, str, str, str | None]] = []  # id, text, kind, detail, original id
    n = 0
    for orig_id in sorted(picked):
        n += 1
        if rng.random() < 0.7:
            rate = rng.choice(EDIT_RATES)
            docs.append((f"inc-{n:07d}", writer.edit(originals[orig_id], rate), "near", f"rate={rate}", orig_id))
        else:
            how = rng.choice(("identical", "whitespace", "case"))
            docs.append((f"inc-{n:07d}", writer.exact_copy(originals[orig_id], how), "exact", how, orig_id))
    gen = units(writer, prefix="inc-")
    while len(docs) < count:
        for text, kind, detail, _fam, _rate in next(gen)[:1]:  # singletons only: no new in-increment families
            n += 1
            docs.append(
                (f"inc-{n:07d}", text, kind if kind == "bad" else "good", detail if kind == "bad" else "", None)
            )
    stats = {"docs": 0, "bytes": 0, "text_bytes": 0, "pairs": 0, "pairs_ge_075": 0}
    with (
        stem.with_name(stem.name + ".jsonl").open("w", encoding="utf-8") as out,
        stem.with_name(stem.name + ".labels.tsv").open("w", encoding="utf-8") as lab,
        stem.with_name(stem.name + ".pairs.tsv").open("w", encoding="utf-8") as pairs,
    ):
        lab.write("id\tkind\tdetail\tfamily\n")
        pairs.write("id_a\tid_b\tfamily\tdetails\tjaccard\n")
        for doc_id, text, kind, detail, orig in docs:
            line = json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n"
            out.write(line)
            stats["docs"] += 1
            stats["bytes"] += len(line.encode())
            stats["text_bytes"] += len(text.encode())
            lab.write(f"{doc_id}\t{kind}\t{detail}\t{'inc:' + orig if orig else ''}\n")
            if orig:
                jac = jaccard(shingles(originals[orig]), shingles(text))
                a, b = sorted((orig, doc_id))
                pairs.write(f"{a}\t{b}\tinc:{orig}\tbase|{detail}\t{jac:.6f}\n")
                stats["pairs"] += 1
                stats["pairs_ge_075"] += jac >= 0.75
    return stats


def corpus_stem(workdir: Path, docs: int, seed: int = SEED) -> Path:
    return workdir / f"cleaning-{docs}-{seed}"


def ensure_corpus(workdir: Path, docs: int, seed: int = SEED, say=print) -> Path:
    """The cached corpus for (docs, seed), generated on first use."""
    stem = corpus_stem(workdir, docs, seed)
    if not stem.with_name(stem.name + ".stats.json").exists():
        say(f"generating {stem}.jsonl …")
        generate(stem, docs, seed)
    return stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, help="number of documents")
    parser.add_argument("--mb", type=float, help="instead of --docs: about this many MB of JSONL (3.1 KB/doc)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, required=True, help="output stem (writes <stem>.jsonl etc.)")
    parser.add_argument("--append", type=Path, help="write an increment of this corpus stem instead")
    parser.add_argument("--fraction", type=float, default=0.01, help="with --append: increment size")
    args = parser.parse_args()
    if args.append:
        print(json.dumps(generate_increment(args.out, args.append, args.fraction)))
        return
    docs = args.docs or round((args.mb or 300) * 1e6 / 3100)
    print(json.dumps(generate(args.out, docs, args.seed)))


if __name__ == "__main__":
    main()
