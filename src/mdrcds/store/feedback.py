"""CDS Hooks 2.0 feedback (`POST /cds-services/{id}/feedback`): parse and check the items.

Invariants (CDS Hooks 2.0 §Feedback, logical-model invariants cds-fb-1..3): `card` and `outcome` are
required; `outcome` is `accepted` or `overridden`; `accepted` needs a non-empty `acceptedSuggestions`
of `{"id": ...}`; `overrideReason` belongs to `overridden` and needs a `reason` Coding or a
`userComment`; `outcomeTimestamp` is an RFC 3339 instant with a time zone.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from mdrcds.reading.hookrequest import RequestError
from mdrcds.store.records import FeedbackItem

_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
MAX_ITEMS = 1000


def parse_feedback(document: Any, service: str) -> list[FeedbackItem]:
    """The items of a feedback body, checked; raises RequestError naming the first bad field."""
    if not isinstance(document, dict):
        raise RequestError("$", "must be a JSON object")
    items = document.get("feedback")
    if not isinstance(items, list) or not items:
        raise RequestError("feedback", "required (a non-empty array)")
    if len(items) > MAX_ITEMS:
        raise RequestError("feedback", f"at most {MAX_ITEMS} items per call")
    return [_item(item, f"feedback[{index}]", service) for index, item in enumerate(items)]


def _item(item: Any, where: str, service: str) -> FeedbackItem:
    if not isinstance(item, dict):
        raise RequestError(where, "must be a JSON object")
    card = item.get("card")
    if not isinstance(card, str) or not card:
        raise RequestError(f"{where}.card", "required (the card's uuid)")
    outcome = item.get("outcome")
    if outcome not in ("accepted", "overridden"):
        raise RequestError(f"{where}.outcome", "must be 'accepted' or 'overridden'")
    timestamp = item.get("outcomeTimestamp")
    if timestamp is None:
        raise RequestError(f"{where}.outcomeTimestamp", "required (an instant such as 2026-11-23T10:00:00Z)")
    if not isinstance(timestamp, str):
        raise RequestError(
            f"{where}.outcomeTimestamp", "must be a string (an instant such as 2026-11-23T10:00:00Z)"
        )
    if not _INSTANT.match(timestamp):
        has_time = bool(re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$", timestamp))
        problem = (
            "has no time zone: add Z (UTC) or an offset such as +01:00"
            if has_time
            else "must be an instant with a date, a time and a time zone, such as 2026-11-23T10:00:00Z"
        )
        raise RequestError(f"{where}.outcomeTimestamp", f"{problem} (got {timestamp[:40]!r})")
    try:
        when = datetime.fromisoformat(timestamp)
    except ValueError:
        raise RequestError(f"{where}.outcomeTimestamp", "not a valid instant") from None
    accepted = item.get("acceptedSuggestions")
    suggestion_ids: list[str] = []
    if accepted is not None:
        if not isinstance(accepted, list) or not all(
            isinstance(s, dict) and isinstance(s.get("id"), str) and s["id"] for s in accepted
        ):
            raise RequestError(f"{where}.acceptedSuggestions", 'must be an array of {"id": suggestion uuid}')
        suggestion_ids = [s["id"] for s in accepted]
    if outcome == "accepted" and not suggestion_ids:
        raise RequestError(f"{where}.acceptedSuggestions", "required when outcome is 'accepted'")
    if outcome == "overridden" and suggestion_ids:
        raise RequestError(f"{where}.acceptedSuggestions", "only allowed when outcome is 'accepted'")
    reason, comment = _override_reason(item.get("overrideReason"), f"{where}.overrideReason")
    if outcome == "accepted" and (reason or comment):
        raise RequestError(f"{where}.overrideReason", "only allowed when outcome is 'overridden'")
    return FeedbackItem(
        service=service,
        card=card,
        outcome=outcome,
        outcome_timestamp=when,
        accepted_suggestions=suggestion_ids,
        override_reason=reason,
        user_comment=comment,
    )


def _override_reason(value: Any, where: str) -> tuple[dict[str, str] | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise RequestError(where, "must be a JSON object")
    reason = value.get("reason")
    comment = value.get("userComment")
    if comment is not None and not isinstance(comment, str):
        raise RequestError(f"{where}.userComment", "must be a string")
    coding: dict[str, str] | None = None
    if reason is not None:
        if not (
            isinstance(reason, dict)
            and isinstance(reason.get("code"), str)
            and isinstance(reason.get("system"), str)
        ):
            raise RequestError(f"{where}.reason", "must be a Coding with 'system' and 'code'")
        coding = {k: str(reason[k]) for k in ("system", "code", "display") if isinstance(reason.get(k), str)}
    if coding is None and not comment:
        raise RequestError(where, "needs a 'reason' or a 'userComment'")
    return coding, comment or None
