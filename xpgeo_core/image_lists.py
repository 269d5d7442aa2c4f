"""Where the images of a run come from: list files, typed-in entries and photo folders.

Everything that READS a list is here, so a list means the same thing to every front end
and every backend. The output is list entries, ``(line number or None, text)``, which
the image pipeline turns into image identities (it owns de-duplication and sending).

A list file is any of:

* plain text, one image per line: UTF-8 with or without BOM, or UTF-16 with BOM (what
  Windows Notepad and Excel call "Unicode"); lines end in ``\\n``, ``\\r\\n`` or ``\\r``
  only (a form feed or a Unicode line separator inside a URL is not a line break);
  blank lines and ``#`` comments skipped; quotes around an entry removed;
* a CSV (or tab/semicolon separated) table with a header: the image column is found by
  its name (``url``, ``image_url``, ``ImagePath``, ... see :data:`URL_COLUMNS`), else it
  is the column whose values are URLs or paths. Line numbers are the file's own.

An entry is an ``http(s)`` URL, or a local photo (a path or ``file://`` URL). Local
photos only work where the layer's viewers can reach them: the local backend (and ArcGIS
Pro on the same machine), or a portal layer that takes them as feature attachments
(ATTACHMENTS). :func:`refuse_local_photos` says so for the other backends.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import os
import re
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

from xpgeo_core.errors import ValidationError
from xpgeo_core.settings import BACKEND_PLACES
# What an entry is (web URL or local photo) is decided in urls.py, below the photo client; the names
# stay importable from here for the callers that know them from here.
from xpgeo_core.urls import (PHOTO_EXTENSIONS, canonical, entry_problem, image_url_problem,  # noqa: F401
                             is_local_photo, local_path)

Entry = Tuple[Optional[int], str]
"""A list entry: (line number in the list file, or None; the text)."""

URL_COLUMNS = ("url", "image_url", "imageurl", "image url", "imagepath", "image_path", "image path", "image",
               "photo_url", "photourl", "photo", "picture", "path", "file", "filename", "file_name", "filepath",
               "file_path", "href", "link", "uri", "src", "source")
"""Header names of the image column, best first (compared without case or surrounding spaces)."""

DEFAULT_PHOTO_FILTER = "*.jpg;*.jpeg"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DELIMITERS = ",;\t|"
LIST_HINT = ("Put one image URL per line (UTF-8 or UTF-16 text), or give a CSV with a header and a url column; "
             "blank lines and # comments are skipped.")


def refuse_local_photos(entries: Iterable[Entry], backend: str, *, uploads: bool = False) -> None:
    """One clear error when a run for a portal or an XPGEO server holds local photos: the layer's
    viewers (ArcGIS Online, a browser, the server) could not open a file on this machine. *uploads*:
    the portal backend uploads them as feature attachments (ATTACHMENTS), so they are welcome."""
    local = [(line, text) for line, text in entries if is_local_photo(text)]
    if not local or backend == "local" or (uploads and backend == "portal"):
        return
    line, text = local[0]
    where = f"line {line}: " if line else ""
    place = BACKEND_PLACES.get(backend, f"of the {backend} backend")
    raise ValidationError(
        f"{len(local)} image(s) are local files ({where}{text!r}): a layer {place} stores each photo's "
        f"address, and its viewers could not reach a file on this machine.",
        status=400, hint="Upload them as feature attachments (a portal layer made with create-oi-layer --attachments, "
                         "then append with --attachments), or upload the photos to S3 or a web server and list "
                         "their http(s) URLs, or make the layer with the local backend (--backend local).")


# -- list files ------------------------------------------------------------------------

def decode_list(data: bytes, path: str) -> str:
    """The text of a list file: UTF-8 (BOM or not) or UTF-16 (BOM; or none, when every other
    byte of ASCII text is zero)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"URL list file {path!r} is not valid UTF-16 text (byte {exc.start}).",
                                  status=400, hint="Save the file again as UTF-8 or Unicode text.") from None
    if b"\x00" in data and len(data) % 2 == 0:  # UTF-16 without a BOM: every other byte of ASCII is zero
        for encoding, zeros in (("utf-16-le", data[1::2]), ("utf-16-be", data[0::2])):
            if zeros.count(0) >= len(zeros) * 0.9:
                try:
                    return data.decode(encoding)
                except UnicodeDecodeError:
                    break
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"URL list file {path!r} is not UTF-8 text (byte {exc.start}).", status=400,
                              hint="Save the file as UTF-8 (Notepad: Save As > Encoding > UTF-8).") from None


