"""Stage 7, the web: the CDS Hooks service and the pages, over HTTP.

Takes in HTTP calls: discovery, hook calls and feedback from EHRs (`discovery`, `auth` and `authn` for
the signed JWT, `body`, `fallback` for missing prefetch), and people's requests to the pages (`pages`,
`pagesauth`, `reviewpage`, `testingpage`, `governanceview`). `cdsservice.Service` holds what one process
needs to answer them; `app.create_app` only assembles the FastAPI application. Hands on CDS Hooks
responses, OperationOutcomes and HTML pages, and audit records and feedback to the store.
"""
