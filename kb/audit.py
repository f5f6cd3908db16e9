"""The audit report for reviewers: every problem of a knowledge base, ranked by severity.

``build_audit(kb, graph) -> Audit`` reads the KnowledgeBase records and the evidence graph
(kb.graph: why, impact, single_source_claims, unsupported_claims, stats); it never re-derives
links from the YAML. The result is plain frozen dataclasses, rendered by templates/audit.*.j2
(``render_audit``) or dumped as JSON (``Audit.as_dict``).

At scale (100,000 claims give some 235,000 problems) the work stays linear: the wording patterns
are compiled once per word list, the evidence's certainty is looked up only for claims that use a
strong phrase, identical messages are composed once. The HTML page lists at most ``PAGE_LIMIT``
problems per code (``Audit.listing``, slices of the sorted problems) with complete counts; Markdown
and JSON list everything (docs/audit.md, "Large knowledge bases").

Problem codes, by severity (documented in docs/audit.md; stable, so CI can rely on them):

error    unsupported            the reviewer's verdict: the cited sources do not back the claim
         source-misdescribed    the article describes a source as something it is not
         no-support             no supporting evidence at all, directly or through summarised claims
         retracted              a cited reference was retracted (with the claims that lose support)
         unidentified-reference the cited work could not be identified (unverified, no DOI/PMID/URL)
warning  overstated             the claim says more, or more firmly, than its sources
         uncited                the article cites no source for the claim
         strong-wording         strong wording ("overtuigend", "proves") on low-certainty evidence
         expression-of-concern  a reference carries an expression of concern
         unverified-reference   the reference's identity or metadata is not confirmed
         metadata-discrepancy   the article's citation disagrees with the publication (bib ``discrepancy``)
         missing-doi            a cited reference has no DOI
info     single-source          all supporting evidence comes from one reference
         old-source             the reference is older than kb.yaml ``old_source_years``
         missing-pmid           a cited reference has no PMID
         correction             a reference was corrected
         draft-claim            the claim has not been reviewed yet
         unused-reference       no claim links to the reference
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from functools import lru_cache
from typing import Any

from . import graph as kbgraph
from .bib import RETRACTION_KINDS
from .errors import ConfigError, Location
from .model import CERTAINTIES, VERDICTS, KnowledgeBase
from .render import UI_LANGUAGES, ui_words
from .wording import Wording, load_wording

__all__ = [
    "CODES",
    "PAGE_LIMIT",
    "SEVERITIES",
    "Audit",
    "Chart",
    "ChartBar",
    "Coverage",
    "Problem",
    "Retraction",
    "Wording",
    "build_audit",
    "load_wording",
    "render_audit",
    "strong_phrases",
]

#: Severity levels, most severe first.
SEVERITIES = ("error", "warning", "info")
#: Every problem code with its severity, in report order within a severity.
CODES: dict[str, str] = {
    "unsupported": "error",
    "source-misdescribed": "error",
    "no-support": "error",
    "retracted": "error",
    "unidentified-reference": "error",
    "overstated": "warning",
    "uncited": "warning",
    "strong-wording": "warning",
    "expression-of-concern": "warning",
    "unverified-reference": "warning",
    "metadata-discrepancy": "warning",
    "missing-doi": "warning",
    "single-source": "info",
    "old-source": "info",
    "missing-pmid": "info",
    "correction": "info",
    "draft-claim": "info",
    "unused-reference": "info",
}
_CODE_ORDER = {code: i for i, code in enumerate(CODES)}
_SEVERITY_ORDER = {severity: i for i, severity in enumerate(SEVERITIES)}


# --------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True, slots=True)  # slots: a big knowledge base has hundreds of thousands of these
class Problem:
    """One finding. ``subject_kind`` is "claim" or "reference"; ``subject`` its id or key."""

    severity: str
    code: str
    subject_kind: str
    subject: str
    message: str
    #: Longer supporting text: the reviewer's reason, the bib discrepancy note...
    detail: str = ""
    #: Where to fix it: "claims/x.yaml:3" or "references/krachttraining.bib:12".
    location: str = ""
    #: The strong phrases that matched (strong-wording only), each "phrase (lang)".
    phrases: tuple[str, ...] = ()
    #: Related claims: those losing support (retractions), or citing the reference.
    claims: tuple[str, ...] = ()
    #: ``message`` in every interface language (data/i18n: audit.msg.*), for the reports.
    messages: dict[str, str] = field(default_factory=dict)
    #: The subject's page in the site built by ``kb build``, relative to the site root.
    href: str = ""

    @property
    def rank(self) -> tuple:
        return (_SEVERITY_ORDER[self.severity], _CODE_ORDER.get(self.code, 99), self.subject)

    def as_dict(self) -> dict[str, Any]:
        """What ``dataclasses.asdict`` gives (the same keys in the same order), built directly."""
        data = {name: getattr(self, name) for name in _PROBLEM_FIELDS}
        data["messages"] = dict(self.messages)
        return data


_PROBLEM_FIELDS = tuple(f.name for f in fields(Problem))
#: The order _problem_json writes the fields in (as_dict's order; checked before it is used).
_PROBLEM_JSON_ORDER = ("severity", "code", "subject_kind", "subject", "message", "detail", "location", "phrases", "claims", "messages", "href")
_PROBLEM_TEXT_FIELDS = ("severity", "code", "subject_kind", "subject", "message", "detail", "location", "href")
#: The JSON encoder's own string quoting (what json.dumps uses with ensure_ascii=False).
_quote = json.encoder.encode_basestring


@dataclass(frozen=True)
class ChartBar:
    key: str
    value: int
    #: Bar length as a share of the longest bar (0..1), and as a share of the total.
    length: float
    share: float


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart: the template draws it as SVG; labels are looked up as ``<prefix><key>``."""

    id: str
    label_prefix: str
    bars: tuple[ChartBar, ...]
    total: int


