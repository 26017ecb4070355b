"""How a charge point secures its connection: the security profiles of the OCPP 1.6 Security Extension.

=======  ==============================================  ==========================================
profile  transport                                        the charge point proves who it is by
=======  ==============================================  ==========================================
0        as the URL says (``ws://`` or ``wss://``)          nothing
1        as the URL says                                  HTTP Basic: its id and ``AuthorizationKey``
2        TLS (``wss://``), the Central System verified    HTTP Basic: its id and ``AuthorizationKey``
3        TLS (``wss://``), the Central System verified    its client certificate (mutual TLS)
=======  ==============================================  ==========================================

From profile 2 on, a ``ws://`` URL is used as ``wss://`` on the same host, port and path. The Central
System's certificate and host name are always verified, against the system's CAs or a CA file
(:class:`TlsFiles`). ``SecurityProfile`` may only go up (:func:`profile_change`): the charge point then
reconnects with the new profile, and if that connection fails, falls back to the previous one.

The ``AuthorizationKey`` is a secret: nothing here logs or returns it but the Basic authentication header.
"""

import base64
import functools
import ssl
from urllib.parse import urlsplit, urlunsplit

import attrs

from actors.ocpp import ConfigurationStatus

__all__ = ["TlsFiles", "basic_authentication", "profile_change", "tls_context", "url_for_profile"]

HIGHEST_PROFILE = 3


@attrs.frozen
class TlsFiles:
    """The files of TLS for one charge point: whom it trusts, and (profile 3) who it is."""

    ca_file: str | None = None
    """PEM file of the CA certificates that may sign the Central System's certificate (default: the
    system's CAs)."""
    client_certificate: str | None = None
    """PEM file of the charge point's certificate (profile 3), with its chain if any."""
    client_key: str | None = None
    """PEM file of the private key of ``client_certificate`` (may be the same file)."""


def basic_authentication(charge_point_id: str, authorization_key: str) -> tuple[bytes, bytes]:
    """The ``Authorization`` header of HTTP Basic authentication (RFC 7617): the charge point's identity as
    the user name, its ``AuthorizationKey`` as the password."""
    credentials = f"{charge_point_id}:{authorization_key}".encode()
    return (b"Authorization", b"Basic " + base64.b64encode(credentials))


def url_for_profile(csms_url: str, profile: int) -> str:
    """The URL to connect to with ``profile``: ``wss://`` from profile 2 on."""
    url = urlsplit(csms_url)
    if profile >= 2 and url.scheme == "ws":
        return urlunsplit(url._replace(scheme="wss"))
    return csms_url


def profile_change(
    current: int, requested: int, *, has_authorization_key: bool, has_client_certificate: bool
) -> ConfigurationStatus:
    """ChangeConfiguration's answer for ``SecurityProfile`` from ``current`` to ``requested``.

    Lowering is refused; so is raising to a profile the charge point cannot use: 1 and 2 need an
    ``AuthorizationKey``, 3 needs a client certificate.
    """
    if requested == current:
        return ConfigurationStatus.ACCEPTED
    if requested < current or requested > HIGHEST_PROFILE:
        return ConfigurationStatus.REJECTED
    if requested in (1, 2) and not has_authorization_key:
        return ConfigurationStatus.REJECTED
    if requested == HIGHEST_PROFILE and not has_client_certificate:
        return ConfigurationStatus.REJECTED
    return ConfigurationStatus.ACCEPTED


def tls_context(files: TlsFiles, *, with_client_certificate: bool) -> ssl.SSLContext:
    """A TLS client context that verifies the Central System (certificate and host name), with the client
    certificate if asked; contexts are shared by every charge point with the same files.

    Raises ``OSError`` or ``ssl.SSLError`` if a file cannot be read or used.
    """
    if with_client_certificate:
        return _context(files.ca_file, files.client_certificate, files.client_key)
    return _context(files.ca_file, None, None)


@functools.lru_cache(maxsize=4096)
def _context(ca_file: str | None, certificate: str | None, key: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    if certificate is not None:
        context.load_cert_chain(certificate, key)
    return context
