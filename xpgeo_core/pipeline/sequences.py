"""Sequences: the photos of a capture in order, near-duplicates left out, headings from the track.

Why here, between the photo pass and the sink: the viewer's next/previous (the layer's
``sequenceOrderField``) must follow the capture, and only the pipeline sees every photo's time and
position before it is sent. The rules are mapillary_tools' (``process_sequence_properties``):

* photos are grouped by the folder of their ImagePath (one camera of a rig per folder), sorted by
  capture time; a sequence is cut where the next photo comes more than ``SEQUENCE_CUTOFF_SECONDS``
  (60 s) later or more than ``SEQUENCE_CUTOFF_METRES`` (600 m) away;
* a photo within ``NEAR_DUPLICATE_METRES`` (0.1 m) and ``NEAR_DUPLICATE_DEGREES`` (5°) of the photo
  before it in its sequence (the last one kept) is a near-duplicate: skipped with that reason, unless
  ``KEEP_NEAR_DUPLICATES``; when either heading is unknown the distance alone decides;
* with ``HEADING_FROM_TRACK`` a photo without a heading takes the bearing to the next photo of its
  sequence (the last photo: from the one before), plus ``HEADING_OFFSET``; a recorded heading is kept.

Numbering (``SequenceId``, ``SequenceOrder``), chosen so that nothing already in a layer is ever
renumbered: sequence *k* owns the block ``[k·10⁷, (k+1)·10⁷)`` of ``SequenceOrder`` values, its first
photo sits at the block's middle, and each other photo is placed by its capture time relative to its
neighbour (seconds, at least 1 ms apart). So the values sort the whole layer sequence by sequence and,
within one, by capture time; a photo added by a later run fits between the photos it was taken
between, before the first or after the last, without touching them. Photos already in the layer (or
already sent by this run) keep their sequence; a new photo joins the sequence of the photo before it
when within the cut-offs, else that of the photo after it, else a new one.

Streaming: photos read in capture order (the usual list or folder order) are placed as they arrive
and handed on at once, or, when a heading is to be inferred, as soon as the next photo of their
folder is read; so reading still overlaps sending. A folder whose photos arrive out of time order is
held from then on and placed when the pass ends (correct, but that folder's sending waits).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from xpgeo_core.schema import acquisition_moment
from xpgeo_core.settings import Settings

BLOCK = 10_000_000.0
"""SequenceOrder values per sequence (seconds of capture time: 115 days, half each way of the first photo)."""
MIDDLE = BLOCK / 2
MIN_STEP = 0.001
"""Two photos of a sequence are at least this far apart in SequenceOrder (equal capture times)."""
EARTH_RADIUS_M = 6_371_008.8
UNKNOWN_HEADING = -999.0
SEQUENCE_FIELDS = ("SequenceId", "SequenceOrder")


# -- the math ---------------------------------------------------------------------------------------

def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine) in metres; right across the antimeridian and at the poles."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Initial great-circle bearing from point 1 to point 2, degrees clockwise from true north, [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def angle_between(a: float, b: float) -> float:
    """The smaller angle between two headings, [0, 180]."""
    d = abs(a - b) % 360.0
    return 360.0 - d if d > 180.0 else d


def heading_of(value: Any) -> Optional[float]:
    """A recorded heading, or None (absent, -999 = unknown, not a finite number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return None if value == UNKNOWN_HEADING else float(value) % 360.0


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def capture_seconds(value: Any) -> Optional[float]:
    """An AcquisitionDate (ISO text or epoch ms) as epoch seconds, or None."""
    moment = acquisition_moment(value)
    return None if moment is None else moment.timestamp()


def folder_of(image_path: str) -> str:
    """The group a photo is sequenced in: the folder part of its ImagePath (query left out)."""
    return image_path.split("?", 1)[0].rsplit("/", 1)[0]


# -- the rules ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    cutoff_seconds: float = 60.0
    cutoff_metres: float = 600.0
    duplicate_metres: float = 0.1
    duplicate_degrees: float = 5.0
    keep_duplicates: bool = False
    heading_from_track: bool = False
    heading_offset: float = 0.0

    @classmethod
    def of(cls, settings: Settings) -> "Rules":
        return cls(cutoff_seconds=settings.sequence_cutoff_seconds, cutoff_metres=settings.sequence_cutoff_metres,
                   duplicate_metres=settings.near_duplicate_metres, duplicate_degrees=settings.near_duplicate_degrees,
                   keep_duplicates=settings.keep_near_duplicates, heading_from_track=settings.heading_from_track,
                   heading_offset=settings.heading_offset)


@dataclass
class Photo:
    """What sequencing needs of one photo: a photo of the layer, or one of this run."""

    t: float
    x: float
    y: float
    heading: Optional[float]
    display: str
    seq: int = 0
    order: float = 0.0
    token: Any = None
    """This run's item (None for a photo already in the layer)."""
    infer: bool = False
    """Its heading is to come from the track."""
    pending: Any = None
    """Its :class:`Outcome`, while the heading waits for the next photo."""

    def key(self) -> Tuple[float, float]:
        return (self.t, self.order)


def photo_of(attributes: Dict[str, Any], display: str, token: Any = None) -> Optional[Photo]:
    """A run's photo, or None when it has no capture time or position (it is sent unsequenced)."""
    t = capture_seconds(attributes.get("AcquisitionDate"))
    x, y = _number(attributes.get("X")), _number(attributes.get("Y"))
    if t is None or x is None or y is None:
        return None
    return Photo(t, x, y, heading_of(attributes.get("CameraHeading")), display, token=token)


def layer_photo(attributes: Dict[str, Any], x: Any, y: Any, display: str) -> Optional[Photo]:
    """A photo already in the layer, with the sequence it was given; None when it has none."""
    seq, order = attributes.get("SequenceId"), _number(attributes.get("SequenceOrder"))
    t = capture_seconds(attributes.get("AcquisitionDate"))
    x, y = _number(x), _number(y)
    if not isinstance(seq, int) or isinstance(seq, bool) or order is None or t is None or x is None or y is None:
        return None
    return Photo(t, x, y, heading_of(attributes.get("CameraHeading")), display, seq=seq, order=order)


@dataclass
class Outcome:
    """What became of one photo of the run: its sequence values (or a near-duplicate of whom)."""

    token: Any
    sequence: Optional[Tuple[int, float]] = None
    duplicate_of: Optional[str] = None
    duplicate_gap: Tuple[float, Optional[float]] = (0.0, None)
    heading: Optional[float] = None
    """A heading inferred from the track (None: none inferred)."""
    heading_from: str = ""


@dataclass
class _Group:
    """One folder: its photos placed so far (layer and run), by capture time."""

    placed: List[Photo] = field(default_factory=list)
    keys: List[Tuple[float, float]] = field(default_factory=list)
    last_t: Optional[float] = None
    held: List[Photo] = field(default_factory=list)
    """Out of time order: placed when the pass ends."""
    waiting: List[Photo] = field(default_factory=list)
    """Placed, its heading waiting for the next photo of the folder."""
    out_of_order: bool = False

    def add(self, photo: Photo) -> None:
        index = bisect.bisect_right(self.keys, photo.key())
        self.keys.insert(index, photo.key())
        self.placed.insert(index, photo)

    def neighbours(self, t: float) -> Tuple[Optional[Photo], Optional[Photo]]:
        """The photo placed last at or before *t*, and the first after it."""
        index = bisect.bisect_right(self.keys, (t, math.inf))
        return (self.placed[index - 1] if index else None,
                self.placed[index] if index < len(self.placed) else None)


class Sequencer:
    """Places a run's photos in sequences (see the module docstring); :meth:`add` as photos are read,
    :meth:`finish` when the pass ends. Both return the :class:`Outcome` of every photo they settle."""

    def __init__(self, rules: Rules, layer_photos: Iterable[Tuple[str, Photo]] = ()) -> None:
        self.rules = rules
        self.groups: Dict[str, _Group] = {}
        self.next_seq = 1
        for folder, photo in layer_photos:
            self.groups.setdefault(folder, _Group()).add(photo)
            self.next_seq = max(self.next_seq, photo.seq + 1)
        for group in self.groups.values():
            group.last_t = None  # the run's own order is what is checked
        self.out_of_order_folders = 0

    def add(self, folder: str, photo: Photo) -> List[Outcome]:
        group = self.groups.setdefault(folder, _Group())
        if not group.out_of_order and group.last_t is not None and photo.t < group.last_t:
            group.out_of_order = True
            self.out_of_order_folders += 1
        if group.out_of_order:
            group.held.append(photo)
            return []
        group.last_t = photo.t
        return self._take(group, photo, self._place(group, photo))

    def finish(self) -> List[Outcome]:
        """The photos still held: those waiting for a heading, and the folders read out of time order."""
        out: List[Outcome] = []
        for group in self.groups.values():
            held, group.held = sorted(group.held, key=lambda p: p.t), []  # stable: equal times keep reading order
            for photo in held:
                out.extend(self._take(group, photo, self._place(group, photo), settle=False))
            out.extend(self._settle(group))
        return out

    def _take(self, group: _Group, photo: Photo, outcome: Outcome, settle: bool = True) -> List[Outcome]:
        """After *photo* was placed: the photos waiting for a next one are settled, and *photo* waits
        when its heading is to come from the track."""
        out = self._settle(group) if settle and outcome.duplicate_of is None else []
        if outcome.duplicate_of is None and photo.infer:
            photo.pending = outcome
            group.waiting.append(photo)
        else:
            out.append(outcome)
        return out

    # -- placing ------------------------------------------------------------------------------------
    def _place(self, group: _Group, photo: Photo) -> Outcome:
        rules = self.rules
        before, after = group.neighbours(photo.t)
        for other in (before, after):
            if other is None or rules.keep_duplicates:
                continue
            gap = distance_m(other.x, other.y, photo.x, photo.y)
            turn = None if other.heading is None or photo.heading is None else angle_between(other.heading,
                                                                                                photo.heading)
            if (gap <= rules.duplicate_metres and (turn is None or turn <= rules.duplicate_degrees)
                    and abs(photo.t - other.t) <= rules.cutoff_seconds):
                return Outcome(photo.token, duplicate_of=other.display, duplicate_gap=(gap, turn))
        photo.infer = rules.heading_from_track and photo.heading is None
        seq, order = self._number(before, after, photo)
        photo.seq, photo.order = seq, order
        group.add(photo)
        outcome = Outcome(photo.token, sequence=(seq, order))
        photo.token = None  # the placed record stays small: the item goes on with its outcome
        return outcome

    def _near(self, a: Photo, b: Photo) -> bool:
        return (abs(a.t - b.t) <= self.rules.cutoff_seconds
                and distance_m(a.x, a.y, b.x, b.y) <= self.rules.cutoff_metres)

    def _number(self, before: Optional[Photo], after: Optional[Photo], photo: Photo) -> Tuple[int, float]:
        if before is not None and self._near(before, photo):
            order = before.order + max(photo.t - before.t, MIN_STEP)
            if after is not None and after.seq == before.seq and order >= after.order:
                order = (before.order + after.order) / 2
            if order < (before.seq + 1) * BLOCK:
                return before.seq, order
        if after is not None and self._near(photo, after):
            order = after.order - max(after.t - photo.t, MIN_STEP)
            if order >= after.seq * BLOCK:
                return after.seq, order
        seq = self.next_seq
        self.next_seq += 1
        return seq, seq * BLOCK + MIDDLE

    # -- headings from the track --------------------------------------------------------------------
    def _settle(self, group: _Group) -> List[Outcome]:
        """The photos whose heading waited for the next photo of their folder: inferred now."""
        out = []
        for photo in group.waiting:
            outcome, photo.pending = photo.pending, None
            outcome.heading, outcome.heading_from = self._track_heading(group, photo)
            out.append(outcome)
        group.waiting = []
        return out

    def _track_heading(self, group: _Group, photo: Photo) -> Tuple[Optional[float], str]:
        index = bisect.bisect_left(group.keys, photo.key())
        following = next((p for p in group.placed[index + 1:index + 2] if p.seq == photo.seq), None)
        if following is not None:
            bearing, how = bearing_deg(photo.x, photo.y, following.x, following.y), "bearing to the next photo"
        else:
            preceding = next((p for p in group.placed[max(0, index - 1):index] if p.seq == photo.seq), None)
            if preceding is None:
                return None, "the only photo of its sequence: no track to take a heading from"
            bearing, how = bearing_deg(preceding.x, preceding.y, photo.x, photo.y), "bearing from the previous photo"
        return (bearing + self.rules.heading_offset) % 360.0, how
