"""Stage 6, research: the one-patient pipeline run over many patients and test cases.

Takes in populations (Bundle files, Bulk NDJSON), YAML test cases and golden case directories, and
uploads from the rule-testing page; runs `mdrcds.service.evaluate` over each (`batch` on local worker
processes, `spark` on Apache Spark, `testcases` and `ruletesting` for expectations). Hands on findings
tables, `report.html`, JUnit XML and per-rule counts to the command line and the pages.
"""
