"""Sentence segmentation: abbreviations, decimals, initials, ellipses and citation markers never split."""

from pathlib import Path

import pytest

from kb.segment import split_sentences

DATA = Path(__file__).parent / "data"


def texts(paragraph, lang):
    return [s.text for s in split_sentences(paragraph, lang)]


@pytest.mark.parametrize("lang, paragraph, expected", [
    ("nl", "Dit helpt o.a. bij pijn, bijv. rugpijn. Het effect is groot.", ["Dit helpt o.a. bij pijn, bijv. rugpijn.", "Het effect is groot."]),
    ("nl", "Het effect is 2,5 keer zo groot. Soms 2.5 keer.", ["Het effect is 2,5 keer zo groot.", "Soms 2.5 keer."]),
    ("nl", "Dr. Jansen zegt het. Dat wisten we al. Nu weten we meer.", ["Dr. Jansen zegt het.", "Dat wisten we al.", "Nu weten we meer."]),
    ("nl", "Zie m.a.w. de review van Geneen et al. Die is breed.", ["Zie m.a.w. de review van Geneen et al. Die is breed."]),
    ("nl", "Volgens J. Smith is dat zo... maar niet altijd. Klopt dat?", ["Volgens J. Smith is dat zo... maar niet altijd.", "Klopt dat?"]),
    ("nl", "Het werkt (Geneen et al.; 2017; Lim et al.; 2024). Ook bij ouderen (≥60 jaar).",
     ["Het werkt (Geneen et al.; 2017; Lim et al.; 2024).", "Ook bij ouderen (≥60 jaar)."]),
    ("nl", "Dat is d.w.z. veilig. 's Morgens trainen kan ook.", ["Dat is d.w.z. veilig.", "'s Morgens trainen kan ook."]),
    ("en", "Exercise helps, e.g. for pain (Geneen et al., 2017). Effects were 2.5 times larger, i.e. large vs. small.",
     ["Exercise helps, e.g. for pain (Geneen et al., 2017).", "Effects were 2.5 times larger, i.e. large vs. small."]),
    ("en", "J. Smith agreed… but not fully. Then Dr. Lee spoke. It ended!", ["J. Smith agreed… but not fully.", "Then Dr. Lee spoke.", "It ended!"]),
    ("en", "Geneen et al. (2017) found it. \"Quoted.\" Next one.", ["Geneen et al. (2017) found it.", "\"Quoted.\"", "Next one."]),
    ("en", "It was seen in 2017. 2018 was different.", ["It was seen in 2017.", "2018 was different."]),
    ("en", "Ellipsis at the end... Then a new sentence.", ["Ellipsis at the end...", "Then a new sentence."]),
    ("en", "See the figure (p. 5. Table 2) for details. Done.", ["See the figure (p. 5. Table 2) for details.", "Done."]),
])
def test_split(lang, paragraph, expected):
    assert texts(paragraph, lang) == expected


def test_offsets_point_back_into_the_paragraph():
    paragraph = "  Eerste zin.   Tweede zin (Geneen et al.; 2017).  "
    for sentence in split_sentences(paragraph, "nl"):
        assert paragraph[sentence.start:sentence.end] == sentence.text


def test_seed_paragraph_about_older_adults():
    lines = (DATA / "krachttraining.txt").read_text(encoding="utf-8").splitlines()
    paragraph = next(l for l in lines if l.startswith("Het belang van krachttraining"))
    sentences = texts(paragraph, "nl")
    assert len(sentences) == 6
    assert sentences[2].startswith("Systematische reviews tonen overtuigend aan")
    assert sentences[2].endswith("(Seguin & Nelson; 2003; Hunter et al.; 2004; Kashi et al.; 2023).")
    assert sentences[4].startswith("Ook vermindert krachttraining")


def test_empty_text_has_no_sentences():
    assert split_sentences("   ", "en") == []


from hypothesis import given, settings, strategies as st  # noqa: E402

from kb.citations import find_markers  # noqa: E402

_PIECES = st.sampled_from(list("abcXYZ .,;:!?()[]-\n'\"0129éü…") + ["et al.", "(Smith, 2019)", "Dr. ", "e.g. ", "2.5", "J. "])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=80).map("".join), st.sampled_from(["nl", "en"]))
def test_sentences_cover_the_text_in_order(text, lang):
    sentences = split_sentences(text, lang)
    last = 0
    for sentence in sentences:
        assert text[sentence.start:sentence.end] == sentence.text and sentence.start >= last
        last = sentence.end
    assert "".join(text.split()) == "".join("".join(s.text for s in sentences).split())
    for marker in find_markers(text):
        assert 0 <= marker.start <= marker.end <= len(text)