@dataclass(frozen=True)
class Coverage:
    claims: int
    references: int
    cited_in_article: int
    cited_share: float
    supported: int
    supported_share: float
    single_source: int
    unsupported: int
    most_relied_on: tuple[tuple[str, int], ...]
    references_by_study_type: dict[str, int]
    references_by_age: dict[str, int]
    as_of: int


@dataclass(frozen=True)
class Retraction:
    """A retracted / concerned / corrected reference and what rests on it (graph ``impact``)."""

    ref: str
    kind: str
    notice: str
    direct: tuple[str, ...]
    indirect: tuple[str, ...]
    orphaned: tuple[str, ...]


@dataclass(frozen=True)
class Audit:
    title: str
    problems: tuple[Problem, ...]
    coverage: Coverage
    charts: tuple[Chart, ...]
    retractions: tuple[Retraction, ...]
    counts: dict[str, int]
    by_code: dict[str, int]
    as_of: int
    old_source_years: int
    #: None: ``problems`` holds every problem. Else the number of problems of each code that
    #: ``problems`` keeps (the first of the code in report order; ``by_code`` and ``counts`` stay
    #: complete): the site's record of its audit page (``audit_record``), enough for ``listing`` up
    #: to that many per code, and for nothing that needs every problem.
    kept: dict[str, int] | None = None

    def _whole(self) -> None:
        if self.kept is not None:
            raise ValueError("this audit keeps only the first problems of each code (kb.audit.audit_from_record)")

    def at_or_above(self, level: str) -> tuple[Problem, ...]:
        """Problems of severity ``level`` or worse (``level`` in SEVERITIES)."""
        self._whole()
        limit = SEVERITIES.index(level)
        return tuple(p for p in self.problems if SEVERITIES.index(p.severity) <= limit)

    def by_severity(self, severity: str) -> tuple[Problem, ...]:
        self._whole()
        return tuple(p for p in self.problems if p.severity == severity)

    def listing(self, severity: str, limit: int = 0) -> list[tuple[str, list[tuple[int, Problem]], int]]:
        """The problems of ``severity`` for a page, per code in report order: ``(code, rows, hidden)``
        where ``rows`` are ``(number within the severity, from 1, problem)`` for the first ``limit``
        problems of the code (all when ``limit`` is 0) and ``hidden`` counts the ones left out.

        ``problems`` are in report order (build_audit sorts them by ``Problem.rank``), so each code's
        problems are one run whose length ``by_code`` gives: the page takes slices and never walks
        all the problems (there may be hundreds of thousands)."""
        listing = []
        start = number = 0
        for code, level in CODES.items():
            n = self.by_code.get(code, 0)
            have = n if self.kept is None else self.kept.get(code, 0)
            if level == severity and n:
                if have and (self.problems[start].code != code or self.problems[start + have - 1].code != code):
                    return self._listing_unsorted(severity, limit)
                shown = min(have, limit) if limit else have
                if shown < (min(n, limit) if limit else n):
                    raise ValueError(f"this audit keeps {have} of the {n} problems of {code}; {limit or 'all'} asked for")
                rows = self.problems[start:start + shown]
                listing.append((code, list(enumerate(rows, number + 1)), n - len(rows)))
                number += n
            start += have
        return listing

    def _listing_unsorted(self, severity: str, limit: int) -> list[tuple[str, list[tuple[int, Problem]], int]]:
        """``listing`` for problems that are not in report order (an Audit built by hand): one walk."""
        groups: dict[str, list[tuple[int, Problem]]] = {}
        for number, problem in enumerate(self.by_severity(severity), 1):
            groups.setdefault(problem.code, []).append((number, problem))
        return [(code, rows[:limit] if limit else rows, max(len(rows) - limit, 0) if limit else 0) for code, rows in groups.items()]

    def as_dict(self) -> dict[str, Any]:
        self._whole()
        data = self.as_dict_without_problems()
        data["problems"] = tuple(p.as_dict() for p in self.problems)
        return data

    def as_dict_without_problems(self) -> dict[str, Any]:
        """``as_dict`` with ``problems`` empty (the key in its place)."""
        data = asdict(replace(self, problems=()))  # dataclasses.asdict deep-copies field by field: slow for many problems
        del data["kept"]  # how much of the problems this object holds, not a part of the report
        data["coverage"]["most_relied_on"] = [{"ref": k, "claims": n} for k, n in self.coverage.most_relied_on]
        return {"kb_audit_version": 1, **data}


