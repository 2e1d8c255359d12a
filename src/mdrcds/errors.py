"""The mdrcds exception tree.

Every error the package raises on purpose derives from `MdrcdsError`, and its message names what was
wrong and where (the file, rule, resource or field), so a caller can print it as one line.

* MdrcdsError
  x InputError               - the caller's input cannot be evaluated
    + InputFormatError       - not JSON, or JSON of a shape mdrcds does not accept (unknown hook, ...)
    + FhirValidationError    - a FHIR resource failed validation (names resourceType, id and the path)
    + EvaluationLimitError   - the input is over a per-evaluation limit (resources, facts, matches)
  x RuleLoadError            - a rule, value set or citation file is invalid (names file, rule and field)
  x ConfigurationError       - the service settings (MDRCDS_* variables) are invalid
  x EngineError              - the rules engine failed during an evaluation (names the rule or fact)
    + EngineCapacityError    - an engine limit was hit (too many live sessions, facts too wide)
"""

from __future__ import annotations


class MdrcdsError(Exception):
    """Base class of every error mdrcds raises on purpose."""


class InputError(MdrcdsError):
    """The input cannot be evaluated; the message says what and where."""


class InputFormatError(InputError):
    """The input is not JSON, or not a shape mdrcds accepts (CDS Hooks request, Bundle, resource)."""


class NotAnInput(InputFormatError):
    """JSON that is neither a CDS Hooks request nor a FHIR resource: no top-level `hook` or
    `resourceType` member, or no JSON object at all (a CDS Hooks response, a test's expectation, a
    settings file). A directory walk passes such files over; named on their own, they are an error."""


class FhirValidationError(InputError):
    """A FHIR resource failed validation against the FHIR models.

    `resource_type`, `resource_id` and `path` locate the failure; the message carries all three.
    """

    def __init__(self, resource_type: str, resource_id: str | None, path: str, problem: str) -> None:
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.path = path
        self.problem = problem
        where = f"{resource_type}/{resource_id}" if resource_id else f"{resource_type} (no id)"
        super().__init__(f"invalid FHIR resource {where} at {path}: {problem}")


class EvaluationLimitError(InputError):
    """The input is over a per-evaluation limit (resources read, facts made, rule matches)."""


class RuleLoadError(MdrcdsError):
    """A rule, value set or citation file is invalid.

    Raised with every problem found, one per line, each naming the file, rule and field.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class EngineError(MdrcdsError):
    """The rules engine failed while evaluating; the message names the rule or fact when known."""


class EngineCapacityError(EngineError):
    """An engine limit was hit: too many concurrent evaluations, or a fact too wide for the engine."""


class ConfigurationError(MdrcdsError):
    """The service settings are invalid; one problem per line, each naming the setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
