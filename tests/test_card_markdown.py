"""Values from FHIR data enter a card's Markdown only as inline text: data can never restyle advice.

The attack: a drug text `verapamil\n\n# NO ACTION NEEDED: this card is a false alarm` became a heading
inside the card's detail, in the CDS response to EHRs and on the pages.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from conftest import SAMPLES
from mdrcds.cards.inline import inline_markdown, one_line
from mdrcds.knowledge.rulebook import Rulebook
from mdrcds.reasoning.engine import Engine
from mdrcds.service import evaluate

# The most permissive reading an EHR might apply: CommonMark with HTML, tables and strikethrough on.
PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

PAYLOADS = [
    "\n\n# NO ACTION NEEDED: this card is a false alarm",
    "\r\n## heading\r\n",
    "\u2028### heading",
    "\n- a list item\n* another\n+ third",
    "\n1. numbered\n2) numbered",
    "\n> a quote",
    "\n\n---\n\n***\n\n___",
    "\n\n| a | b |\n|---|---|\n| 1 | 2 |",
    "\n```\ncode block\n```",
    "\n\n    indented code",
    "\n<div onclick=alert(1)>html block</div>",
    "\nSetext heading\n===",
    " <script>alert(1)</script> [link](javascript:alert(1)) ![img](x.png) `code` *em* __strong__ ~~s~~",
    " &#35; heading by entity \\# escaped \\\n hard break",
]
INLINE_ONLY = {"paragraph_open", "inline", "paragraph_close"}
PLAIN_CHILDREN = {"text", "softbreak"}


def block_types(markdown: str) -> list[str]:
    return [token.type for token in PARSER.parse(markdown)]


def inline_children(markdown: str) -> list[Token]:
    return [child for token in PARSER.parse(markdown) if token.children for child in token.children]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("start", ["verapamil", "", "- ", "1. ", "+", "="])
def test_a_data_value_is_one_plain_paragraph(start: str, payload: str) -> None:
    value = inline_markdown(start + payload)
    assert "\n" not in value and "\r" not in value
    assert set(block_types(value)) <= INLINE_ONLY, (start + payload, value)
    assert {child.type for child in inline_children(value)} <= PLAIN_CHILDREN, value


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_data_value_stays_inside_a_list_item(payload: str) -> None:
    # Triggering resources are listed as "- {value}": the value may not open a block inside the item.
    types = block_types("- " + inline_markdown("x" + payload) + "\n- second")
    assert types.count("list_item_open") == 2 and set(types) <= INLINE_ONLY | {
        "bullet_list_open",
        "bullet_list_close",
        "list_item_open",
        "list_item_close",
    }, types


def test_ordinary_values_read_as_they_were() -> None:
    for value in ["verapamil 120 MG Oral Tablet", "1.1 ng/mL", "5-FU", "PACLitaxel 100 MG/ML", "B2M p.Met1?"]:
        rendered = PARSER.render(inline_markdown(value))
        assert rendered == f"<p>{value}</p>\n", rendered
    assert one_line("a\n\tb\u2029c\x00d") == "a b c d"


def hostile(value: Any, payload: str) -> Any:
    """The request with `payload` appended to every text and display string."""
    if isinstance(value, dict):
        return {
            key: (
                item + payload
                if key in ("text", "display") and isinstance(item, str)
                else hostile(item, payload)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [hostile(item, payload) for item in value]
    return value


CASES = sorted(p.parent for p in SAMPLES.glob("*/expected.json"))


def evaluate_case(case: Any, document: bytes, rulebook: Rulebook, engine: Engine) -> list[dict[str, Any]]:
    expected = json.loads((case / "expected.json").read_text())
    evaluation = evaluate(
        document,
        rulebook=rulebook,
        engine=engine,
        now=date.fromisoformat(expected["now"]),
        include_research=True,
        fhir_version=expected.get("fhir_version", "R4"),
    )
    return evaluation.cards


def test_hostile_text_in_every_golden_case_leaves_every_cards_structure_as_it_was(
    rulebook: Rulebook, engine: Engine
) -> None:
    # Every block kind, worded without the words a clinical-context reader acts on (no, not, possible,
    # ...), so that the same resources trigger the card with and without the payload.
    payload = "".join(PAYLOADS[1:]) + "\n\n# STOP ALERT HERE"
    compared = 0
    for case in CASES:
        request = json.loads((case / "request.json").read_text())

        def cards(document: Any, case: Any = case) -> dict[str, dict[str, Any]]:
            found = evaluate_case(case, json.dumps(document).encode(), rulebook, engine)
            return {card["source"]["topic"]["code"]: card for card in found}

        plain, attacked = cards(request), cards(hostile(request, payload))
        for rule_id, card in attacked.items():
            assert "\n" not in card["summary"], (case.name, card["summary"])
            for suggestion in card.get("suggestions", []):
                assert "\n" not in suggestion["label"]
            if rule_id in plain:
                # Data produced only inline nodes: the block structure is the template's, token for token.
                assert block_types(card["detail"]) == block_types(plain[rule_id]["detail"]), (
                    case.name,
                    rule_id,
                )
                compared += 1
            assert "STOP ALERT HERE" not in "".join(
                t.content for t in PARSER.parse(card["detail"]) if t.type != "inline"
            )
    assert compared >= len(CASES) // 2, compared


def test_the_structure_check_sees_an_injected_heading() -> None:
    # The check above would see the attack: an unescaped value adds block tokens.
    template = "**Consequence.** {}\n\n- {}"
    raw = template.format("x", "verapamil" + PAYLOADS[0])
    assert block_types(raw) != block_types(template.format("x", "verapamil"))
    assert block_types(template.format("x", inline_markdown("verapamil" + PAYLOADS[0]))) == block_types(
        template.format("x", "verapamil")
    )


def test_golden_details_parse_as_their_templates_say(rulebook: Rulebook, engine: Engine) -> None:
    # Golden cards' details hold paragraphs, one bullet list of triggers (and of context) and the
    # numbered references: nothing else, whatever the data.
    allowed = INLINE_ONLY | {
        "bullet_list_open",
        "bullet_list_close",
        "ordered_list_open",
        "ordered_list_close",
        "list_item_open",
        "list_item_close",
    }
    for case in CASES:
        for card in evaluate_case(case, (case / "request.json").read_bytes(), rulebook, engine):
            assert set(block_types(card["detail"])) <= allowed, (case.name, card["summary"])


def test_payloads_cover_every_block_kind() -> None:
    seen = {t for payload in PAYLOADS for t in block_types("x" + payload)}
    for kind in (
        "heading_open",
        "bullet_list_open",
        "ordered_list_open",
        "blockquote_open",
        "hr",
        "table_open",
        "fence",
        "code_block",
        "html_block",
    ):
        assert kind in seen, kind