# --------------------------------------------------------------------------------------------
# The wording check


def _fold(text: str) -> str:
    """NFC, straight single quotes, every run of whitespace one space (none at the ends), case-folded."""
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.split()).casefold()


def audit_inputs(kb_root: str | None = None) -> str:
    """A digest of what ``build_audit`` reads besides the knowledge base and its graph: the year ages
    are counted from and the word lists. A site's manifest keeps it (kb/site.py), so that a build that
    remakes only a few pages (kb/siteupdate.py) knows when the audit page must be made again."""
    wording = load_wording(kb_root)
    blob = repr((date.today().year, sorted(wording.phrases.items()), sorted(wording.flag_when)))
    return hashlib.blake2b(blob.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def strong_phrases(text: str, phrases: tuple[str, ...]) -> list[str]:
    """The phrases found in ``text`` as whole words (case-insensitive), longest first; a phrase
    inside a longer match at the same place is not reported again."""
    return list(_matcher(tuple(phrases)).find(text))


class _PhraseMatcher:
    """``strong_phrases`` for one list of phrases, prepared once: each phrase's pattern compiled,
    in the order the phrases are tried (longest first), with a key word for a quick pre-check.

    ``find`` gives exactly what trying every pattern on the text would give: a phrase can only
    match where its key word (its longest folded word) occurs in the folded text, so the patterns
    of phrases whose key word is missing are skipped without changing the result; a text that
    contains no key word at all (the usual case) costs one search."""

    def __init__(self, phrases: tuple[str, ...]) -> None:
        self._patterns = []
        for phrase in sorted(set(phrases), key=lambda p: (-len(p), p)):
            words = _fold(phrase).split()
            pattern = re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)")
            self._patterns.append((phrase, max(words, key=len), pattern))
        keys = sorted({key for _, key, _ in self._patterns}, key=lambda k: (-len(k), k))
        # Any key word as a plain substring (what ``key in folded`` tests).
        self._any_key = re.compile("|".join(re.escape(k) for k in keys)) if keys else None

    def find(self, text: str) -> tuple[str, ...]:
        folded = _fold(text)
        if self._any_key is None or not self._any_key.search(folded):
            return ()
        spans: list[tuple[int, int, str]] = []
        for phrase, key, pattern in self._patterns:
            if key not in folded:
                continue
            for m in pattern.finditer(folded):
                if any(s <= m.start() and m.end() <= e for s, e, _ in spans):
                    continue
                spans.append((m.start(), m.end(), phrase))
        return tuple(dict.fromkeys(phrase for _, _, phrase in sorted(spans)))


