"""Route and site: whether a medication record's drug reaches the circulation (pure).

A record says how a drug is given in many places, and every one of them is read:

1. **Route codes** (`dosage.route.coding`) decide when they are there. A non-systemic route code
   (ophthalmic, otic, topical, inhaled, nasal, vaginal, ...: value set `non-systemic-route`) makes the
   record non-systemic; a systemic route code (oral, intravenous, intramuscular, subcutaneous,
   sublingual: `systemic-route`) makes it systemic, whatever any text says. Codes outrank text.
2. **Everything else the record says**, read by name: the route's text, the dose form
   (`Medication.form`), the product's names, the method (`dosage.method`: instil, inhale, apply) and the
   instruction texts (`dosage.text`, `patientInstruction`: "into both eyes", "apply topically", "inhale
   2 puffs"), all against the route names; the body site (`dosage.site`: eye, ear, skin, ...) against the
   site names (`non-systemic-site`) as well. A bare body-site word in an instruction ("may cause dry
   eyes") is not read as a site. Any non-systemic statement makes the record non-systemic.
3. **Nothing stated**: a record with no route, dose form, site, method, instruction or route word in its
   product name counts as systemic, and its card line says that the route was not stated.

Grey-zone local routes (rectal, intra-articular, intralesional, epidural) are in neither value set: they
give partial systemic exposure, so such records stay systemic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mdrcds.facts.fhirjson import JsonObject, concept_of
from mdrcds.knowledge.terminology import Concept, Terminology

NON_SYSTEMIC = "non-systemic-route"
SYSTEMIC = "systemic-route"
NON_SYSTEMIC_SITE = "non-systemic-site"
NOT_STATED_NOTE = "route not stated: counted as systemic"


@dataclass(frozen=True)
class Route:
    """What the record says about how the drug is given."""

    systemic: bool
    stated: bool
    """False when nothing in the record states a route (then `systemic` is True by default)."""
    why: str = ""
    """What made the record non-systemic ("route code Ophthalmic route", "'into both eyes'")."""


def route_of(
    terminology: Terminology,
    product: Iterable[Concept],
    instructions: list[JsonObject],
    medication: JsonObject | None,
    resource: JsonObject,
) -> Route:
    """How the drug of one medication record is given (see the module docstring)."""
    routes = [c for c in (concept_of(d.get("route")) for d in instructions) if c]
    coded_matches = [
        (c, m) for c in routes for m in terminology.classify(c, "route") if m.matched_by == "code"
    ]
    coded = {m.value_set for _, m in coded_matches}
    if NON_SYSTEMIC in coded:
        concept = next(c for c, m in coded_matches if m.value_set == NON_SYSTEMIC)
        return Route(systemic=False, stated=True, why=f"route code {concept.label()}")
    if SYSTEMIC in coded:
        return Route(systemic=True, stated=True)
    sites = [c for c in (concept_of(d.get("site")) for d in instructions) if c]
    stated_in = [*routes, *product, *sites]
    stated_in += [c for c in (concept_of(d.get("method")) for d in instructions) if c]
    stated_in += [
        Concept((), value)
        for d in instructions
        for key in ("text", "patientInstruction")
        if isinstance(value := d.get(key), str)
    ]
    if medication is not None and (form := concept_of(medication.get("form"))):
        stated_in.append(form)
    texts = [Concept((), text) for c in stated_in for text in c.display_texts()]
    # Body-site words count only where the record names a site, never in free instruction text.
    site_texts = [Concept((), text) for c in sites for text in c.display_texts()]
    read = [(c, m) for c in texts for m in terminology.classify(c, "route")]
    read += [(c, m) for c in site_texts for m in terminology.classify(c, "site")]
    found = {m.value_set for _, m in read}
    if NON_SYSTEMIC in found or NON_SYSTEMIC_SITE in found:
        concept, member = next((c, m) for c, m in read if m.value_set in (NON_SYSTEMIC, NON_SYSTEMIC_SITE))
        return Route(systemic=False, stated=True, why=f"'{concept.label()[:80]}' ({member.member.name})")
    stated = bool(routes) or SYSTEMIC in found or _has_other_statement(instructions, medication)
    return Route(systemic=True, stated=stated)


def _has_other_statement(instructions: list[JsonObject], medication: JsonObject | None) -> bool:
    """A site, method or dose form is a statement about the route even when it names none we know."""
    return any(d.get("site") or d.get("method") for d in instructions) or bool(
        medication is not None and medication.get("form")
    )
