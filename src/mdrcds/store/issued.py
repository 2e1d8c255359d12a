"""Which service issued a card: feedback is accepted only for a card this deployment issued, on the
service that issued it.

A card answered moments ago may still wait in the audit writer's queue (or in the spool while the
database is down), so the most recent cards are remembered in memory too; older ones are looked up in
the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from mdrcds.reading.hookrequest import RequestError
from mdrcds.store.database import Store

RECENT_CARDS = 200_000
"""Cards remembered in memory (about 30 MB); older cards are looked up in the database."""


class NotIssued(RequestError):
    """A feedback item names a card the service did not issue (answer 422)."""


class IssuedCards:
    """The cards this process issued recently, and the database for the rest (thread-safe)."""

    def __init__(self, store: Store, capacity: int = RECENT_CARDS) -> None:
        self.store = store
        self.capacity = capacity
        self._recent: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, uuids: Iterable[str], service: str) -> None:
        """Note cards just issued by `service`."""
        with self._lock:
            for uuid in uuids:
                self._recent[uuid] = service
                self._recent.move_to_end(uuid)
            while len(self._recent) > self.capacity:
                self._recent.popitem(last=False)

    def not_issued_by(self, uuids: Sequence[str], service: str) -> list[str]:
        """The uuids among `uuids` that `service` did not issue (may wait on the database: call it in
        the database pool; raises StoreUnavailable when the database cannot answer)."""
        with self._lock:
            known = {uuid: self._recent[uuid] for uuid in uuids if uuid in self._recent}
        unknown = [uuid for uuid in dict.fromkeys(uuids) if uuid not in known]
        if unknown:
            known.update(self.store.card_services(unknown))
        return [uuid for uuid in dict.fromkeys(uuids) if known.get(uuid) != service]