@lru_cache(maxsize=16)
def _matcher(phrases: tuple[str, ...]) -> _PhraseMatcher:
    return _PhraseMatcher(phrases)


# --------------------------------------------------------------------------------------------
# Building the audit


def _compose(lang: str, parts: list[tuple[str, dict]]) -> str:
    """A problem message from interface-word templates (``audit.msg.<key>``, %-style parameters)."""
    words = ui_words(lang)
    return "".join(words[f"audit.msg.{key}"] % params if params else words[f"audit.msg.{key}"] for key, params in parts)


def _severity_counts(by_code: dict[str, int]) -> dict[str, int]:
    """Problems per severity, from problems per code."""
    return {s: sum(n for c, n in by_code.items() if CODES[c] == s) for s in SEVERITIES}


def _chart(chart_id: str, prefix: str, counts: dict[str, int]) -> Chart:
    total = sum(counts.values())
    biggest = max(counts.values(), default=0)
    bars = tuple(ChartBar(key=k, value=v, length=round(v / biggest, 4) if biggest else 0.0,
                          share=round(v / total, 4) if total else 0.0) for k, v in counts.items())
    return Chart(id=chart_id, label_prefix=prefix, bars=bars, total=total)


def _loc(location: Location) -> str:
    return str(location) if location.path else ""


#: The verdicts whose problem row shows the claim's verdict reason; no other row shows it (kb/site.py
#: ``claim_facets`` relies on this to know which edits can change the audit page).
REASON_SHOWN = frozenset({"unsupported", "source-misdescribed", "overstated", "uncited"})

#: The problem codes whose rows a claim's verdict and verdict reason decide (``_verdict_problems``):
#: the three verdicts that are problems, and ``uncited``, whose row shows the reason of an uncited claim.
VERDICT_CODES = ("unsupported", "source-misdescribed", "overstated", "uncited")


class _Adder:
    """``add(code, kind, subject, parts, **extra)``: append a Problem to ``problems``, composing its
    message in every interface language once per distinct message (many problems share one)."""

    def __init__(self, problems: list[Problem], page_name: Any) -> None:
        self.problems = problems
        self.page_name = page_name  # kb.site.reference_filename
        self.composed: dict[tuple, dict[str, str]] = {}

    def __call__(self, code: str, kind: str, subject: str, parts: list[tuple[str, dict]], **extra) -> None:
        key = tuple((part, tuple(params.items())) for part, params in parts)
        messages = self.composed.get(key)
        if messages is None:
            messages = self.composed[key] = {lang: _compose(lang, parts) for lang in UI_LANGUAGES}
        href = f"claims/{subject}.html" if kind == "claim" else f"references/{self.page_name(subject)}"
        self.problems.append(Problem(severity=CODES[code], code=code, subject_kind=kind, subject=subject, message=messages["en"],
                                     messages=messages, href=href, **extra))


def _verdict_problems(claim: Any, where: str, add: _Adder) -> None:
    """The problems of ``claim`` whose rows its verdict and verdict reason decide (``VERDICT_CODES``);
    they depend on nothing else but the claim's own evidence and derived_from (kb/site.py's quick update
    patches them after a verdict edit: ``patched_audit``)."""
    reason = claim.verdict_reason if claim.verdict in REASON_SHOWN else ""
    if claim.verdict in ("unsupported", "source-misdescribed", "overstated"):
        add(claim.verdict, "claim", claim.id, [(claim.verdict, {})], detail=reason, location=where)
    if not claim.derived_from and not any(ev.cited_in_article for ev in claim.evidence):
        added = sorted({ev.ref for ev in claim.evidence if not ev.cited_in_article})
        message = [("uncited", {})] + ([("uncited.added", {"refs": ", ".join(added)})] if added else [])
        add("uncited", "claim", claim.id, message, detail=reason if claim.verdict == "uncited" else "", location=where)