def split_lines(text: str) -> List[str]:
    """Lines ended by ``\\n``, ``\\r\\n`` or ``\\r`` only (``str.splitlines`` also breaks on form
    feeds and Unicode separators, which can sit inside a URL)."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def unquote_entry(text: str) -> str:
    """``"https://h/a.jpg"`` or ``'https://h/a.jpg'`` (as spreadsheets and scripts write them) without the quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def read_list_file(path: str) -> List[Entry]:
    """The entries of a list file (plain or CSV; see the module docstring). Malformed entries
    are kept, so they are reported with their line numbers, never silently dropped."""
    p = Path(path)
    if p.is_dir():
        raise ValidationError(f"URL list file {path!r} is a folder, not a file.", status=400,
                              hint="Give the path of a text file with one image URL per line, or give the "
                                   "folder as the photo folder.")
    if not p.is_file():
        raise ValidationError(f"URL list file {path!r} was not found.", status=400,
                              hint="Give the path of a text file with one image URL per line.")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ValidationError(f"URL list file {path!r} cannot be read: {exc.strerror}.", status=400) from None
    lines = split_lines(decode_list(data, path))
    if _is_table(lines, p.suffix.lower()):
        return _table_entries(lines, path)
    entries: List[Tuple[Optional[int], str]] = []
    for number, raw in enumerate(lines, start=1):
        text = unquote_entry(raw)
        if text and not text.startswith("#"):
            entries.append((number, text))
    if entries and _is_header(entries[0][1]):
        entries.pop(0)  # a one-column list with a "url" heading
    return entries


def _is_header(cell: str) -> bool:
    return cell.strip().strip("\"'").strip().lower() in URL_COLUMNS


def _first_content(lines: Sequence[str]) -> Tuple[int, str]:
    for index, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            return index, line
    return -1, ""


def _is_table(lines: Sequence[str], suffix: str) -> bool:
    """A CSV (by its extension or its shape): the first line is a header row, not an image."""
    _, first = _first_content(lines)
    if not any(d in first for d in _DELIMITERS):
        return False
    if suffix in (".csv", ".tsv"):
        return True
    entry = unquote_entry(first)
    return image_url_problem(entry) is not None and not os.path.isfile(entry)


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in _DELIMITERS}
    return max(counts, key=lambda d: (counts[d], -_DELIMITERS.index(d)))


def _table_entries(lines: Sequence[str], path: str) -> List[Entry]:
    start, header_line = _first_content(lines)
    reader = csv.reader(iter(lines[start:]), delimiter=_delimiter(header_line))
    rows: List[Tuple[int, List[str]]] = []
    for row in reader:
        rows.append((start + reader.line_num, row))
    header = [cell.strip().lower() for cell in rows[0][1]]
    body = rows[1:]
    column = _column_by_name(header)
    if column is None:
        column = _column_of_urls(body)
    if column is None:
        shown = ", ".join(repr(c) for c in rows[0][1])
        raise ValidationError(f"URL list file {path!r} is a table, but no column holds the image URLs (header: "
                              f"{shown}).", status=400,
                              hint="Name the column url (or image_url, ImagePath), or put the URLs in a column "
                                   "of their own.")
    entries: List[Tuple[Optional[int], str]] = []
    for number, row in body:
        text = unquote_entry(row[column]) if column < len(row) else ""
        if text and not text.startswith("#"):
            entries.append((number, text))
        elif not text and any(cell.strip() for cell in row):
            # a row with data but no URL is reported (as the row) with its line number, never dropped
            entries.append((number, ",".join(row)))
    return entries


