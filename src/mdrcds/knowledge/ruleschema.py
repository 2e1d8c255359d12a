"""The rule file format (YAML), as pydantic models.

A rule names its facts with aliases and gives each a pattern of constant tests; the engine joins the
aliases of one rule (every combination of matching facts is a match). Cross-fact tests such as date
windows are post-match predicates (`where`), evaluated in Python on each match, never in the engine.

    id: mdr1-inhibitor-with-immunotherapy
    version: 1.0.0
    title: MDR1 (P-gp) inhibitor with immunotherapy
    category: interaction
    hooks: [patient-view, order-select, order-sign]
    indicator: info
    evidence: {grade: preclinical, summary: "..."}
    when:
      all:
        inhibitor: {kind: medication, class: pgp-inhibitor, current: true}
        immunotherapy: {kind: medication, class: [checkpoint-inhibitor, car-t], current: true}
    card: {summary: "...{inhibitor}...", consequence: ..., mechanism: ..., recommendation: ...}
    citations: [chen-2020-mdr1-ctl]
    reviewed: 2026-11-23
    status: active                      # or silent (evaluated and audited, never shown) or retired
    status_history:                     # required once a rule is not plain active
      - {status: silent, date: 2026-10-01, reviewer: "CDS committee (J. Smith)"}
      - {status: active, date: 2026-11-23, reviewer: "CDS committee (J. Smith)", note: "trial reviewed"}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENGINE_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    "kind": str,
    "class": str,
    "member": str,
    "status": str,
    "current": bool,
    "draft": bool,
    "matched_by": str,
    "systemic": bool,
    "target": str,
    "pred_eq_mg_day": (int, float),
    "pred_eq_band": str,
    "premedication": bool,
    "treatment_start": bool,
    "value_code": str,
    "value": (int, float),
    "unit": str,
    "gene": str,
    "significance": str,
    "change_type": str,
    "presence": str,
    "loss_of_function": str,
    "first_in_class": bool,
    "preexisting": str,
    "result": str,
    "after_first_checkpoint_inhibitor": bool,
    "resistance_pattern": str,
    "prior_pgp_substrates": (int, float),
}
"""Fact fields a rule pattern may test, with their types; the fact layer makes facts with these fields."""

Scalar = str | int | float | bool
Comparison = Literal[">", ">=", "<", "<=", "!="]
Constraint = Scalar | list[Scalar] | dict[Comparison, int | float]
"""A value (equality), a list of values (any of them), or comparisons with constants."""

Pattern = dict[str, Constraint]
Hook = Literal["patient-view", "order-select", "order-sign"]
Indicator = Literal["info", "warning", "critical"]
EvidenceGrade = Literal["preclinical", "case-series", "observational", "trial", "label", "guideline"]
EVIDENCE_WORDS: Mapping[str, str] = {
    "preclinical": "cell-line or animal studies only: a signal, never a contraindication",
    "case-series": "small series of patients, no controlled comparison",
    "observational": "associations in patient cohorts or registries, not randomised",
    "trial": "randomised or prospective clinical-trial data",
    "label": "the product's regulatory label",
    "guideline": "a clinical practice guideline",
}
"""What each evidence grade rests on, in words: the card's first line, the pages' legend, the report."""
Action = Literal["no-change", "monitor", "adjust-dose", "consider-alternative", "avoid"]
"""What the card recommends; a card may offer to remove an order only when it recommends a change
(`consider-alternative` or `avoid`)."""
Seriousness = Literal["serious", "not serious", "unknown"]
"""PDDI minimum information model: serious = death, life-threatening, hospitalisation, disability,
congenital anomaly or intervention to prevent permanent damage. Reported apart from the indicator."""
Mode = Literal["clinical", "research"]
Status = Literal["active", "silent", "retired"]
"""Lifecycle: `active` rules give cards; `silent` rules are evaluated and audited but never returned
(a committee's trial before go-live); `retired` rules are not evaluated at all."""

INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Evidence(_Strict):
    """How strong the evidence is, and one honest sentence of what it shows."""

    grade: EvidenceGrade
    summary: str


class StartsWithin(_Strict):
    """`subject` started between `days_before` days before and `days_after` days after `anchor` started."""

    subject: str
    anchor: str
    days_before: int = Field(ge=0)
    days_after: int = Field(default=0, ge=0)


class Overlaps(_Strict):
    """`subject` was under way at some time from `days_before` days before to `days_after` days after
    `anchor` started (a current fact with no end counts as under way until today)."""

    subject: str
    anchor: str
    days_before: int = Field(default=0, ge=0)
    days_after: int = Field(default=0, ge=0)


class AtTreatmentStart(_Strict):
    """On the listed hooks, `alias` must be a treatment start (the first exposure of its class, from
    7 days before the evaluation time onwards): the card shows where a decision is made, not on every
    chart view for the whole course."""

    alias: str
    hooks: list[Hook] = Field(min_length=1)


class Predicate(_Strict):
    """One post-match test over the facts of a match: exactly one of the fields below."""

    starts_within: StartsWithin | None = None
    overlaps: Overlaps | None = None
    at_treatment_start: AtTreatmentStart | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Predicate:
        given = [p for p in (self.starts_within, self.overlaps, self.at_treatment_start) if p is not None]
        if len(given) != 1:
            raise ValueError("a predicate is exactly one of: starts_within, overlaps, at_treatment_start")
        return self

    def aliases(self) -> tuple[str, ...]:
        """The aliases the predicate relates."""
        if self.at_treatment_start is not None:
            return (self.at_treatment_start.alias,)
        test = self.starts_within or self.overlaps
        assert test is not None
        return test.subject, test.anchor


class When(_Strict):
    """The facts a rule needs (`all`: alias -> pattern) and the post-match tests on them (`where`)."""

    all: dict[str, Pattern] = Field(min_length=1)
    where: list[Predicate] = Field(default_factory=list)
    same_source_allowed: bool = False


class Suggestion(_Strict):
    """A suggestion shown on the card. `remove_draft` names the alias whose draft order it deletes."""

    label: str
    remove_draft: str


class ContextLine(_Strict):
    """A line of context in the card detail: the most recent fact of `class` in the last
    `within_days` days, or a statement that the data sent holds none. With `if_member`, the line is
    shown only when the finding's `alias` matched one of those members."""

    label: str
    value_set: str = Field(alias="class")
    within_days: int = Field(ge=1)
    alias: str | None = None
    if_member: list[str] = Field(default_factory=list)


class TextVariant(_Strict):
    """Card text for some matches only: used when `when` holds for the finding.

    `when` maps an alias to field tests ('member' or a fact attribute such as `pred_eq_band`), each a
    list of values; it holds when, for every alias named, some fact of that alias passes every test.
    `place` says whether the text replaces the field's default text or stands before or after it; the
    texts of every variant that holds are used, in order.
    """

    text: str
    when: dict[str, dict[str, list[Scalar]]]
    place: Literal["instead", "before", "after"] = "instead"


class CardTemplate(_Strict):
    """Card text. `{alias}` renders the matched drugs or findings of that alias; `{alias.label}` their
    product or resource text. Detail follows the PDDI minimum-information order."""

    summary: str
    consequence: str
    mechanism: str
    recommendation: str
    action: Action
    change_for: str | None = None
    """The alias whose drug a change is recommended for (required unless the action is no-change or
    monitor): the card never recommends changing the other drug."""
    consequence_variants: list[TextVariant] = Field(default_factory=list)
    recommendation_variants: list[TextVariant] = Field(default_factory=list)
    suggestions: list[Suggestion] = Field(default_factory=list)
    context: list[ContextLine] = Field(default_factory=list)
    override_reasons: list[str] | None = None
    source_url: str | None = None

    def texts(self) -> dict[str, str]:
        """Every template text by field name (suggestion labels included)."""
        texts = {
            "summary": self.summary,
            "consequence": self.consequence,
            "mechanism": self.mechanism,
            "recommendation": self.recommendation,
        }
        texts.update({f"suggestions[{i}].label": s.label for i, s in enumerate(self.suggestions)})
        for name, variants in (
            ("consequence", self.consequence_variants),
            ("recommendation", self.recommendation_variants),
        ):
            texts.update({f"{name}_variants[{i}].text": v.text for i, v in enumerate(variants)})
        return texts


class Rule(_Strict):
    """One rule file."""

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    version: str
    title: str
    category: Literal["interaction", "resistance"]
    hooks: list[Hook] = Field(min_length=1)
    indicator: Indicator
    seriousness: Seriousness
    mode: Mode = "clinical"
    evidence: Evidence
    when: When
    card: CardTemplate
    citations: list[str] = Field(min_length=1)
    reviewed: date
    status: Status = "active"
    status_history: list[StatusChange] = Field(default_factory=list)

    @model_validator(mode="after")
    def _status_recorded(self) -> Rule:
        # A rule that is not simply active, or whose status ever changed, says who decided and when:
        # the newest decision is the status in force.
        if self.status != "active" and not self.status_history:
            raise ValueError(f"status {self.status!r} needs a status_history entry with reviewer and date")
        if self.status_history:
            newest = self.status_history[-1]
            if newest.status != self.status:
                raise ValueError(
                    f"status is {self.status!r} but the newest status_history entry says {newest.status!r}: "
                    "a status change is recorded with its reviewer and date"
                )
            dates = [change.date for change in self.status_history]
            if dates != sorted(dates):
                raise ValueError("status_history entries must be in date order, oldest first")
        return self


class StatusChange(_Strict):
    """One lifecycle decision: the status a rule moved to, when, and who reviewed the change."""

    status: Status
    date: date
    reviewer: str = Field(min_length=1)
    note: str | None = None


class RulebookMeta(_Strict):
    """`rules/rulebook.yaml`: the rulebook's name, version, publisher label and default override reasons."""

    name: str
    version: str
    source_label: str
    override_reasons: list[str] = Field(min_length=1)