def build_audit(kb: KnowledgeBase, graph, *, as_of: int | None = None, wording: Wording | None = None) -> Audit:
    """Every problem of ``kb`` (ranked: error > warning > info, then by code and subject), coverage
    figures from ``kb.graph.stats`` and the two charts (claims by verdict, by certainty)."""
    from .site import reference_filename

    as_of = as_of or date.today().year
    wording = wording or load_wording(kb.root)
    stats = kbgraph.stats(kb, graph, as_of=as_of)
    single = set(stats.single_source)  # the same as kbgraph.single_source_claims / unsupported_claims, computed once
    unsupported = set(stats.unsupported)
    certainty_of = kbgraph.claim_certainties(graph)  # kbgraph.why(graph, id).certainty, for every claim at once
    problems: list[Problem] = []
    matchers = {lang: _matcher(tuple(wording.phrases.get(lang, ()))) for lang in ("nl", "en")}
    seen_wording: dict[tuple[str, str], tuple[str, ...]] = {}

    def wording_found(lang: str, text: str) -> tuple[str, ...]:
        """strong_phrases(text, wording.phrases[lang]) as "phrase (lang)", once per distinct text."""
        found = seen_wording.get((lang, text))
        if found is None:
            found = seen_wording[lang, text] = tuple(f"{p} ({lang})" for p in matchers[lang].find(text))
        return found

    add = _Adder(problems, reference_filename)

    # -- claims ---------------------------------------------------------------------------
    for claim in kb.claims.values():
        where = _loc(claim.location)
        _verdict_problems(claim, where, add)
        if claim.id in unsupported:
            add("no-support", "claim", claim.id, [("no-support", {})], location=where)
        if claim.id in single:
            (ref,) = kbgraph.supporting_refs(graph, claim.id)
            add("single-source", "claim", claim.id, [("single-source", {"ref": ref})], location=where)
        found = [f for lang in ("nl", "en") for f in wording_found(lang, claim.text.get(lang))]
        if found and (certainty := certainty_of[claim.id]) in wording.flag_when:
            quoted = ", ".join(dict.fromkeys(f'"{f.rsplit(" (", 1)[0]}"' for f in found))
            add("strong-wording", "claim", claim.id, [("strong-wording", {"phrases": quoted}), (f"strong-wording.{certainty}", {})],
                location=where, phrases=tuple(found))
        if claim.status == "draft":
            add("draft-claim", "claim", claim.id, [("draft-claim", {})], location=where)

    # -- references -------------------------------------------------------------------------
    citing = kb.citing_claims()
    retractions: list[Retraction] = []
    for ref in kb.references.values():
        where = _loc(ref.location)
        users = tuple(sorted(citing.get(ref.key, ())))
        used = bool(users)
        if ref.retraction in RETRACTION_KINDS:  # each kind is also the problem code
            effect = kbgraph.impact(graph, ref.key)
            retractions.append(Retraction(ref=ref.key, kind=ref.retraction, notice=ref.retraction_notice,
                                          direct=effect.direct, indirect=effect.indirect, orphaned=effect.orphaned))
            message = [(ref.retraction, {})]
            if effect.orphaned:
                message.append(("retraction.orphans", {"n": len(effect.orphaned)}))
            elif effect.direct or effect.indirect:
                message.append(("retraction.rests", {"n": len(effect.direct) + len(effect.indirect)}))
            add(ref.retraction, "reference", ref.key, message, detail=ref.retraction_notice, location=where,
                claims=effect.orphaned or effect.direct + effect.indirect)
        if not ref.verified:
            if not (ref.doi or ref.pmid or ref.url):
                add("unidentified-reference", "reference", ref.key, [("unidentified-reference", {})],
                    detail=ref.verification, location=where, claims=users)
            else:
                add("unverified-reference", "reference", ref.key, [("unverified-reference", {})],
                    detail=ref.verification, location=where, claims=users)
        if ref.discrepancy:
            add("metadata-discrepancy", "reference", ref.key, [("metadata-discrepancy", {})],
                detail=ref.discrepancy, location=where, claims=users)
        if used and not ref.doi:
            add("missing-doi", "reference", ref.key, [("missing-doi", {})], location=where, claims=users)
        if used and not ref.pmid:
            add("missing-pmid", "reference", ref.key, [("missing-pmid", {})], location=where, claims=users)
        if ref.year is not None and as_of - ref.year > kb.config.old_source_years:
            add("old-source", "reference", ref.key, [("old-source", {"year": ref.year, "age": as_of - ref.year, "limit": kb.config.old_source_years})],
                location=where, claims=users)
        if not used:
            add("unused-reference", "reference", ref.key, [("unused-reference", {})], location=where)

    problems.sort(key=lambda p: p.rank)
    tally = Counter(p.code for p in problems)
    counts = _severity_counts(tally)
    by_code = {c: tally[c] for c in CODES if tally[c]}
    coverage = Coverage(
        claims=stats.claims, references=stats.references, cited_in_article=stats.cited_in_article, cited_share=stats.cited_share,
        supported=stats.supported, supported_share=stats.supported_share, single_source=len(stats.single_source),
        unsupported=len(stats.unsupported), most_relied_on=tuple(stats.most_relied_on[:5]),
        references_by_study_type=dict(stats.references_by_study_type), references_by_age=dict(stats.references_by_age), as_of=as_of,
    )
    charts = (
        _chart("by-verdict", "verdict.", {v: stats.by_verdict.get(v, 0) for v in VERDICTS}),
        _chart("by-certainty", "certainty.", {c: stats.by_certainty.get(c, 0) for c in (*CERTAINTIES, "none")}),
    )
    return Audit(title=kb.config.title, problems=tuple(problems), coverage=coverage, charts=charts, retractions=tuple(retractions),
                 counts=counts, by_code=by_code, as_of=as_of, old_source_years=kb.config.old_source_years)


