from __future__ import annotations

from datetime import date

import pytest

from conftest import NOW, hook_request, medication_request
from mdrcds.cards.render import SUMMARY_LIMIT, card_uuid, join_names, summary_of
from mdrcds.facts import Fact
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reasoning.engine import Engine
from mdrcds.reasoning.findings import Finding
from mdrcds.service import evaluate

PGP = "pgp-inhibitor-with-pgp-substrate-chemotherapy"
NTI = "pgp-inhibitor-with-narrow-therapeutic-index-substrate"


def sign_request() -> dict[str, object]:
    return hook_request(
        "order-sign",
        drafts=[medication_request("clari-draft", "draft", code="21212", display="clarithromycin")],
        prefetch=[medication_request("dig", "active", code="3407", display="digoxin", authored="2026-11-02")],
    )


MODULATOR = "investigational-pgp-modulator"


def modulator_request() -> dict[str, object]:
    return hook_request("order-sign", drafts=[medication_request("tq-draft", "draft", text="tariquidar")])


def test_card_fields_follow_cds_hooks(rulebook: Rulebook, engine: Engine) -> None:
    [card] = evaluate(modulator_request(), rulebook=rulebook, engine=engine, now=NOW).cards
    assert list(card) == [
        "uuid",
        "summary",
        "indicator",
        "detail",
        "source",
        "suggestions",
        "selectionBehavior",
        "overrideReasons",
        "links",
    ]
    assert card["indicator"] == "info" and len(card["summary"]) < SUMMARY_LIMIT
    assert card["source"]["topic"] == {
        "system": "urn:mdrcds:rule",
        "code": MODULATOR,
        "display": rulebook.rule(MODULATOR).title,
    }
    assert card["source"]["url"] == rulebook.citations[rulebook.rule(MODULATOR).citations[0]].primary_url()
    assert card["selectionBehavior"] == "at-most-one"
    [suggestion] = card["suggestions"]
    assert suggestion["actions"] == [
        {
            "type": "delete",
            "description": "Remove the draft order MedicationRequest/tq-draft",
            "resourceId": "MedicationRequest/tq-draft",
        }
    ]
    assert all(
        reason["display"] and reason["system"].endswith("non-adherence-reason-codes")
        for reason in card["overrideReasons"]
    )
    assert card["links"] and all(
        link["type"] == "absolute" and link["autolaunchable"] is False and link["autoLaunchable"] is False
        for link in card["links"]
    )


def test_an_interaction_card_recommends_changing_only_the_drug_its_rule_names(
    rulebook: Rulebook, engine: Engine
) -> None:
    # Clarithromycin with digoxin: the lever is digoxin (level, dose); no offer to remove clarithromycin.
    [card] = evaluate(sign_request(), rulebook=rulebook, engine=engine, now=NOW).cards
    assert "suggestions" not in card
    assert "check a digoxin level" in card["detail"] and "check renal function" not in card["detail"]
    assert "consider an alternative" not in card["detail"].lower()


def test_detail_follows_the_pddi_order(rulebook: Rulebook, engine: Engine) -> None:
    [card] = evaluate(sign_request(), rulebook=rulebook, engine=engine, now=NOW).cards
    detail = card["detail"]
    headings = [
        "**Consequence.**",
        "**Mechanism.**",
        "**Evidence: observational.**",
        "**Seriousness: serious**",
        "**What triggered this card**",
        "**Recommendation.**",
        "**References**",
    ]
    positions = [detail.index(h) for h in headings]
    assert positions == sorted(positions)
    assert (
        "- clarithromycin (MedicationRequest/clari-draft, draft order, since 2026-10-01; matched by code rxnorm 21212;"
        " route not stated: counted as systemic)" in detail
    )
    assert (
        "- digoxin (MedicationRequest/dig, active, since 2026-11-02; matched by code rxnorm 3407;"
        " route not stated: counted as systemic)" in detail
    )
    assert (
        "2. Scripture CD, Figg WD. Drug interactions in cancer therapy. Nat Rev Cancer 2006;6(7):546-558. PMID 16794637."
        in detail
    )


