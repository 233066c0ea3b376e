"""XML Signature on published CAP: an alerting authority signs what it publishes, as WMO's CAP validator expects.

The key and certificate come only from the environment (ALERTS_CAP_SIGNING_KEY and
ALERTS_CAP_SIGNING_CERT: paths to PEM files), never from config files. The signature is enveloped
(signxml, RSA-SHA256, exclusive canonicalisation) and sits last in <alert>, where the CAP 1.2
schema allows an xmldsig element, so a signed alert stays schema-valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from signxml import XMLSigner, XMLVerifier, methods

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


class SigningConfigError(ValueError):
    """The signing key or certificate cannot be used; the message says which and what to do."""


@dataclass(frozen=True)
class Signer:
    key: bytes
    cert: bytes

    def sign(self, xml: bytes) -> bytes:
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        signed = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                           c14n_algorithm=EXC_C14N).sign(root, key=self.key, cert=self.cert)
        return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def load_signer(key_path: str | None, cert_path: str | None) -> Signer | None:
    """The signer for the configured key, or None when no key is configured."""
    if not key_path:
        return None
    if not cert_path:
        raise SigningConfigError("ALERTS_CAP_SIGNING_KEY is set but ALERTS_CAP_SIGNING_CERT is not: set it to the "
                                 "PEM certificate of the signing key")
    try:
        key, cert = Path(key_path).read_bytes(), Path(cert_path).read_bytes()
    except OSError as exc:
        raise SigningConfigError(f"cannot read the CAP signing key or certificate ({exc.strerror or exc}): check "
                                 "ALERTS_CAP_SIGNING_KEY and ALERTS_CAP_SIGNING_CERT") from None
    signer = Signer(key, cert)
    try:  # fail at start-up, not on the first request
        verify(signer.sign(b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>'), cert)
    except Exception as exc:  # noqa: BLE001 - any crypto failure means the pair is unusable
        raise SigningConfigError(f"the CAP signing key and certificate do not work together ({exc}): check "
                                 "that the certificate belongs to the key") from None
    return signer


def verify(xml: bytes, cert: bytes) -> bytes:
    """The signed content, verified against the certificate; raises when the signature is bad."""
    result = XMLVerifier().verify(xml, x509_cert=cert.decode("ascii"))
    return bytes(etree.tostring(result.signed_xml))