# --------------------------------------------------------------------------------------------
# The site's record of its audit page (kb/site.py, kb/siteupdate.py)

#: Reference problems whose ``claims`` are the claims citing the reference (``citing_claims``, sorted):
#: ``audit_record`` leaves them out and ``audit_from_record`` asks for them again.
_CITING_CODES = frozenset({"unidentified-reference", "unverified-reference", "metadata-discrepancy", "missing-doi",
                           "missing-pmid", "old-source"})


def audit_record(audit: Audit, keep: int) -> dict[str, Any] | None:
    """What the audit page of the site shows of ``audit``, as JSON values, for ``audit_from_record``:
    the first ``keep`` problems of each code, the complete counts, the figures, the charts and the
    retractions. A few hundred problems instead of every one (235,000 at 100,000 claims), and without
    the lists of citing claims, which the build's manifest has; None for an audit whose problems are
    not in report order (built by hand). A trimmed audit (``patched_audit``) gives what it keeps."""
    problems, kept, start = [], {}, 0
    for code in CODES:
        n = audit.by_code.get(code, 0)
        have = n if audit.kept is None else audit.kept.get(code, 0)
        run = audit.problems[start:start + have]
        if len(run) != have or any(p.code != code for p in run):
            return None
        kept[code] = min(have, keep)
        for p in run[:keep]:
            problems.append([p.code, p.subject_kind, p.subject, p.message, p.detail, p.location, list(p.phrases),
                             None if code in _CITING_CODES else list(p.claims), p.messages, p.href])
        start += have
    if start != len(audit.problems):
        return None
    coverage = asdict(audit.coverage)
    return {"title": audit.title, "as_of": audit.as_of, "old_source_years": audit.old_source_years, "coverage": coverage,
            "charts": [[c.id, c.label_prefix, {b.key: b.value for b in c.bars}] for c in audit.charts],
            "retractions": [asdict(r) for r in audit.retractions], "by_code": dict(audit.by_code), "kept": kept, "problems": problems}