def test_uuid_is_deterministic_per_rule_facts_and_hook_instance(rulebook: Rulebook, engine: Engine) -> None:
    request = sign_request()
    first = evaluate(request, rulebook=rulebook, engine=engine, now=NOW).cards[0]
    again = evaluate(request, rulebook=rulebook, engine=engine, now=NOW).cards[0]
    assert first == again
    request["hookInstance"] = "another-instance"
    assert evaluate(request, rulebook=rulebook, engine=engine, now=NOW).cards[0]["uuid"] != first["uuid"]
    assert card_uuid("r", "1", ["b", "a"], "h") == card_uuid("r", "1", ["a", "b"], "h")


def test_no_suggestion_when_the_inhibitor_is_not_a_draft(rulebook: Rulebook, engine: Engine) -> None:
    request = hook_request(
        "order-select",
        drafts=[medication_request("doce-draft", "draft", code="72962")],
        selections=["MedicationRequest/doce-draft"],
        prefetch=[medication_request("clari", "active", code="21212")],
    )
    [card] = evaluate(request, rulebook=rulebook, engine=engine, now=NOW).cards
    assert "suggestions" not in card and "selectionBehavior" not in card


def test_several_matches_make_one_card_naming_all(rulebook: Rulebook, engine: Engine) -> None:
    request = hook_request(
        "patient-view",
        prefetch=[
            medication_request("v", "active", code="11170", display="verapamil"),
            medication_request("a", "active", code="703", display="amiodarone"),
            medication_request("n", "active", code="1597876", display="nivolumab", authored="2026-11-20"),
        ],
    )
    [card] = evaluate(request, rulebook=rulebook, engine=engine, now=NOW).cards
    assert card["summary"].startswith("amiodarone and verapamil (MDR1/P-gp inhibitor) with nivolumab")


def test_long_summaries_are_shortened_below_the_limit(rulebook: Rulebook) -> None:
    rule = rulebook.rule(PGP)
    names = [
        "amiodarone",
        "carvedilol",
        "clarithromycin",
        "dronedarone",
        "itraconazole",
        "verapamil",
        "ketoconazole",
    ]
    facts = [
        Fact(
            f"MedicationRequest/{n}#pgp-inhibitor:{n}",
            "medication",
            "pgp-inhibitor",
            n,
            f"MedicationRequest/{n}",
            n,
            "active",
            True,
            "code",
        )
        for n in names
    ]
    substrate = Fact(
        "MedicationRequest/d#x:docetaxel",
        "medication",
        "pgp-substrate-chemotherapy",
        "docetaxel",
        "MedicationRequest/d",
        "docetaxel",
        "active",
        True,
        "code",
        start=date(2026, 1, 1),
    )
    finding = Finding(rule, tuple({"inhibitor": f, "substrate": substrate} for f in facts))
    summary = summary_of(finding)
    assert len(summary) < SUMMARY_LIMIT
    assert summary.startswith("amiodarone and 6 more (P-gp inhibitor) with docetaxel")


@pytest.mark.parametrize(
    ("names", "text"), [([], ""), (["a"], "a"), (["a", "b"], "a and b"), (["a", "b", "c"], "a, b and c")]
)
def test_join_names(names: list[str], text: str) -> None:
    assert join_names(names) == text


def test_markdown_in_resource_text_is_escaped(rulebook: Rulebook, engine: Engine) -> None:
    request = hook_request(
        "patient-view",
        prefetch=[
            medication_request("v", "active", text="*verapamil* [brand]"),
            medication_request("n", "active", code="1597876", authored="2026-11-20"),
        ],
    )
    [card] = evaluate(request, rulebook=rulebook, engine=engine, now=NOW).cards
    assert r"\*verapamil\* \[brand\]" in card["detail"]
