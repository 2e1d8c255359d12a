"""Stage 4, cards: findings out as the clinician and the EHR see them.

Takes in `Finding`s with the rulebook's card templates and citations; `render` makes CDS Hooks cards
(summary, detail in PDDI order, source, links, deterministic uuid, override reasons, suggestions) and
`detectedissue` the same findings as FHIR DetectedIssue resources. Hands on plain JSON cards to the
service pipeline (`mdrcds.service`). Pure: no I/O library.
"""
