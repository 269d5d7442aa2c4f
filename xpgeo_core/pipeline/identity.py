"""One image identity, made once from each list entry.

Why: the layer's key is the ImagePath (the URL without ``user:password@``). When the key was
made inside each backend while de-duplication ran on the raw text, ``http://u:p@host/a.jpg``
and ``http://host/a.jpg`` became two features. Here every entry becomes one :class:`Image`
(its :class:`~xpgeo_core.urls.PhotoRef`, parsed once: web or file, the three forms every later
step uses) and de-duplication runs on the key itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from xpgeo_core.urls import MALFORMED_URL, PhotoRef

Entry = Tuple[Optional[int], str]
"""A list entry: (line number in the list file or None, the text)."""


@dataclass(frozen=True)
class Image:
    """One photo as every step of a run knows it: its address (:class:`PhotoRef`, parsed once)
    and where it was listed."""

    ref: PhotoRef
    line: Optional[int] = None

    @classmethod
    def of(cls, text: str, line: Optional[int] = None, *, local_ok: bool = True) -> "Image":
        return cls(PhotoRef.parse(text, local_ok=local_ok), line)

    @property
    def fetch_url(self) -> str:
        """What is fetched and what the XPGEO server is sent: may hold credentials and a presigned query."""
        return self.ref.fetch

    @property
    def image_path(self) -> str:
        """What the layer stores as ImagePath and recognises the photo by on reruns: no ``user:password@``."""
        return self.ref.image_path

    @property
    def display(self) -> str:
        """What logs, messages and Pro's geoprocessing messages show: no credentials, no query."""
        return self.ref.display

    @property
    def is_web(self) -> bool:
        return self.ref.is_web

    @property
    def where(self) -> str:
        """``line 7`` or ``a listed image``: for messages."""
        return f"line {self.line}" if self.line else "a listed image"


@dataclass
class Gathered:
    """The outcome of reading list entries: distinct valid images, and what was set aside."""

    images: List[Image] = field(default_factory=list)
    malformed: List[Tuple[Image, str]] = field(default_factory=list)
    """(the entry as an Image, the reason) for every entry that is not a valid image URL."""
    duplicates: List[Tuple[Image, Image]] = field(default_factory=list)
    """(the repeat, the first entry with the same ImagePath)."""


def gather(entries: Iterable[Entry], *, local_ok: bool = False) -> Gathered:
    """Check and de-duplicate entries on their ImagePath, keeping first occurrences in order.

    A repeated entry, valid or not, is reported once as a duplicate; a malformed one fails
    with its line number (never silently dropped). ``local_ok``: local photo files are images
    too (the local backend), identified by their absolute path (:mod:`xpgeo_core.image_lists`).
    """
    out = Gathered()
    first: Dict[str, Image] = {}
    for line, text in entries:
        if text is None or not str(text).strip():
            continue
        image = Image.of(str(text), line, local_ok=local_ok)
        if image.image_path in first:
            out.duplicates.append((image, first[image.image_path]))
            continue
        first[image.image_path] = image
        problem = image.ref.problem()
        if problem:
            out.malformed.append((image, f"{MALFORMED_URL}: {problem}"))
            continue
        out.images.append(image)
    return out
