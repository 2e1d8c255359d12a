"""Stage 1, reading: bytes in, FHIR resources out.

Takes in CDS Hooks requests (`hookrequest`: the envelope and hook context), their prefetch (`prefetch`:
the templates, and fetching a missing key from the client's FHIR server), single resources and Bundles
(`fhir`: one parse into lazily converted nodes, FHIR validation on request), and Bundle files or Bulk
Data NDJSON populations (`population`: one raw record per patient). Hands on an `FhirInput` (or one raw
record per patient) to the fact layer.
"""
