from __future__ import annotations

from mdrcds.knowledge.names import normalise_name
from mdrcds.knowledge.terminology import Code, Concept, Member, Terminology, ValueSet

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def terminology() -> Terminology:
    return Terminology(
        [
            ValueSet(
                "inhibitors",
                "Inhibitors",
                ("medication",),
                (
                    Member("quinidine", (Code("rxnorm", "9068"),)),
                    Member("cyclosporine", (Code("rxnorm", "3008"),), synonyms=("ciclosporin",)),
                    Member("lopinavir", (Code("rxnorm", "195088"),)),
                    Member("ritonavir", (Code("rxnorm", "85762"),)),
                ),
            ),
            ValueSet(
                "genes", "Genes", ("gene",), (Member("ABCB1", (Code("hgnc", "HGNC:40"),), match_name=False),)
            ),
        ]
    )


def test_code_match_records_the_code() -> None:
    [match] = terminology().classify(Concept(((RXNORM, "9068", "quinidine"),)), "medication")
    assert (match.member.name, match.matched_by, match.code) == ("quinidine", "code", "rxnorm 9068")


def test_product_display_matches_by_whole_word_name() -> None:
    concept = Concept(((RXNORM, "999999", "Quinidine Sulfate 200 MG Oral Tablet"),))
    [match] = terminology().classify(concept, "medication")
    assert (match.member.name, match.matched_by) == ("quinidine", "name")


def test_name_inside_another_word_does_not_match() -> None:
    assert terminology().classify(Concept((), "Quinidinex 5 mg"), "medication") == []
    assert terminology().classify(Concept((), "hydroxyquinidine"), "medication") == []


def test_synonym_and_multi_ingredient_text() -> None:
    t = terminology()
    assert [m.member.name for m in t.classify(Concept((), "Ciclosporin 25mg capsule"), "medication")] == [
        "cyclosporine"
    ]
    names = [
        m.member.name for m in t.classify(Concept((), "Lopinavir 200 MG / Ritonavir 50 MG"), "medication")
    ]
    assert names == ["lopinavir", "ritonavir"]


def test_code_match_wins_over_name_match_for_the_same_member() -> None:
    concept = Concept(((RXNORM, "3008", "cyclosporine"),), "cyclosporine capsule")
    [match] = terminology().classify(concept, "medication")
    assert match.matched_by == "code"


def test_hgnc_with_and_without_prefix() -> None:
    t = terminology()
    for code in ("HGNC:40", "40", "hgnc:40"):
        [match] = t.classify(Concept((("http://www.genenames.org", code, None),)), "gene")
        assert match.member.name == "ABCB1"


def test_kinds_are_separate() -> None:
    assert terminology().classify(Concept((), "quinidine"), "condition") == []
    assert terminology().classifies("gene") and not terminology().classifies("procedure")


def test_normalise_name_folds_punctuation_and_case() -> None:
    assert normalise_name("PACLitaxel 100 MG/ML") == " paclitaxel 100 mg ml "


def test_code_tokens_only_for_code_only_kinds() -> None:
    t = terminology()
    assert t.code_tokens("gene") == frozenset({b'"HGNC:40"'})
    assert t.code_tokens("medication") is None  # members also match by name
    assert t.code_tokens("procedure") == frozenset()
