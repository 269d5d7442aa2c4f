"""Image URLs, local photo entries and layer names: the client-side checks, and the forms a photo's
address takes (fetched, stored, shown). List files are read by :mod:`xpgeo_core.image_lists`.

This module imports nothing of xpgeo_core but the errors: everything that handles an address
(HTTP, the photo client, the metadata engine, list reading, the backends) stands on it.

The checks use the XPGEO server's own wording (400 "Missing layer name or image URL",
422 "Malformed image URL string", ...) so a person sees the same message whether our
client or the server refused the input; we refuse it before any request is made.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import Enum
from typing import Optional
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from xpgeo_core.errors import ValidationError

MISSING_NAME_OR_URL = "Missing layer name or image URL"
MISSING_NAME_OR_LIST = "Missing layer name or image list"
MISSING_NAME = "Missing layer name"
MALFORMED_URL = "Malformed image URL string"
MALFORMED_URL_IN_LIST = "Malformed image URL string in the list"
LIST_NOT_ARRAY_OR_TOO_BIG = "Image list is either not an array or exceeds maximum size"

_CONTROL = re.compile(r"[\x00-\x20\x7f]")
LINE_BREAK = re.compile(r"\r\n|\r|\n")
"""The line breaks of a URL list: LF, CRLF and CR, nothing else."""


def image_url_problem(url: Optional[str]) -> Optional[str]:
    """Why *url* is not an acceptable image URL, or None when it is.

    Acceptable: ``http``/``https`` with a host, no spaces or control characters.
    """
    if url is None or not str(url).strip():
        return "the image URL is empty"
    url = str(url)
    if _CONTROL.search(url) or any(c.isspace() for c in url):  # U+2028, NEL, no-break space...
        return "it contains a space or a control character (encode spaces as %20)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "it is not a URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "it must start with http:// or https://"
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if not host:
        return "it has no host name"
    try:
        parts.port
    except ValueError:
        return "its port is not a number"
    return None


def check_image_url(url: Optional[str]) -> str:
    """Return the URL, stripped, or raise the server's 422 (400 when missing)."""
    if url is None or not str(url).strip():
        raise ValidationError(MISSING_NAME_OR_URL + ": give the image URL.", status=400)
    url = str(url).strip()
    problem = image_url_problem(url)
    if problem:
        raise ValidationError(f"{MALFORMED_URL}: {url!r}: {problem}.", status=422,
                              hint="Give a full http:// or https:// URL to the photo.")
    return url


# -- web URL or local photo? --------------------------------------------------------------

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".png", ".heic", ".dng")
_SCHEME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
"""A scheme (two characters or more before the colon: ``C:`` is a drive)."""
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def is_web(text: str) -> bool:
    """An ``http(s)://`` address (any case): fetched over HTTP."""
    return text.strip().lower().startswith(("http://", "https://"))


def is_local_photo(text: str) -> bool:
    """A ``file:`` URL or something that looks like a path (a separator, a drive letter, a photo
    extension, or an existing file); ``https://…``, ``htp:/x`` or ``not a url`` are URLs, right or wrong."""
    text = text.strip()
    if text.lower().startswith("file:"):
        return True
    if _SCHEME_LIKE.match(text):
        return False
    return bool("/" in text or "\\" in text or _DRIVE.match(text)
                or os.path.splitext(text)[1].lower() in PHOTO_EXTENSIONS or os.path.isfile(text))


def file_path(source: str) -> str:
    """A ``file://`` URL or plain path as a path of this machine (``~`` expanded, a ``file://host/``
    URL as a UNC share), not made absolute."""
    if source.lower().startswith("file:"):
        parts = urlsplit(source)
        path = url2pathname(unquote(parts.path)) if os.name == "nt" else unquote(parts.path)
        if parts.netloc and parts.netloc not in ("", "localhost"):
            path = "//" + parts.netloc + path  # UNC share
        return path
    return os.path.expanduser(source)


def local_path(text: str) -> str:
    """The absolute path of a local photo entry (``file://`` URLs and ``~`` understood)."""
    return os.path.abspath(file_path(text.strip()))


def entry_problem(text: str, *, local_ok: bool) -> Optional[str]:
    """Why an entry is not an image this run can use, or None (:meth:`PhotoRef.problem`)."""
    return PhotoRef.parse(text, local_ok=local_ok).problem()


