"""Which FHIR servers the prefetch fallback may call: the `fhirServer` of a hook call, checked before any
request is sent (and before the EHR's access token could go anywhere).

A server may be used when its URL falls under a configured base URL: the calling issuer's
`fhir_servers` (MDRCDS_TRUSTED_ISSUERS) or MDRCDS_FHIR_SERVERS. "Falls under" means the same scheme,
host and port (the scheme's default when none is written) and a path at or below the base's path, by
whole segments. With authentication required, nothing else is used. With authentication off and no
MDRCDS_FHIR_SERVERS, a server is used only when every address its host resolves to is public: loopback,
private, link-local (169.254.169.254 included, however it is written), shared, reserved and multicast
addresses are refused unless listed.

A refusal gives the caller one fixed answer, whatever the reason (see `cdsservice`): the service is no
oracle for which hosts or ports exist.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from mdrcds.settings import Settings

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _parts(url: str) -> tuple[str, str, int, list[str]] | None:
    try:
        split = urlsplit(url.strip())
        port = split.port or _DEFAULT_PORTS.get(split.scheme.lower(), -1)
    except ValueError:
        return None
    host = (split.hostname or "").lower()
    if split.scheme.lower() not in _DEFAULT_PORTS or not host or split.username or split.password:
        return None
    return split.scheme.lower(), host, port, [segment for segment in split.path.split("/") if segment]


def under(url: str, base: str) -> bool:
    """True when `url` is `base` or below it (same scheme, host and port; path by whole segments)."""
    target, root = _parts(url), _parts(base)
    if target is None or root is None:
        return False
    return target[:3] == root[:3] and target[3][: len(root[3])] == root[3]


def public_host(url: str) -> bool:
    """True when every address the URL's host resolves to is a public (global unicast) address."""
    parts = _parts(url)
    if parts is None:
        return False
    try:
        infos = socket.getaddrinfo(parts[1], parts[2], proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    return bool(addresses) and all(a.is_global and not a.is_multicast for a in addresses)


def usable(url: str, issuer: str | None, settings: Settings) -> tuple[bool, str]:
    """Whether the fallback may call `url` for a caller from `issuer`, and why (for the log only)."""
    listed = list(settings.fhir_servers)
    trusted = settings.trusted_issuers.get(issuer) if issuer else None
    if trusted is not None:
        listed += trusted.fhir_servers
    if any(under(url, base) for base in listed):
        return True, "listed"
    if settings.auth == "required":
        return False, "not a FHIR server configured for the token's issuer"
    if settings.fhir_servers:
        return False, "not under MDRCDS_FHIR_SERVERS"
    if not public_host(url):
        return False, "not a public address (loopback, private, link-local or unresolvable)"
    return True, "public address"
