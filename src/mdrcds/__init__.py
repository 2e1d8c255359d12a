"""mdrcds: clinical decision support for oncology, as CDS Hooks cards that cite their sources."""

from __future__ import annotations

from mdrcds.errors import MdrcdsError
from mdrcds.knowledge.rulebook import Rulebook, load_rulebook
from mdrcds.reasoning.engine import Engine
from mdrcds.service import Evaluation, evaluate

__version__ = "0.1.0"
__all__ = ["Engine", "Evaluation", "MdrcdsError", "Rulebook", "__version__", "evaluate", "load_rulebook"]