def canonical(text: str, *, local_ok: bool) -> str:
    """The entry as the pipeline identifies it (:attr:`PhotoRef.fetch`): local photos as absolute
    paths, URLs with their scheme and host in lower case and no fragment (:func:`normal_url`)."""
    return PhotoRef.parse(text, local_ok=local_ok).fetch


# -- layer names -------------------------------------------------------------------------

def layer_name_problem(name: Optional[str]) -> Optional[str]:
    if name is None or not str(name).strip():
        return "the layer name is empty"
    if _CONTROL.sub("", str(name).strip()) != str(name).strip().replace(" ", ""):
        return "it contains a control character"
    return None


def check_layer_name(name: Optional[str], missing: str = MISSING_NAME) -> str:
    """Return the stripped layer name, or raise the server's 400 ("Missing ..." only when it is missing)."""
    problem = layer_name_problem(name)
    if problem and (name is None or not str(name).strip()):
        raise ValidationError(f"{missing}: {problem}.", status=400, hint="Give the layer (feature service) name.")
    if problem:
        raise ValidationError(f"Layer name {str(name)!r}: {problem}.", status=400,
                              hint="Type the layer name again without control characters (tabs, line breaks).")
    return str(name).strip()


# -- URLs in messages, logs and layers --------------------------------------------------

def safe_url(url: str) -> str:
    """A URL fit for messages and logs: no ``user:password@`` (cut up to the last ``@`` before
    the path, so a password holding ``@``, ``?`` or ``#`` goes too, even at the cost of a
    stranger URL), no query (presigned signatures, tokens) and no fragment."""
    bare = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/]*@", r"\1", url)
    return strip_query(bare).split("#", 1)[0]


_SIGNING_PREFIXES = ("x-amz-", "x-goog-")
"""Query parameters of AWS Signature V4 and Google Cloud Storage V4 presigned URLs."""
_SIGNING_NAMES = frozenset(["awsaccesskeyid", "signature", "expires", "policy", "key-pair-id", "googleaccessid"])
"""AWS Signature V2 (S3), CloudFront signed URLs, GCS V2 signed URLs."""
_AZURE_SAS = frozenset(["sv", "ss", "srt", "sp", "se", "st", "spr", "sig", "sr", "si", "sdd", "skoid", "sktid",
                        "skt", "ske", "sks", "skv", "saoid", "suoid", "scid", "rscc", "rscd", "rsce", "rscl", "rsct"])
"""Azure shared access signature parameters: dropped only where a ``sig`` marks a SAS."""
_TOKEN_NAMES = frozenset(["token", "access_token", "api_key", "apikey"])


def _without_userinfo(url: str) -> str:
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1", url)


def _unsigned_query(query: str) -> str:
    """*query* without presigned-URL signing parameters and tokens: the signature is a secret, it
    expires, and it changes with every signing, so a photo must be known (and stored) without it."""
    pairs = [p for p in query.split("&") if p]
    names = [p.split("=", 1)[0].lower() for p in pairs]
    sas = "sig" in names
    kept = [p for p, n in zip(pairs, names)
            if not (n.startswith(_SIGNING_PREFIXES) or n in _SIGNING_NAMES or n in _TOKEN_NAMES
                    or (sas and n in _AZURE_SAS))]
    return "&".join(kept)


def without_credentials(url: str) -> str:
    """What may be stored or shown as the photo's URL, and what a photo is recognised by on reruns:
    the URL without the ``user:password@`` of its authority (RFC 3986: up to the first ``/``, ``?``
    or ``#``) and without presigned-URL signing parameters and tokens in its query (S3 and GCS
    ``X-Amz-*``/``X-Goog-*``, S3 V2 and CloudFront ``Signature``/``Expires``/``Policy``, Azure SAS,
    ``token``); everything else kept."""
    url = _without_userinfo(url)
    if "?" not in url:
        return url
    head, _, rest = url.partition("?")
    query, hash_, fragment = rest.partition("#")
    query = _unsigned_query(query)
    return head + ("?" + query if query else "") + hash_ + fragment


def is_presigned(url: str) -> bool:
    """Does *url* carry a signature or token in its query that :func:`without_credentials` leaves out?"""
    return without_credentials(url) != _without_userinfo(url)


_URL_PARTS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)$", re.S)


