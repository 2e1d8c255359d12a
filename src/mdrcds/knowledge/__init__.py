"""Stage 0, the knowledge: the rulebook, its rule format, value sets and code systems, citations.

Takes in the files of a rules directory (`rules/`: rule YAML, value sets, citations, provenance) and
hands on a validated, linted `Rulebook` with its `Terminology` (classification of codes and names into
value sets), which every later stage reads. Also writes the rulebook out again: the Markdown catalogue
(`ruledocs`) and FHIR PlanDefinitions, ValueSets and a Library (`export`). Pure: no I/O library.
"""
