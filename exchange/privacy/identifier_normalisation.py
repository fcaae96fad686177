"""Normalisation ``n1`` of e-mail addresses, organisation domains and opaque ids.

Hashes only match when both labs hash the same string, so every rule here is
part of the published ``n1`` version (docs/privacy.md has the test vectors).
Phone numbers live in ``phone``.

E-mail (decisions made for abuse matching, where one person behind many
sign-ups is what we want to see):

* NFKC, strip, lower-case the whole address (providers treat the local part
  case-insensitively in practice);
* exactly one ``@``; the local part is a dot-atom (RFC 5322 characters, or
  any non-ASCII letter or digit for internationalised addresses), at most 64
  bytes; quoted local parts, comments, display names and ``mailto:`` are
  refused rather than guessed at;
* a ``+tag`` is dropped for every domain (sub-addressing is how one mailbox
  signs up many times; the rare provider where ``+`` is part of a name is
  merged with its base address, an acceptable error for abuse matching);
* for ``gmail.com`` and ``googlemail.com``, dots in the local part are
  dropped and the domain becomes ``gmail.com`` (Gmail ignores both);
* the domain is normalised as below (without dropping ``www.``) and must
  have at least two labels.

Domains: NFKC, strip, lower-case, ideographic full stops become ``.``, one
trailing dot is dropped, each label is converted with IDNA 2003 (Python's
built-in ``idna`` codec: nameprep then punycode; its tables are frozen at
Unicode 3.2, so the result never changes with the Python version) and must be
letters, digits and inner hyphens, 1-63 characters; 253 characters at most;
IP addresses and all-numeric top-level labels are refused. For ``org_domain``
one leading ``www.`` is dropped when at least two labels remain.

Payment and device fingerprints are opaque ids from a processor or an SDK:
NFKC, strip, lower-case (hex ids are written in either case), printable
without whitespace, at most 512 characters.
"""

from __future__ import annotations

import encodings.idna
import ipaddress
import re
import unicodedata

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_LOCAL_ASCII = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_LDH_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_IDEOGRAPHIC_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
MAX_LOCAL_BYTES = 64
MAX_EMAIL_BYTES = 254
MAX_DOMAIN_LENGTH = 253
MAX_OPAQUE_LENGTH = 512


def _has_space_or_control(text: str) -> bool:
    return any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in text)


def _ascii_label(label: str) -> str:
    """One label in ASCII form (punycode for non-ASCII), validated."""
    if not label:
        raise ValueError("domain has an empty label (two dots in a row, or a leading dot)")
    if not label.isascii():
        try:
            label = encodings.idna.ToASCII(label).decode("ascii")
        except UnicodeError:
            raise ValueError(
                f"domain label {label!r} is not a valid internationalised name"
            ) from None
        label = label.lower()
    if not _LDH_LABEL.match(label):
        raise ValueError(
            f"domain label {label!r} must be letters, digits and inner hyphens, 1-63 characters"
        )
    if label.startswith("xn--"):
        try:
            label[4:].encode("ascii").decode("punycode")
        except UnicodeError:
            raise ValueError(f"domain label {label!r} is not valid punycode") from None
    return label


def normalise_domain(raw: str) -> str:
    """A domain in lower-case ASCII (IDNA) form, without a trailing dot."""
    text = unicodedata.normalize("NFKC", raw).strip().lower().translate(_IDEOGRAPHIC_STOPS)
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise ValueError("domain is empty")
    if _has_space_or_control(text):
        raise ValueError("domain contains whitespace or control characters")
    if any(ch in text for ch in "/:@?#[]\\"):
        raise ValueError("expected a bare domain such as example.com, not a URL or address")
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        raise ValueError("an IP address is not a domain")
    domain = ".".join(_ascii_label(label) for label in text.split("."))
    if domain.rsplit(".", 1)[-1].isdigit():
        raise ValueError("domain ends in an all-numeric label; no top-level domain is numeric")
    if len(domain) > MAX_DOMAIN_LENGTH:
        raise ValueError(f"domain is longer than {MAX_DOMAIN_LENGTH} characters")
    return domain


def normalise_org_domain(raw: str) -> str:
    domain = normalise_domain(raw)
    if "." not in domain:
        raise ValueError("organisation domain needs at least two labels, e.g. example.com")
    if domain.startswith("www.") and domain.count(".") >= 2:
        domain = domain[4:]
    return domain


def _check_local_part(local: str) -> None:
    if not local:
        raise ValueError("e-mail address has an empty local part")
    if len(local.encode("utf-8")) > MAX_LOCAL_BYTES:
        raise ValueError(f"e-mail local part is longer than {MAX_LOCAL_BYTES} bytes")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValueError("e-mail local part has a leading, trailing or doubled dot")
    if local.isascii():
        if not _LOCAL_ASCII.match(local):
            raise ValueError("e-mail local part has characters not allowed in an address")
        return
    for ch in local:
        allowed = ch.isalnum() or unicodedata.category(ch)[0] == "M"  # marks belong to letters
        if not allowed and not (ch.isascii() and _LOCAL_ASCII.match(ch)):
            raise ValueError(f"e-mail local part contains {ch!r}")


def normalise_email(raw: str) -> str:
    """The ``n1`` form of an e-mail address; ValueError when it is not one."""
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    if not text:
        raise ValueError("e-mail address is empty")
    if _has_space_or_control(text) or any(ch in text for ch in '<>()[]",;:\\'):
        raise ValueError(
            "not a plain e-mail address (display names, quotes, comments and mailto: "
            "are not accepted)"
        )
    if text.count("@") != 1:
        raise ValueError("an e-mail address has exactly one '@'")
    local, domain = text.split("@")
    _check_local_part(local)
    domain = normalise_domain(domain)
    if "." not in domain:
        raise ValueError("e-mail domain needs at least two labels, e.g. example.com")
    local = local.split("+", 1)[0]
    if domain in _GMAIL_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
    if not local:
        raise ValueError("e-mail local part is empty once its +tag is dropped")
    address = f"{local}@{domain}"
    if len(address.encode("utf-8")) > MAX_EMAIL_BYTES:
        raise ValueError(f"e-mail address is longer than {MAX_EMAIL_BYTES} bytes")
    return address


def normalise_opaque(raw: str) -> str:
    """Payment or device fingerprint: NFKC, strip, lower-case, no inner whitespace."""
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    if not text:
        raise ValueError("identifier is empty")
    if _has_space_or_control(text):
        raise ValueError("identifier contains whitespace or control characters")
    if len(text) > MAX_OPAQUE_LENGTH:
        raise ValueError(f"identifier is longer than {MAX_OPAQUE_LENGTH} characters")
    return text
