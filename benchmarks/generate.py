#!/usr/bin/env python3
"""Generate a realistic, synthetic knowledge base of any size, for benchmarks.

    python benchmarks/generate.py --claims 1000 --refs 200 --seed 1 -o /tmp/kb1000

The result passes ``kb check`` with exit 0. It has the shape of a publisher's back catalogue:

* ``articles/aNNNNN.md``: one article per ~20 claims (Dutch health-blog prose, 3-6 sections, a
  conclusion), whose paragraphs contain every claim text verbatim, between filler sentences;
* ``claims/<id>.yaml``: one file per claim in the real format (schema/claim.schema.json), with
  1-3 evidence links to BibTeX keys (a few popular sources and a long tail), reviewer-added
  evidence, uncited claims, and summary claims in each conclusion that are ``derived_from`` earlier
  claims (sometimes from an earlier article, so the graph is connected across articles);
* ``references/library.bib``: every reference once, with realistic author lists (Dutch particles
  such as ``van der Berg``, LaTeX accents such as ``M{\\"u}ller``), journal, volume, pages, a DOI
  under the reserved test prefix 10.5555 (these works do not exist), study type and certainty.

Everything comes from one ``random.Random(seed)``: the same arguments give byte-identical files.
The data is synthetic: no title, DOI or finding in it describes a real publication.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import unicodedata
from pathlib import Path

CLAIMS_PER_ARTICLE = 20

# --- vocabulary ------------------------------------------------------------------------------

SUBJECTS = [
    ("krachttraining", "strength training"),
    ("weerstandstraining", "resistance training"),
    ("oefentherapie met weerstand", "exercise therapy with resistance"),
    ("gesuperviseerde looptraining", "supervised walking training"),
    ("balanstraining", "balance training"),
    ("aerobe training", "aerobic training"),
    ("een progressief oefenprogramma", "a progressive exercise programme"),
    ("hoog-intensieve intervaltraining", "high-intensity interval training"),
    ("neuromusculaire training", "neuromuscular training"),
    ("excentrische oefentherapie", "eccentric exercise therapy"),
    ("dagelijks wandelen", "daily walking"),
    ("tai chi", "tai chi"),
]
VERBS = [
    ("vermindert", "reduces"),
    ("verbetert", "improves"),
    ("verlaagt", "lowers"),
    ("vergroot", "increases"),
    ("beperkt", "limits"),
    ("versnelt het herstel van", "speeds recovery of"),
]
OBJECTS = [
    ("pijn", "pain"),
    ("de kans op vallen", "the risk of falling"),
    ("spierkracht", "muscle strength"),
    ("de botdichtheid", "bone density"),
    ("depressieve klachten", "depressive symptoms"),
    ("de slaapkwaliteit", "sleep quality"),
    ("functionele capaciteit", "functional capacity"),
    ("de kans op sportblessures", "the risk of sports injuries"),
    ("vermoeidheid", "fatigue"),
    ("stijfheid", "stiffness"),
    ("de loopsnelheid", "walking speed"),
    ("de kwaliteit van leven", "quality of life"),
]
POPULATIONS = [
    ("bij mensen met lage rugpijn", "in people with low back pain"),
    ("bij oudere volwassenen", "in older adults"),
    ("bij patiënten met knieartrose", "in patients with knee osteoarthritis"),
    ("bij recreatieve sporters", "in recreational athletes"),
    ("na een voorste kruisbandreconstructie", "after anterior cruciate ligament reconstruction"),
    ("bij mensen met fibromyalgie", "in people with fibromyalgia"),
    ("bij vrouwen na de menopauze", "in postmenopausal women"),
    ("bij kinderen en adolescenten", "in children and adolescents"),
    ("bij patiënten met chronische nekpijn", "in patients with chronic neck pain"),
    ("na een heupfractuur", "after a hip fracture"),
]
QUALIFIERS = [
    ("", ""),
    ("aanzienlijk ", "considerably "),
    ("duidelijk ", "clearly "),
    ("mogelijk ", "possibly "),
    ("op korte termijn ", "in the short term "),
]
FILLER = [
    "Dat is goed nieuws voor iedereen die wil blijven bewegen.",
    "In de praktijk zien we dit dagelijks terug.",
    "Toch blijft begeleiding door een deskundige belangrijk.",
    "Begin rustig en bouw de belasting geleidelijk op.",
    "Wat betekent dat voor jou?",
    "Niet elke oefening past bij iedereen.",
    "Vraag bij twijfel advies aan je kinesitherapeut.",
    "Het lichaam past zich aan wat je het vraagt.",
]
SECTION_TITLES = [
    ("Waarom bewegen werkt", "waarom"),
    ("Pijn en belasting", "pijn"),
    ("Herstel na een blessure", "herstel"),
    ("Minder kans op vallen", "vallen"),
    ("Mentale gezondheid", "mentaal"),
    ("Ouderen en kracht", "ouderen"),
    ("Veilig trainen", "veiligheid"),
    ("Sport en preventie", "preventie"),
]
TAGS = ["pain", "older-adults", "falls", "mental-health", "injury-prevention", "bone", "sleep", "function"]

# Family names: Dutch with particles (prefix, family), and international ones with LaTeX accents.
FAMILIES = [
    ("van der", "Berg"), ("de", "Vries"), ("van den", "Heuvel"), ("van", "Dijk"), ("ter", "Horst"),
    ("van der", "Meer"), ("de", "Jong"), ("van", "Leeuwen"), ("", "Jansen"), ("", "Bakker"),
    ("", "Visser"), ("", "Smit"), ("", "Mulder"), ("van", "Beek"), ("de", "Graaf"),
    ("", 'M{\\"u}ller'), ("", "Garc{\\'\\i}a"), ("", "S{\\o}rensen"), ("", "Nu{\\~n}ez"),
    ("", "Dvo{\\v{r}}{\\'a}k"), ("", "Lef{\\`e}vre"), ("", "Gon{\\c{c}}alves"), ("", "Kowalski"),
    ("", "Smith"), ("", "Nguyen"), ("", "Kim"), ("", "O'Brien"), ("", "Anders{\\'e}n"),
    ("", "Sch{\\\"a}fer"), ("", "Ba{\\l}dyga"), ("", "Ohlsson"), ("", "Tanaka"),
]
GIVEN = [
    "Jan", "Anne", "Pieter", "Sanne", "Maarten", "Eva", "Joris", "Lotte", "Koen", "Femke",
    "J{\\\"o}rg", "{\\'E}lodie", "Fran{\\c{c}}ois", "Bj{\\o}rn", "Mar{\\'\\i}a", "Ren{\\'e}e",
    "Sarah J.", "Michael", "Hiroshi", "Anna", "Lars", "Marta",
]
JOURNALS = [
    "British Journal of Sports Medicine", "Journal of Physiotherapy", "Physical Therapy",
    "Osteoarthritis and Cartilage", "Age and Ageing", "Sports Medicine", "Clinical Rehabilitation",
    "Nederlands Tijdschrift voor Geneeskunde", "Archives of Physical Medicine and Rehabilitation",
    "Journal of Orthopaedic {\\&} Sports Physical Therapy",
]
STUDY_TYPES = [
    ("systematic-review-meta-analysis", 30), ("randomised-trial", 25), ("systematic-review", 12),
    ("cohort-study", 10), ("narrative-review", 10), ("cochrane-overview", 4), ("guideline", 4),
    ("position-statement", 3), ("cross-sectional", 2),
]
CERTAINTIES = [("moderate", 30), ("low", 35), ("very-low", 15), ("high", 8), ("not-graded", 12)]
VERDICTS = [("supported", 50), ("overstated", 30), ("source-misdescribed", 10), ("unsupported", 10)]
LOCATORS = ["Abstract", "Results, table 2", "Discussion", "Authors' conclusions", "Figure 3", "Summary of findings"]


def _pick(rng: random.Random, weighted):
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _q(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain_family(family: str) -> str:
    """The family name without LaTeX, for in-text citations such as "(Muller et al.; 2019)"."""
    out = family
    for old, new in (('{\\"u}', "ü"), ("{\\'\\i}", "í"), ("{\\o}", "ø"), ("{\\~n}", "ñ"), ("{\\v{r}}", "ř"), ("{\\'a}", "á"),
                     ("{\\`e}", "è"), ("{\\c{c}}", "ç"), ("{\\'e}", "é"), ('{\\"a}', "ä"), ("{\\l}", "ł")):
        out = out.replace(old, new)
    return out


# --- references ------------------------------------------------------------------------------

def make_references(rng: random.Random, n: int) -> list[dict]:
    refs = []
    for i in range(n):
        count = rng.choice([1, 2, 2, 3, 3, 4, 5, 6, 8])
        authors = []
        for _ in range(count):
            prefix, family = rng.choice(FAMILIES)
            authors.append((prefix, family, rng.choice(GIVEN)))
        first_prefix, first_family, _ = authors[0]
        year = rng.randint(1995, 2025)
        ascii_name = unicodedata.normalize("NFKD", _plain_family(first_family)).encode("ascii", "ignore").decode()
        key = f"{''.join(c for c in ascii_name.lower() if c.isalpha())}{year}r{i}"
        refs.append({
            "key": key,
            "authors": authors,
            "year": year,
            "title": f"{rng.choice(SUBJECTS)[1].capitalize()} and {rng.choice(OBJECTS)[1]} {rng.choice(POPULATIONS)[1]}: "
                     f"a {'{Cochrane}' if rng.random() < 0.1 else 'pooled'} analysis of trial {i}",
            "journal": rng.choice(JOURNALS),
            "volume": str(rng.randint(1, 80)),
            "number": str(rng.randint(1, 12)),
            "pages": f"{(p := rng.randint(1, 900))}--{p + rng.randint(5, 20)}",
            "doi": f"10.5555/kb-bench.{i:06d}",
            "studytype": _pick(rng, STUDY_TYPES),
            "certainty": _pick(rng, CERTAINTIES),
            "cite": (f"{(first_prefix + ' ').lstrip().capitalize() if first_prefix else ''}{_plain_family(first_family)}"
                     f"{' et al.' if count > 2 else ''}; {year}"),
        })
    return refs


def bibtex(refs: list[dict]) -> str:
    out = ["% Synthetic references for kb benchmarks (benchmarks/generate.py). These works do not exist;",
           "% DOIs use the reserved test prefix 10.5555.", ""]
    for r in refs:
        names = " and ".join(f"{(p + ' ') if p else ''}{f}, {g}" for p, f, g in r["authors"])
        out.append(
            f"@article{{{r['key']},\n"
            f"  author = {{{names}}},\n"
            f"  title = {{{r['title']}}},\n"
            f"  journal = {{{r['journal']}}},\n"
            f"  year = {{{r['year']}}},\n"
            f"  volume = {{{r['volume']}}},\n"
            f"  number = {{{r['number']}}},\n"
            f"  pages = {{{r['pages']}}},\n"
            f"  doi = {{{r['doi']}}},\n"
            f"  studytype = {{{r['studytype']}}},\n"
            f"  verified = {{false}},\n"
            f"  verification = {{Synthetic benchmark entry; not a real publication.}},\n"
            f"  certainty = {{{r['certainty']}}}\n"
            f"}}\n"
        )
    return "\n".join(out)


# --- claims and articles ---------------------------------------------------------------------

def _evidence_yaml(ev: list[dict]) -> str:
    if not ev:
        return "evidence: []\n"
    lines = ["evidence:"]
    for e in ev:
        lines += [
            f"  - ref: {e['ref']}",
            f"    relation: {e['relation']}",
            f"    cited_in_article: {'true' if e['cited'] else 'false'}",
            f"    locator: {_q(e['locator'])}",
            f"    found: {_q(e['found'])}",
            f"    certainty: {e['certainty']}",
        ]
    return "\n".join(lines) + "\n"


def claim_yaml(c: dict) -> str:
    parts = [
        "# yaml-language-server: $schema=../schema/claim.schema.json\n",
        f"id: {c['id']}\n",
        f"article: {c['article']}\n",
        f"section: {c['section']}\n",
        f"kind: {c['kind']}\n",
        "text:\n",
        f"  nl: {_q(c['nl'])}\n",
        f"  en: {_q(c['en'])}\n",
    ]
    if c["tags"]:
        parts.append(f"tags: [{', '.join(c['tags'])}]\n")
    if c["derived_from"]:
        parts.append("derived_from:\n" + "".join(f"  - {d}\n" for d in c["derived_from"]))
    parts.append(_evidence_yaml(c["evidence"]))
    parts += [
        f"verdict: {c['verdict']}\n",
        f"verdict_reason: {_q(c['reason'])}\n",
        f"status: {c['status']}\n",
    ]
    if c["status"] == "reviewed":
        parts += [f"reviewer: {c['reviewer']}\n", f"reviewed_on: \"{c['reviewed_on']}\"\n"]
    return "".join(parts)


class _RefPicker:
    """Popular sources are cited often, most only once or twice (a Zipf-like long tail);
    every reference is cited at least once so that ``kb check`` reports no unused reference."""

    def __init__(self, rng: random.Random, n: int):
        self.rng, self.n = rng, n
        self.unused = list(range(n))
        rng.shuffle(self.unused)

    def pick(self, k: int) -> list[int]:
        chosen: list[int] = []
        while len(chosen) < k:
            if self.unused:
                i = self.unused.pop()
            else:
                i = min(int(self.rng.paretovariate(1.1)) - 1, self.n - 1)
                i = (i * 7919) % self.n  # spread the popular ones over the file
            if i not in chosen:
                chosen.append(i)
        return chosen


def generate(out: Path, n_claims: int, n_refs: int, seed: int) -> dict:
    rng = random.Random(seed)
    refs = make_references(rng, n_refs)
    by_key = {r["key"]: r for r in refs}
    picker = _RefPicker(rng, n_refs)
    n_articles = max(1, -(-n_claims // CLAIMS_PER_ARTICLE))
    if out.exists():
        shutil.rmtree(out)
    (out / "claims").mkdir(parents=True)
    (out / "references").mkdir()
    (out / "articles").mkdir()
    (out / "kb.yaml").write_text(
        "# yaml-language-server: $schema=schema/kb.schema.json\n"
        f"title: \"Synthetic benchmark knowledge base ({n_claims} claims)\"\n"
        "description: Generated by benchmarks/generate.py; not real content.\n"
        "languages: [nl, en]\nstyle: unsrt\nold_source_years: 15\n",
        encoding="utf-8",
    )
    all_ids: list[str] = []
    made = 0
    stats = {"claims": 0, "summary": 0, "uncited": 0, "evidence": 0, "derived_links": 0, "articles": n_articles}
    for a in range(n_articles):
        article_id = f"a{a:05d}"
        count = min(CLAIMS_PER_ARTICLE, n_claims - made)
        if count <= 0:
            break
        n_sections = rng.randint(3, 6)
        sections = rng.sample(SECTION_TITLES, n_sections)
        n_summary = 1 if count >= 4 else 0
        plain_count = count - n_summary
        body: dict[str, list[str]] = {sid: [] for _, sid in sections}
        body["conclusie"] = []
        article_claims: list[str] = []
        for j in range(count):
            summary = j >= plain_count
            sid = "conclusie" if summary else sections[j * n_sections // max(plain_count, 1)][1]
            cid = f"{article_id}-{sid}-c{j:02d}"
            (s_nl, s_en), (v_nl, v_en), (o_nl, o_en), (p_nl, p_en) = (
                rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(POPULATIONS))
            q_nl, q_en = rng.choice(QUALIFIERS)
            derived: list[str] = []
            evidence: list[dict] = []
            if summary:
                kind, verdict = "summary", _pick(rng, [("supported", 70), ("overstated", 30)])
                derived = rng.sample(article_claims, min(len(article_claims), rng.randint(2, 4)))
                if all_ids and rng.random() < 0.2:  # now and then, a summary also rests on an earlier article
                    other = all_ids[rng.randrange(len(all_ids))]
                    if other not in derived:
                        derived.append(other)
                nl = f"Samengevat {v_nl} {s_nl} {o_nl} {p_nl}."
                en = f"In summary, {s_en} {v_en} {o_en} {p_en}."
            else:
                kind = _pick(rng, [("empirical-finding", 70), ("mechanism", 15), ("practice-advice", 15)])
                uncited = rng.random() < 0.12
                k = 0 if uncited else rng.choice([1, 1, 1, 2, 2, 3])
                for ri in picker.pick(k):
                    r = refs[ri]
                    evidence.append({
                        "ref": r["key"], "relation": _pick(rng, [("supports", 50), ("partially-supports", 30), ("mentions", 12), ("disputes", 8)]),
                        "cited": True, "locator": rng.choice(LOCATORS), "certainty": r["certainty"],
                        "found": f"The authors report that {rng.choice(SUBJECTS)[1]} {rng.choice(VERBS)[1]} {rng.choice(OBJECTS)[1]} "
                                 f"{rng.choice(POPULATIONS)[1]} (n = {rng.randint(20, 4000)}).",
                    })
                if uncited and rng.random() < 0.3:  # a reviewer found a source the article does not cite
                    r = refs[picker.pick(1)[0]]
                    evidence.append({"ref": r["key"], "relation": "partially-supports", "cited": False, "locator": "Abstract",
                                     "certainty": r["certainty"], "found": "Added by the reviewer; bears on part of the claim."})
                verdict = "uncited" if uncited else _pick(rng, VERDICTS)
                cites = "; ".join(by_key[e["ref"]]["cite"] for e in evidence if e["cited"])
                nl = f"{s_nl[0].upper()}{s_nl[1:]} {v_nl} {q_nl}{o_nl} {p_nl}"
                en = f"{s_en[0].upper()}{s_en[1:]} {q_en}{v_en} {o_en} {p_en}"
                if cites:
                    nl += f" ({cites})"
                    en += f" ({cites})"
                nl += "."
                en += "."
            status = "reviewed" if rng.random() < 0.6 else "draft"
            claim = {
                "id": cid, "article": article_id, "section": sid, "kind": kind, "nl": nl, "en": en,
                "tags": sorted(rng.sample(TAGS, rng.randint(0, 2))), "derived_from": derived, "evidence": evidence,
                "verdict": verdict, "status": status, "reviewer": rng.choice(["JvdB", "SdV", "MK", "EL"]),
                "reviewed_on": f"{rng.randint(2019, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "reason": {"supported": "The sources support the claim as worded.",
                           "overstated": "The sources support a weaker statement than the article makes.",
                           "source-misdescribed": "The article describes the study design incorrectly.",
                           "unsupported": "The cited sources do not address this outcome.",
                           "uncited": "The article cites no source for this statement."}[verdict],
            }
            (out / "claims" / f"{cid}.yaml").write_text(claim_yaml(claim), encoding="utf-8")
            body[sid].append(nl)
            if rng.random() < 0.5:
                body[sid].append(rng.choice(FILLER))
            article_claims.append(cid)
            stats["claims"] += 1
            stats["summary"] += summary
            stats["uncited"] += verdict == "uncited"
            stats["evidence"] += len(evidence)
            stats["derived_links"] += len(derived)
        all_ids.extend(article_claims)
        made += count
        text = [
            "---",
            f"title: \"Wat je moet weten over bewegen, deel {a + 1}\"",
            "publisher: Synthetische Praktijk",
            "language: nl",
            "---",
            "",
        ]
        for title, sid in sections + [("Conclusie", "conclusie")]:
            if not body[sid] and sid != "conclusie":
                body[sid].append(rng.choice(FILLER))
            if not body[sid]:
                continue
            text += [f"## {title} {{#{sid}}}", ""]
            for start in range(0, len(body[sid]), 3):  # paragraphs of three sentences
                text += [" ".join(body[sid][start:start + 3]), ""]
        (out / "articles" / f"{article_id}.md").write_text("\n".join(text), encoding="utf-8")
    (out / "references" / "library.bib").write_text(bibtex(refs), encoding="utf-8")
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=1000, help="number of claims (default 1000)")
    parser.add_argument("--refs", type=int, default=None, help="number of references (default claims/5)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("-o", "--output", required=True, help="folder to create (replaced if it exists)")
    args = parser.parse_args(argv)
    n_refs = args.refs if args.refs is not None else max(1, args.claims // 5)
    if args.claims < 1 or n_refs < 1:
        parser.error("--claims and --refs must be at least 1")
    out = Path(args.output)
    if out.exists() and any(out.iterdir()) and not (out / "claims").is_dir():
        parser.error(f"{out} exists and does not look like a generated knowledge base; refusing to replace it")
    stats = generate(out, args.claims, n_refs, args.seed)
    print(f"{out}: {stats['claims']} claims ({stats['summary']} summaries, {stats['uncited']} uncited), "
          f"{stats['evidence']} evidence links, {stats['derived_links']} derived_from links, "
          f"{stats['articles']} articles, {n_refs} references", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
