"""Stage 3, reasoning: facts in, findings out.

Takes in a `FactSet` and the `Rulebook`; `engine` asserts the facts into durable-rules (the rulebook
compiled once per process, one session per evaluation) and collects the matches; `findings` applies the
post-match predicates (distinct sources, date windows), the hook's focus and one finding per rule. Hands
on `Finding`s to the card stage.
"""