def audit_from_record(record: dict[str, Any], citing: Any) -> Audit:
    """The (trimmed) Audit that ``audit_record`` recorded. ``citing(key)``: the ids of the claims citing
    a reference, sorted. Raises KeyError, TypeError or ValueError for a record not as written."""
    problems = []
    for code, kind, subject, message, detail, location, phrases, claims, messages, href in record["problems"]:
        problems.append(Problem(severity=CODES[code], code=code, subject_kind=kind, subject=subject, message=message, detail=detail,
                                location=location, phrases=tuple(phrases), claims=tuple(citing(subject) if claims is None else claims),
                                messages=dict(messages), href=href))
    coverage = dict(record["coverage"])
    coverage["most_relied_on"] = tuple((key, n) for key, n in coverage["most_relied_on"])
    by_code = {code: n for code, n in record["by_code"].items() if code in CODES}
    return Audit(title=record["title"], problems=tuple(problems), coverage=Coverage(**coverage),
                 charts=tuple(_chart(cid, prefix, counts) for cid, prefix, counts in record["charts"]),
                 retractions=tuple(Retraction(**{k: tuple(v) if isinstance(v, list) else v for k, v in r.items()})
                                   for r in record["retractions"]),
                 counts=_severity_counts(by_code), by_code=by_code,
                 as_of=record["as_of"], old_source_years=record["old_source_years"], kept=dict(record["kept"]))


def patched_audit(audit: Audit, changed: list[tuple[Any, str]], page_name: Any, need: int | None = None) -> Audit | None:
    """A trimmed ``audit`` (``audit_from_record``) after claims changed only in their verdict or verdict
    reason: ``changed`` holds (the claim as it is now, its verdict before). Their rows of
    ``VERDICT_CODES`` are made again (``_verdict_problems``, as ``build_audit`` makes them), the counts
    and the chart of verdicts follow; nothing else in an audit depends on a verdict or its reason
    (support and certainty come from the evidence). None when a code would keep fewer than ``need``
    (default ``PAGE_LIMIT``) problems while it has more (the rest were not recorded). ``page_name``:
    kb.site.reference_filename."""
    need = PAGE_LIMIT if need is None else need
    if audit.kept is None:
        raise ValueError("patched_audit works on a trimmed audit (audit_from_record)")
    runs: dict[str, list[Problem]] = {code: [] for code in CODES}
    for p in audit.problems:
        runs[p.code].append(p)
    by_code = {code: audit.by_code.get(code, 0) for code in CODES}
    verdicts = {bar.key: bar.value for chart in audit.charts if chart.id == "by-verdict" for bar in chart.bars}
    ids = {claim.id for claim, _ in changed}
    was_kept = {(p.code, p.subject) for code in VERDICT_CODES for p in runs[code] if p.subject in ids}
    complete = {code: len(runs[code]) == by_code[code] for code in CODES}
    for claim, old in changed:
        if old in VERDICT_CODES and old != "uncited":
            by_code[old] -= 1
        verdicts[old] = verdicts.get(old, 0) - 1
        verdicts[claim.verdict] = verdicts.get(claim.verdict, 0) + 1
    for code in VERDICT_CODES:
        runs[code] = [p for p in runs[code] if p.subject not in ids]
    made: list[Problem] = []
    add = _Adder(made, page_name)
    for claim, _ in changed:
        _verdict_problems(claim, _loc(claim.location), add)
    for p in made:
        run = runs[p.code]
        if p.code != "uncited":
            by_code[p.code] += 1  # an uncited row's existence does not depend on the verdict: only its detail does
        if complete[p.code] or (p.code, p.subject) in was_kept or (run and p.rank < run[-1].rank):
            run.append(p)
            run.sort(key=lambda q: q.rank)
    if any(by_code[code] < 0 or len(runs[code]) < min(by_code[code], need) for code in CODES):
        return None
    problems = tuple(p for code in CODES for p in runs[code])
    by_code = {code: n for code, n in by_code.items() if n}
    charts = tuple(_chart(c.id, c.label_prefix, {b.key: verdicts[b.key] for b in c.bars}) if c.id == "by-verdict" else c
                   for c in audit.charts)
    return replace(audit, problems=problems, by_code=by_code, charts=charts,
                   counts=_severity_counts(by_code),
                   kept={code: len(runs[code]) for code in CODES})