def _column_by_name(header: List[str]) -> Optional[int]:
    for name in URL_COLUMNS:
        if name in header:
            return header.index(name)
    return None


def _column_of_urls(body: List[Tuple[int, List[str]]]) -> Optional[int]:
    """The column where most values are http(s) URLs (at least half of the filled cells)."""
    best, best_count = None, 0
    width = max((len(row) for _, row in body), default=0)
    for index in range(width):
        cells = [unquote_entry(row[index]) for _, row in body if index < len(row) and row[index].strip()]
        urls = sum(1 for cell in cells if image_url_problem(cell) is None)
        if urls > best_count and urls * 2 >= len(cells):
            best, best_count = index, urls
    return best


# -- photo folders -----------------------------------------------------------------------

def filter_patterns(pattern: Optional[str]) -> List[str]:
    """The wildcards of a file name filter: ``;`` or ``,`` separated, compared in lower case
    (default ``*.jpg;*.jpeg``)."""
    return [p.strip().lower() for p in re.split(r"[;,]", pattern or DEFAULT_PHOTO_FILTER) if p.strip()]


def name_matches(path: str, patterns: Sequence[str]) -> bool:
    """Does *path* (``a/b/photo.JPG``) match one of *patterns*, in any case? A wildcard with a ``/``
    is matched against the whole path, one without against the file name."""
    by_name, by_path = _compiled(tuple(patterns))
    return bool((by_name is not None and by_name.match(path.rsplit("/", 1)[-1]))
                or (by_path is not None and by_path.match(path)))


@functools.lru_cache(maxsize=32)
def _compiled(patterns: Tuple[str, ...]) -> Tuple[Optional["re.Pattern[str]"], Optional["re.Pattern[str]"]]:
    """The wildcards as two case-insensitive regular expressions (file-name ones, path ones): a bucket
    listing matches 100,000 keys against them."""
    def one(group: List[str]) -> Optional["re.Pattern[str]"]:
        return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in group), re.IGNORECASE) if group else None

    return one([p for p in patterns if "/" not in p]), one([p for p in patterns if "/" in p])


def photo_files(folder: str, pattern: Optional[str] = None) -> List[str]:
    """Every photo under *folder* (sub-folders too) whose file name matches *pattern*
    (``;`` or ``,`` separated wildcards, any case; default ``*.jpg;*.jpeg``), sorted by path.
    Hidden files (``.name``, macOS ``._name``) are skipped."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        what = "a file, not a folder" if root.exists() else "not found"
        raise ValidationError(f"Photo folder {folder!r} is {what}.", status=400,
                              hint="Give the folder that holds the photos (its sub-folders are read too).")
    patterns = filter_patterns(pattern)
    found = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name_matches(name, patterns):
                found.append(os.path.abspath(os.path.join(here, name)))
    if not found:
        raise ValidationError(f"Photo folder {folder!r} holds no file matching {pattern or DEFAULT_PHOTO_FILTER!r} "
                              "(sub-folders included).", status=400,
                              hint="Check the folder, or widen the file name filter (e.g. *.jpg;*.jpeg;*.tif).")
    return found


def list_entries(url_file: Optional[str] = None, urls: Iterable[Optional[str]] = (),
                 photo_folder: Optional[str] = None, photo_filter: Optional[str] = None) -> List[Entry]:
    """Every entry of a run, in order: the list file's, those given directly, then the folder's photos."""
    entries: List[Entry] = list(read_list_file(url_file)) if url_file else []
    entries.extend((None, unquote_entry(str(u))) for u in urls if u is not None and str(u).strip())
    if photo_folder:
        entries.extend((None, path) for path in photo_files(photo_folder, photo_filter))
    return entries
