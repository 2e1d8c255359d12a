"""Names in free text: leftmost-longest, qualifiers between a name's words, normalised spellings,
linear in the text; ICD-10-CM codes by hierarchy and as claims spell them."""

from __future__ import annotations

from mdrcds.facts.context import voiding_context
from mdrcds.knowledge.names import MAX_TEXT_CHARACTERS, NameIndex, normalise_name
from mdrcds.knowledge.terminology import Code, Concept, Member, Terminology, ValueSet

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def index(*names: str) -> NameIndex[str]:
    built: NameIndex[str] = NameIndex()
    for name in names:
        built.add(name, name)
    return built


def test_the_longest_name_at_the_leftmost_place_wins() -> None:
    names = index("small cell lung cancer", "non small cell lung cancer", "lung cancer")
    assert names.find("Non-small cell lung cancer, stage IV") == ["non small cell lung cancer"]
    assert names.find("small cell lung cancer") == ["small cell lung cancer"]
    assert names.find("history: lung cancer; lung cancer") == ["lung cancer", "lung cancer"]


def test_qualifiers_may_stand_between_the_words_of_a_name_but_not_make_one() -> None:
    names = index("adenocarcinoma of lung", "kidney transplant")
    assert names.find("Adenocarcinoma of right upper lobe of lung") == ["adenocarcinoma of lung"]
    assert names.find("adenocarcinoma, left lower lobe, of the lung") == ["adenocarcinoma of lung"]
    assert names.find("Adenocarcinoma of lung, stage IIIB") == ["adenocarcinoma of lung"]
    assert names.find("adenocarcinoma of colon, right side") == []
    assert names.find("right kidney") == []  # a qualifier and one word of a name are no name
    assert names.find("kidney stone, transplant planned") == []  # other words between: no name


def test_a_number_in_a_name_is_not_skipped_as_a_stage() -> None:
    # "type 1 diabetes" names a number: another number there is another concept, not a qualifier.
    names = index("type 1 diabetes mellitus", "diabetes mellitus type 1", "non small cell lung cancer")
    assert names.find("Diabetes mellitus type 2, stage 1 CKD") == []
    assert names.find("Type 2 diabetes mellitus") == []
    assert names.find("Diabetes mellitus type 1") == ["diabetes mellitus type 1"]
    assert names.find("Type 1 diabetes mellitus, grade 2 retinopathy") == ["type 1 diabetes mellitus"]
    assert names.find("Non small cell lung cancer stage 4") == ["non small cell lung cancer"]
    # ConText looks for the name the same way: "no ... type 2, stage 1" does not negate type 1.
    assert voiding_context(["No diabetes mellitus type 2, stage 1"], ["diabetes mellitus type 1"]) is None
    assert (
        voiding_context(["No diabetes mellitus type 1"], ["diabetes mellitus type 1"]) == "NEGATED_EXISTENCE"
    )


def test_spellings_are_normalised() -> None:
    assert normalise_name("Sjögren's syndrome") == " sjogren syndrome "
    assert normalise_name("Hashimoto\u2019s thyroiditis") == " hashimoto thyroiditis "
    names = index("Sjogren syndrome", "Hashimoto thyroiditis", "Crohn disease")
    assert names.find("SJÖGREN SYNDROME") == ["sjogren syndrome"]
    assert names.find("Hashimoto's thyroiditis; Crohn's disease") == [
        "hashimoto thyroiditis",
        "crohn disease",
    ]


def test_a_large_value_set_is_searched_by_token_not_by_alternation() -> None:
    names = index(*(f"drugname{n} extended" for n in range(10_000)), "verapamil")
    text = " ".join(f"unique{n}" for n in range(100_000))
    assert names.find(text) == []
    assert names.find("on verapamil and drugname9999 extended") == ["verapamil", "drugname9999 extended"]


def test_text_past_the_limit_is_not_read() -> None:
    names = index("verapamil")
    assert names.find("x" * (MAX_TEXT_CHARACTERS - 20) + " verapamil") == ["verapamil"]
    assert names.find("x " * MAX_TEXT_CHARACTERS + " verapamil") == []


def rheumatoid() -> Terminology:
    members = (
        Member("seropositive rheumatoid arthritis", codes=(Code("icd10cm", "M05"),), match_name=False),
        Member("kidney transplant status", codes=(Code("icd10cm", "Z94.0"),), match_name=False),
    )
    return Terminology([ValueSet("test", "test", ("condition",), members)])


def test_icd10cm_codes_match_by_hierarchy_and_in_claims_spelling() -> None:
    terminology = rheumatoid()

    def members(code: str) -> list[str]:
        concept = Concept(((ICD10CM, code, None),))
        return [m.member.name for m in terminology.classify(concept, "condition")]

    assert members("M05.011") == ["seropositive rheumatoid arthritis"]  # Felty's syndrome, right shoulder
    assert members("M05.0") == ["seropositive rheumatoid arthritis"]
    assert members("m05011") == ["seropositive rheumatoid arthritis"]
    assert members("Z940") == ["kidney transplant status"]
    assert members(" z94.0 ") == ["kidney transplant status"]
    assert members("M06.9") == []  # another category
    assert members("Z94.1") == []  # another organ: a sibling, not a descendant
    assert members("Z94") == []  # the parent of a listed code is not in the set
