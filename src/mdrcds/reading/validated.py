"""A bounded memory of resource JSON already found valid, so that the same resource is not validated
against the FHIR models twice.

CDS Hooks calls about one patient follow each other (the chart opens, an order is selected, then
signed) and carry the same prefetched resources each time; validating a MedicationRequest costs about
0.1 ms, looking its JSON up here about 0.5 microsecond. Validation is a function of the JSON alone, so
identical bytes need no second look. Only successes are remembered: invalid JSON is validated (and
refused) every time it is sent.
"""

from __future__ import annotations

import threading

VALIDATED_BYTES = 8_000_000
"""How much resource JSON the memory holds (about 20,000 typical orders); the oldest goes first."""


class ValidatedJson:
    """The minified JSON of resources that passed validation, oldest first, within `budget` bytes.
    Safe to share between threads."""

    def __init__(self, budget: int = VALIDATED_BYTES) -> None:
        self.budget = budget
        self._seen: dict[bytes, None] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def __contains__(self, key: bytes) -> bool:
        return key in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def size(self) -> int:
        """Bytes of JSON held."""
        return self._bytes

    def add(self, key: bytes) -> None:
        """Remember `key` as valid; JSON larger than the whole budget is not kept."""
        if len(key) > self.budget:
            return
        with self._lock:
            if key in self._seen:
                return
            self._seen[key] = None
            self._bytes += len(key)
            while self._bytes > self.budget:
                oldest = next(iter(self._seen))
                del self._seen[oldest]
                self._bytes -= len(oldest)