# --------------------------------------------------------------------------------------------
# Rendering


def audit_json(audit: Audit) -> str:
    """``json.dumps(audit.as_dict(), ensure_ascii=False, indent=2) + "\\n"``, byte for byte, faster:
    Python's JSON encoder is slow with ``indent`` (about 4 s for the 235,000 problems of 100,000
    claims), so the problems, all of one flat shape, are written here with the encoder's own string
    quoting; the rest of the report goes through ``json.dumps``."""
    marker = "\ue000problems\ue000"  # a private-use character: never in a title
    head = json.dumps({**audit.as_dict_without_problems(), "problems": marker}, ensure_ascii=False, indent=2)
    quoted = json.dumps(marker, ensure_ascii=False)
    if head.count(quoted) != 1 or _PROBLEM_FIELDS != _PROBLEM_JSON_ORDER or not all(_plain_problem(p) for p in audit.problems):
        return json.dumps(audit.as_dict(), ensure_ascii=False, indent=2) + "\n"
    body = ",\n".join(_problem_json(p) for p in audit.problems)
    return head.replace(quoted, f"[\n{body}\n  ]" if body else "[]") + "\n"


def _plain_problem(p: Problem) -> bool:
    return (all(type(getattr(p, name)) is str for name in _PROBLEM_TEXT_FIELDS)
            and all(type(v) is str for v in (*p.phrases, *p.claims)) and type(p.phrases) is tuple and type(p.claims) is tuple
            and type(p.messages) is dict and all(type(k) is str and type(v) is str for k, v in p.messages.items()))


def _json_list(items: tuple[str, ...], indent: str) -> str:
    if not items:
        return "[]"
    inner = indent + "  "
    return "[\n" + ",\n".join(inner + _quote(v) for v in items) + "\n" + indent + "]"


def _problem_json(p: Problem) -> str:
    """One problem as json.dumps(..., indent=2) writes it inside the report's "problems" list."""
    messages = ("{\n" + ",\n".join(f"        {_quote(k)}: {_quote(v)}" for k, v in p.messages.items()) + "\n      }") if p.messages else "{}"
    return (
        "    {\n"
        f'      "severity": {_quote(p.severity)},\n'
        f'      "code": {_quote(p.code)},\n'
        f'      "subject_kind": {_quote(p.subject_kind)},\n'
        f'      "subject": {_quote(p.subject)},\n'
        f'      "message": {_quote(p.message)},\n'
        f'      "detail": {_quote(p.detail)},\n'
        f'      "location": {_quote(p.location)},\n'
        f'      "phrases": {_json_list(p.phrases, "      ")},\n'
        f'      "claims": {_json_list(p.claims, "      ")},\n'
        f'      "messages": {messages},\n'
        f'      "href": {_quote(p.href)}\n'
        "    }"
    )


#: How many problems of each code (and claims per problem) an HTML page lists by default.
PAGE_LIMIT = 100


def render_audit(kb: KnowledgeBase, audit: Audit, fmt: str, *, lang: str | None = None, templates: str | None = None,
                 limit: int | None = None) -> str:
    """The audit as ``json``, ``md`` (templates/audit.md.j2) or a standalone ``html`` page
    (templates/audit.html.j2 with the site's stylesheet inlined). ``json`` and ``md`` hold every
    problem; the ``html`` page lists at most ``limit`` problems of each code and names at most
    ``limit`` claims per problem (default PAGE_LIMIT; 0: everything), with complete counts."""
    if fmt == "json":
        return audit_json(audit)
    from .handout import document_env, standalone_context
    from .render import render_template

    lang = lang or kb.config.language
    env = document_env(kb, templates)
    context = standalone_context(kb, env, lang, page="audit.html")
    if fmt == "md":
        return render_template(env, "audit.md.j2", {**context, "audit": audit})
    if fmt == "html":
        return render_template(env, "audit.html.j2", {**context, "audit": audit, "limit": PAGE_LIMIT if limit is None else limit})
    raise ConfigError(f"unknown audit format {fmt!r}", hint="expected md, json or html")
