"""Citations: the verified references cards cite, and the links that open them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

CitationKind = Literal["article", "trial", "web", "seed", "guideline", "label"]
_SOURCE = re.compile(
    r"https?://|\bPMID\b|\bpubmed\b|\bMEDLINE\b|\bDOI\b|\bPMC\d+|\bNCT\d+|clinicaltrials\.gov|§"
    r"|\b[\w.-]+\.(?:md|txt|json|csv|yaml|fsh|pdf|html)\b|\b[\w-]+\.(?:org|com|gov|edu|ca|ac\.uk)\b"
    r"|\b[\w.-]+/[\w.-]+@[0-9a-f]{6,}",
    re.IGNORECASE,
)
"""What names a source: a URL, PMID, DOI, PMC or NCT id, a file (knowledge, seed or repository file), a
section of the knowledge base, a web site, or a repository at a commit."""
_INTERNAL = re.compile(
    r"\s*\((?:shared )?knowledge\b[^)]*\)"  # (knowledge sources-and-caveats.md §7 #1)
    r"|\s*\([^()]*(?:codes\.csv|seeds/|\.md\b)[^()]*\)"  # (codes.csv group 10_x), (seeds/README.md)
    r"|\s*\b(?:per|in) seeds/README\.md"
    r"|\s*(?:knowledge/)?[\w-]+\.md §[\w#.-]+",  # knowledge/sources-and-caveats.md §6
    re.IGNORECASE,
)
_SEED_FILE = re.compile(r"project seed document \S+\.txt", re.IGNORECASE)
_CODE_LIST = re.compile(r"(?:verified in )?codes\.csv group \w+", re.IGNORECASE)


def without_internal_files(text: str) -> str:
    """`text` with mentions of the project's internal files (the knowledge base, codes.csv, seed file
    names) taken out, for readers who cannot open them; public sources named in it stay."""
    text = _INTERNAL.sub("", " ".join(text.split()))
    text = _CODE_LIST.sub(
        "the project's verified code list", _SEED_FILE.sub("the project's seed document", text)
    )
    text = re.sub(r"(?:\s*;)+\s*(?=;|$)", "", re.sub(r"^(?:\s*;)+", "", text))
    return re.sub(r"\s*,\s*(?=[;)]|$)", "", text).strip(" ;,")


class Citation(BaseModel):
    """One verified reference. `verified` says where its fields were checked; `unverified` what was not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: CitationKind
    title: str
    authors: str | None = None
    journal: str | None = None
    year: int | None = None
    volume: str | None = None
    pages: str | None = None
    pmid: str | None = None
    doi: str | None = None
    url: str | None = None
    verified: str
    """Where each field was read: a URL, PMID, DOI, a file of the repository or the knowledge base."""
    checked: date
    """When it was read (or recorded from the verified knowledge base)."""
    unverified: str | None = None

    @field_validator("verified")
    @classmethod
    def _names_a_source(cls, value: str) -> str:
        if not _SOURCE.search(value):
            raise ValueError(
                "must name where the fields were read: a URL, PMID, DOI, PMC or NCT id, a file of the "
                "repository or knowledge base (e.g. 'sources-and-caveats.md §7'), or a web site"
            )
        return value

    def reference(self) -> str:
        """The reference as one line of text, Vancouver-like."""
        parts = [p for p in (self.authors, self.title) if p]
        text = ". ".join(p.rstrip(".") for p in parts) + "."
        journal = " ".join(str(p) for p in (self.journal, self.year) if p)
        if journal:
            text += f" {journal}"
            if self.volume:
                text += f";{self.volume}"
            if self.pages:
                text += f":{self.pages}"
            text += "."
        if self.pmid:
            text += f" PMID {self.pmid}."
        if self.doi:
            text += f" doi:{self.doi}."
        if self.url and not (self.pmid or self.doi):
            text += f" {self.url}"
        return text

    def links(self) -> list[Link]:
        """Links a clinician can open: PubMed, DOI, then the citation's own URL, without repeats."""
        links: list[Link] = []
        if self.pmid:
            links.append(Link(f"PubMed {self.pmid}", f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"))
        if self.doi:
            links.append(Link(f"doi:{self.doi}", f"https://doi.org/{self.doi}"))
        # Links are https: an http:// citation URL (an HL7 canonical URL, say) is linked over https.
        url = (
            "https://" + self.url.removeprefix("http://")
            if self.url and self.url.startswith("http://")
            else self.url
        )
        if url and all(link.url != url for link in links):
            links.append(Link(self.title if len(self.title) <= 60 else self.title[:57] + "...", url))
        return links

    def checked_note(self) -> str:
        """For readers: when the reference was checked and what, naming public sources only (the
        maintainers' record of the internal file each field was read in stays in `verified`)."""
        what = without_internal_files(self.verified)
        note = f"Checked {self.checked.isoformat()}" + (f": {what}" if what else "")
        return note + (f". Not verified: {self.unverified}" if self.unverified else "")

    def primary_url(self) -> str | None:
        """The first link's URL, if any."""
        links = self.links()
        return links[0].url if links else None


@dataclass(frozen=True)
class Link:
    """A label and an absolute URL."""

    label: str
    url: str