def normal_url(url: str) -> str:
    """The URL spelled the one way a photo is known by: the scheme and host in lower case (RFC
    3986 6.2.2.1: they are case-insensitive) and no ``#fragment`` (never sent to the server), so
    ``HTTP://Photos.Example.com/a.jpg#x`` and ``http://photos.example.com/a.jpg`` are one photo, not
    two features. Path, query and ``user:password`` stay as typed (they are case-sensitive); a URL
    with an ``@`` after its authority (a password holding ``/``, ``?`` or ``#``) is left alone."""
    match = _URL_PARTS.match(url)
    if not match or "@" in match.group(3):
        return url
    scheme, authority, rest = match.groups()
    userinfo, at, host = authority.rpartition("@")
    return f"{scheme.lower()}://{userinfo}{at}{host.lower()}{rest.split('#', 1)[0]}"


def strip_query(url: str) -> str:
    """Drop the query string: it may hold signatures (presigned S3) or, from other clients, tokens."""
    return url.split("?", 1)[0]


# -- one photo's address, parsed once ----------------------------------------------------

def printable(text: str) -> str:
    """*text* with its control and separator characters written as escapes (``\\x1b``, ``\\u2028``):
    an address is shown in a terminal and in Pro's messages, where an escape sequence would act
    and a NUL or a line separator would hide what is wrong with it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class PhotoKind(str, Enum):
    """Where a photo is read from: decided once, when its list entry is parsed."""

    WEB = "web"
    """An ``http(s)://`` address (or an entry that is meant as one and is malformed)."""
    FILE = "file"
    """A file on this machine (a path or ``file://`` URL), known by its absolute path."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PhotoRef:
    """One photo's address as every later step takes it: parsed once from its list entry.

    Why a value and not a string: "web URL or file?", the stored form without credentials or
    signature and the shown form were each re-derived from the text by every module that
    touched a photo, and two spellings of one photo became two features. Here the entry is
    read once: scheme and host in lower case, no ``#fragment``, a file as its absolute path.
    """

    kind: PhotoKind
    fetch: str
    """What is read: the URL with any ``user:password@`` and presigned query (what the XPGEO
    server is sent, too), or the file's absolute path."""
    image_path: str
    """What the layer stores as ImagePath and a rerun recognises the photo by: no credentials,
    no signing parameters or tokens."""
    display: str
    """What messages and logs show: no credentials, no query, control characters escaped."""

    @classmethod
    def parse(cls, text: str, *, local_ok: bool = True) -> "PhotoRef":
        """The photo an entry names. With *local_ok* false (a portal or XPGEO-server run) every
        entry is a web address, so a path is then a malformed URL rather than a file."""
        text = str(text).strip()
        if local_ok and is_local_photo(text):
            path = local_path(text)
            return cls(PhotoKind.FILE, path, path, printable(path))
        url = normal_url(text)
        return cls(PhotoKind.WEB, url, without_credentials(url), printable(safe_url(url)))

    @classmethod
    def named(cls, text: str) -> "PhotoRef":
        """A photo known only by the name it is given (bytes already in memory): its kind read off
        the name, nothing resolved (a relative name is not made a path of this machine)."""
        text = str(text).strip()
        kind = PhotoKind.WEB if is_web(text) else PhotoKind.FILE
        return cls(kind, text, without_credentials(text), printable(safe_url(text)))

    @property
    def is_web(self) -> bool:
        return self.kind is PhotoKind.WEB

    @property
    def has_userinfo(self) -> bool:
        """The fetch URL carries a ``user:password@``."""
        return self.is_web and _without_userinfo(self.fetch) != self.fetch

    @property
    def signed(self) -> bool:
        """The fetch URL carries a signature or token that the stored ImagePath leaves out."""
        return self.is_web and is_presigned(self.fetch)

    @property
    def has_credentials(self) -> bool:
        """The fetch URL carries a ``user:password@`` (or a signature) the stored ImagePath leaves out."""
        return self.fetch != self.image_path

    def problem(self) -> Optional[str]:
        """Why this photo cannot be used, or None: the XPGEO server's URL rules for a web address,
        for a file that it is there and is not a folder."""
        if self.is_web:
            return image_url_problem(self.fetch)
        if os.path.isdir(self.fetch):
            return "it is a folder, not a photo (give the folder as the photo folder instead)"
        if not os.path.isfile(self.fetch):
            return "no such file"
        return None

    def __str__(self) -> str:  # never the secret-bearing fetch form by accident
        return self.display
