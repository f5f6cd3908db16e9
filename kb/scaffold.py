"""``kb init DIR``: a new, valid knowledge base with one example of each file.

What it writes (each file only if it does not exist yet; a folder that already holds a knowledge
base, i.e. has ``kb.yaml`` or ``claims/``, is refused as a whole)::

    DIR/kb.yaml                          title, languages, citation style
    DIR/README.md                        what to do next
    DIR/articles/example.md              a three-sentence example article
    DIR/claims/example-exercise-chronic-pain.yaml   one reviewed claim about it
    DIR/references/example.bib           the work that claim cites (verified metadata)
    DIR/schema/claim.schema.json         the claim format, for editors (yaml-language-server)

The example reference is Geneen et al. 2017 with the metadata of this repository's
``references/krachttraining.bib`` (checked against PMC and the Cochrane Library).
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import KbError
from .output import write_atomic
from .resources import resource_dir

__all__ = ["EXAMPLE_CLAIM_ID", "init_kb"]

EXAMPLE_CLAIM_ID = "example-exercise-chronic-pain"

_ARTICLE = """---
title: "Example: exercise for chronic pain"
language: en
source: "written by kb init as an example; add your own article with kb extract, then delete this one"
---

## Exercise and chronic pain {#exercise}

Physical activity and exercise may improve pain severity and physical function in adults with chronic pain (Geneen et al., 2017). The authors of that overview judged the quality of the evidence low, mostly because the studies were small.
"""

_CLAIM = """# yaml-language-server: $schema=../schema/claim.schema.json
id: example-exercise-chronic-pain
article: example
section: exercise
kind: empirical-finding
text:
  nl: "Physical activity and exercise may improve pain severity and physical function in adults with chronic pain"
  en: "Physical activity and exercise may improve pain severity and physical function in adults with chronic pain"
derived_from: []
evidence:
  - ref: geneen2017
    relation: supports
    cited_in_article: true
    locator: "Authors' conclusions"
    found: "Physical activity and exercise may improve pain severity and physical function in adults with chronic pain, but results were inconsistent across the included reviews."
    certainty: low
verdict: supported
verdict_reason: "The sentence says 'may', as the overview's authors do; they rate the evidence as low quality."
status: draft
notes: "Example written by kb init. text.nl holds the article's own words whatever its language (kb check looks them up in the article); text.en the English."
"""

_BIB = """% Example reference written by kb init (metadata as verified in the kb repository's references/krachttraining.bib).
@article{geneen2017,
  author = {Geneen, Louise J. and Moore, R. Andrew and Clarke, Clare and Martin, Denis and Colvin, Lesley A. and Smith, Blair H.},
  title = {Physical activity and exercise for chronic pain in adults: an overview of {Cochrane} Reviews},
  journal = {Cochrane Database of Systematic Reviews},
  year = {2017},
  number = {4},
  eid = {CD011279},
  doi = {10.1002/14651858.cd011279.pub3},
  pmid = {28436583},
  pmcid = {PMC5461882},
  url = {https://doi.org/10.1002/14651858.CD011279.pub3},
  studytype = {cochrane-overview},
  verified = {true},
  certainty = {low}
}
"""

_README = """# {title}

A knowledge base for `kb`: claims in `claims/`, sources in `references/`, articles in `articles/`.
The `example` files show the format; delete them once you have your own.

Next steps:

1. `kb extract ARTICLE.md --bib REFERENCES.bib` drafts one claim per statement of your article
   (Markdown or plain text; BibTeX, CSL-JSON or RIS from your reference manager).
2. Review the drafts in `claims/` (relation, certainty, what each source found, verdict).
3. `kb check` validates everything; `kb build` renders the site into `build/`.
"""


def init_kb(directory: str | Path, *, title: str | None = None, language: str = "en") -> list[Path]:
    """Create a knowledge base in ``directory``; returns the files written. KbError if one is there already."""
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise KbError(f"{str(root)!r} exists and is not a folder")
    for marker in ("kb.yaml", "claims"):
        if (root / marker).exists():
            raise KbError(f"{str(root)!r} already holds a knowledge base ({marker} exists); nothing was changed",
                          hint="choose a new folder, or work in this one with kb --kb " + str(root))
    if language not in ("en", "nl"):
        raise KbError(f"unknown language {language!r}", hint="expected en or nl")
    title = title or root.resolve().name.replace("-", " ").replace("_", " ").strip().capitalize() or "Knowledge base"
    languages = ["en"] if language == "en" else ["nl", "en"]
    files = {
        "kb.yaml": (f"# yaml-language-server: $schema=schema/kb.schema.json\n"
                    f"title: {json.dumps(title, ensure_ascii=False)}\n"
                    f"languages: [{', '.join(languages)}]\n"
                    "style: apa\n"),
        "README.md": _README.format(title=title),
        "articles/example.md": _ARTICLE,
        f"claims/{EXAMPLE_CLAIM_ID}.yaml": _CLAIM,
        "references/example.bib": _BIB,
        "schema/claim.schema.json": (resource_dir("schema") / "claim.schema.json").read_text(encoding="utf-8"),
        "schema/kb.schema.json": (resource_dir("schema") / "kb.schema.json").read_text(encoding="utf-8"),
    }
    written = []
    for rel, text in files.items():
        path = root / rel
        if path.exists():
            continue
        write_atomic(path, text, force=False)
        written.append(path)
    for folder in ("claims", "references", "articles"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return written
