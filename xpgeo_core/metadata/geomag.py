"""True north from magnetic north: the World Magnetic Model (WMM), in the standard library.

Why: phones and some cameras record ``GPSImgDirectionRef = M``, a compass heading. Magnetic
north is off true north by the local declination (20° and more in much of North America and
Europe), so an Oriented Imagery layer fed magnetic headings points every camera the wrong way.
The rules turn such a heading into a true one with :func:`true_north` (the hook in ``rules.build``).

The model is NOAA NCEI and BGS's WMM, public-domain spherical-harmonic coefficients of degree
and order 12 with a linear secular variation, one model per five years. The coefficient files
(NOAA's ``WMM.COF`` format) ship beside this module in ``wmm/``: ``WMM2025.COF`` for
2025.0–2030.0 and ``WMM2020.COF`` for 2020.0–2025.0. They are read on first use, once per
process; importing this module reads nothing. The maths follow the WMM technical report
(NOAA, "The US/UK World Magnetic Model for 2025–2030", section 1.2): geodetic WGS 84 position →
geocentric spherical coordinates, Schmidt semi-normalised associated Legendre functions, the
field in the geocentric frame, rotated back to the geodetic frame; declination = atan2(Y, X).

The model's own accuracy is its technical report's error model: one standard deviation of
declination is sqrt(0.26² + (c/H)²) degrees, H the horizontal field in nT, c 5417 nT for WMM2025
and 5625 nT for WMM2020; about 0.3–0.5° at mid latitudes, more near the magnetic poles, where a
compass itself is unreliable: headings there are still corrected but the photo is told so (the
horizontal field is below 6000 nT).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

WGS84_A = 6378.137                        # km, semi-major axis
WGS84_F = 1.0 / 298.257223563             # flattening
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)      # first eccentricity squared
REFERENCE_RADIUS = 6371.2                 # km, the geomagnetic reference radius of the WMM
LIFESPAN_YEARS = 5.0                      # each WMM is valid for five years from its epoch
HEIGHT_RANGE_M = (-1000.0, 850000.0)      # heights the WMM is specified for (−1 km to 850 km)
CAUTION_NT = 6000.0                       # horizontal field below this: compass unreliable (NOAA's caution zone)
DECLINATION_ERROR = {"WMM2025": (0.26, 5417.0), "WMM2020": (0.26, 5625.0)}  # (degrees, nT): the error model
MODEL_DIR = Path(__file__).with_name("wmm")
MODEL_FILES = ("WMM2025.COF", "WMM2020.COF")


class ModelUnavailable(Exception):
    """A coefficient file is missing or damaged (a broken install): the message names it."""


@dataclass(frozen=True)
class Model:
    """One WMM: Schmidt-normalised Gauss coefficients at the epoch and their yearly change.

    The four tuples are flat, indexed by ``n*(n+1)//2 + m`` (degree n, order m); index 0 is
    unused. The Schmidt semi-normalisation factors are folded in at load time, so evaluation
    works with the cheaper Gauss-normalised Legendre recursion.
    """

    name: str
    epoch: float
    degree: int
    g: Tuple[float, ...]
    h: Tuple[float, ...]
    g_dot: Tuple[float, ...]
    h_dot: Tuple[float, ...]

    @property
    def valid_until(self) -> float:
        return self.epoch + LIFESPAN_YEARS

    def covers(self, year: float) -> bool:
        return self.epoch <= year < self.valid_until

    def field(self, lat: float, lon: float, height_m: float, year: float) -> Tuple[float, float, float]:
        """(X north, Y east, Z down) in nT at a WGS 84 position (degrees, metres above the ellipsoid)
        and decimal year. No range checks: :func:`declination` does them."""
        return _field(self, lat, lon, height_m / 1000.0, year)

    def declination(self, lat: float, lon: float, height_m: float, year: float) -> float:
        """Degrees east of true north (negative: west)."""
        x, y, _z = self.field(lat, lon, height_m, year)
        return math.degrees(math.atan2(y, x))


# -- coefficients -------------------------------------------------------------------------------

def _index(n: int, m: int) -> int:
    return n * (n + 1) // 2 + m


def _schmidt_factors(degree: int) -> List[float]:
    """S(n, m), which turns a Gauss-normalised P(n, m) into a Schmidt semi-normalised one."""
    factors = [0.0] * _index(degree + 1, 0)
    factors[0] = 1.0
    for n in range(1, degree + 1):
        factors[_index(n, 0)] = factors[_index(n - 1, 0)] * (2 * n - 1) / n
        for m in range(1, n + 1):
            factors[_index(n, m)] = factors[_index(n, m - 1)] * math.sqrt(
                (n - m + 1) * (2 if m == 1 else 1) / (n + m))
    return factors


def parse_cof(text: str, source: str = "WMM.COF") -> Model:
    """A model from NOAA's ``WMM.COF`` text: a header ``epoch name date``, then one line per
    ``n m g h g_dot h_dot`` (nT, nT/year), then a line of 9s. Raises :class:`ModelUnavailable`
    naming *source* when anything is missing or malformed."""
    lines = text.splitlines()
    try:
        header = lines[0].split()
        epoch = float(header[0])
        name = header[1].replace("-", "")
    except (IndexError, ValueError):
        raise ModelUnavailable("%s: the first line is not 'epoch model-name date'" % source) from None
    rows = {}
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if fields[0].startswith("9999"):
            break
        try:
            n, m = int(fields[0]), int(fields[1])
            rows[(n, m)] = tuple(float(v) for v in fields[2:6])
            if len(rows[(n, m)]) != 4 or not 0 <= m <= n:
                raise ValueError
        except (IndexError, ValueError):
            raise ModelUnavailable("%s, line %d: expected 'n m g h g_dot h_dot'" % (source, number)) from None
    degree = max((n for n, _m in rows), default=0)
    missing = [(n, m) for n in range(1, degree + 1) for m in range(n + 1) if (n, m) not in rows]
    if degree < 1 or missing:
        raise ModelUnavailable("%s: coefficients missing (degree %d%s)"
                               % (source, degree, ", first missing n=%d m=%d" % missing[0] if missing else ""))
    size = _index(degree + 1, 0)
    columns = [[0.0] * size for _ in range(4)]
    factors = _schmidt_factors(degree)
    for (n, m), values in rows.items():
        k = _index(n, m)
        for column, value in zip(columns, values):
            column[k] = value * factors[k]
    return Model(name, epoch, degree, *(tuple(c) for c in columns))


_lock = threading.Lock()
_models: Optional[Tuple[Model, ...]] = None
_failure: Optional[str] = None


def models() -> Tuple[Model, ...]:
    """The shipped models, newest first, read once per process (a failure is remembered too, so a
    broken install costs one file read, not one per photo)."""
    global _models, _failure
    if _models is None and _failure is None:
        with _lock:
            if _models is None and _failure is None:
                try:
                    loaded = []
                    for file_name in MODEL_FILES:
                        path = MODEL_DIR / file_name
                        try:
                            text = path.read_text(encoding="ascii")
                        except (OSError, UnicodeDecodeError) as exc:
                            raise ModelUnavailable("%s cannot be read (%s)" % (path, exc.__class__.__name__)) from None
                        loaded.append(parse_cof(text, str(path)))
                    _models = tuple(sorted(loaded, key=lambda model: -model.epoch))
                except ModelUnavailable as exc:
                    _failure = str(exc)
    if _models is None:
        raise ModelUnavailable(_failure or "no model")
    return _models


def model_for(year: float) -> Optional[Model]:
    """The model whose five years hold *year*, or None."""
    for model in models():
        if model.covers(year):
            return model
    return None


# -- evaluation ---------------------------------------------------------------------------------

_recursion_cache: dict = {}


def _recursion_factors(degree: int) -> List[float]:
    """K(n, m) = ((n−1)² − m²) / ((2n−1)(2n−3)) of the Gauss-normalised Legendre recursion."""
    factors = _recursion_cache.get(degree)
    if factors is None:
        factors = [0.0] * _index(degree + 1, 0)
        for n in range(2, degree + 1):
            for m in range(n + 1):
                factors[_index(n, m)] = ((n - 1) ** 2 - m * m) / ((2 * n - 1) * (2 * n - 3))
        _recursion_cache[degree] = factors
    return factors


def _field(model: Model, lat: float, lon: float, height_km: float, year: float) -> Tuple[float, float, float]:
    phi = math.radians(lat)
    sin_phi, cos_phi = math.sin(phi), math.cos(phi)
    # Geodetic (WGS 84) → geocentric spherical: radius and geocentric latitude.
    rc = WGS84_A / math.sqrt(1.0 - WGS84_E2 * sin_phi * sin_phi)
    p = (rc + height_km) * cos_phi
    z = (rc * (1.0 - WGS84_E2) + height_km) * sin_phi
    r = math.hypot(p, z)
    phi_c = math.atan2(z, p)
    ct = math.sin(phi_c)                   # cos(colatitude)
    st = max(math.cos(phi_c), 1e-12)       # sin(colatitude); never 0, so the east sum's 1/st stays finite
    lam = math.radians(lon)
    cos_l, sin_l = math.cos(lam), math.sin(lam)
    degree = model.degree
    cos_m, sin_m = [1.0], [0.0]
    for _m in range(degree):
        c, s = cos_m[-1], sin_m[-1]
        cos_m.append(c * cos_l - s * sin_l)
        sin_m.append(s * cos_l + c * sin_l)
    t = year - model.epoch
    g, h, g_dot, h_dot = model.g, model.h, model.g_dot, model.h_dot
    k_rec = _recursion_factors(degree)
    size = len(g)
    legendre = [0.0] * size                # Gauss-normalised P(n, m)(cos colatitude)
    d_legendre = [0.0] * size              # its derivative with respect to colatitude
    legendre[0] = 1.0
    ratio = REFERENCE_RADIUS / r
    power = ratio * ratio
    north = east = down = 0.0
    for n in range(1, degree + 1):
        power *= ratio                     # (a/r)^(n+2)
        row, above, above2 = _index(n, 0), _index(n - 1, 0), _index(n - 2, 0) if n > 1 else 0
        sum_n = sum_e = sum_d = 0.0
        for m in range(n + 1):
            k = row + m
            if m == n:
                prev = legendre[above + m - 1]
                legendre[k] = st * prev
                d_legendre[k] = st * d_legendre[above + m - 1] + ct * prev
            else:
                prev = legendre[above + m]
                p2, dp2 = (legendre[above2 + m], d_legendre[above2 + m]) if n > 1 and m <= n - 2 else (0.0, 0.0)
                legendre[k] = ct * prev - k_rec[k] * p2
                d_legendre[k] = ct * d_legendre[above + m] - st * prev - k_rec[k] * dp2
            gt = g[k] + t * g_dot[k]
            ht = h[k] + t * h_dot[k]
            cm, sm = cos_m[m], sin_m[m]
            along = gt * cm + ht * sm
            sum_n += along * d_legendre[k]
            sum_d += along * legendre[k]
            if m:
                sum_e += m * (gt * sm - ht * cm) * legendre[k]
        north += power * sum_n
        east += power * sum_e
        down -= (n + 1) * power * sum_d
    east /= st
    # Back to the geodetic frame: rotate by the difference of the two latitudes.
    psi = phi_c - phi
    x = north * math.cos(psi) - down * math.sin(psi)
    zz = north * math.sin(psi) + down * math.cos(psi)
    return x, east, zz


def declination_uncertainty(model_name: str, horizontal_nt: float) -> Optional[float]:
    """One standard deviation of the model's declination, in degrees, where the horizontal field is
    *horizontal_nt*: sqrt(a² + (b/H)²) with the model's (a, b); None for a model without an error model."""
    if model_name not in DECLINATION_ERROR:
        return None
    constant, per_nt = DECLINATION_ERROR[model_name]
    return min(180.0, math.hypot(constant, per_nt / max(horizontal_nt, 1e-9)))


def decimal_year(moment: Union[dt.date, dt.datetime]) -> float:
    """2025.0 at the start of 1 January 2025; the fraction counts days (and time) of that year."""
    start = dt.datetime(moment.year, 1, 1)
    length = (dt.datetime(moment.year + 1, 1, 1) - start).total_seconds()
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day)
    return moment.year + (moment.replace(tzinfo=None) - start).total_seconds() / length


_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?")


def parse_date(value: Union[str, dt.date, None]) -> Optional[dt.datetime]:
    """An AcquisitionDate (ISO 8601 text, as the rules write it) as a naive datetime, or None.
    Its time zone is ignored: hours move the declination by far less than the model's accuracy."""
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    match = _ISO_DATE.match(str(value))
    if not match:
        return None
    try:
        year, month, day, hour, minute, second = (int(part or 0) for part in match.groups())
        return dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


# -- the correction -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Correction:
    """What :func:`true_north` decided: the heading to write, its reference, and why."""

    heading: float
    reference: str            # "T" when corrected, else "M"
    warnings: Tuple[str, ...]
    declination: Optional[float] = None
    uncertainty: Optional[float] = None
    model: Optional[str] = None


def _left_as_recorded(heading: float, why: str) -> Correction:
    return Correction(heading, "M", ("CameraHeading %.1f° is relative to magnetic north (GPSImgDirectionRef M) and "
                                     "is left as recorded: %s" % (heading, why),))


def true_north(heading: float, *, lat: Optional[float], lon: Optional[float], height_m: Optional[float],
               when: Union[str, dt.date, None], enabled: bool = True) -> Correction:
    """A magnetic heading (degrees) turned true with the WMM of the photo's date, at its position
    and height; or left as recorded with the reason, when the correction is off, the date or
    position is missing or unusable, or the date is outside every shipped model's years.

    *height_m* is the photo's GPS altitude (EXIF: above mean sea level; the model wants height
    above the WGS 84 ellipsoid: the geoid separation, under 110 m, moves the declination by
    thousandths of a degree). None or a height outside −1 km to 850 km: 0 m is used.
    """
    if not enabled:
        return _left_as_recorded(heading, "MAGNETIC_CORRECTION is off, so it may be off true north by the local "
                                          "magnetic declination")
    if lat is None or lon is None:
        return _left_as_recorded(heading, "the photo has no GPS position to evaluate the magnetic declination at")
    if lat == 0.0 and lon == 0.0:
        return _left_as_recorded(heading, "position 0,0 is a receiver without a fix, not a place to evaluate the "
                                          "magnetic declination at")
    moment = parse_date(when)
    if moment is None:
        return _left_as_recorded(heading, "the photo has no date (AcquisitionDate) to evaluate the magnetic "
                                          "declination at")
    try:
        year = decimal_year(moment)
        model = model_for(year)
        if model is None:
            return _left_as_recorded(heading, "its date %s is outside the World Magnetic Model's years (%s)"
                                     % (moment.date().isoformat(), ", ".join(
                                         "%s %.1f–%.1f" % (m.name, m.epoch, m.valid_until) for m in models())))
    except ModelUnavailable as exc:
        return _left_as_recorded(heading, "the World Magnetic Model cannot be read (%s); reinstall XPGEO" % exc)
    height = height_m if height_m is not None and HEIGHT_RANGE_M[0] <= height_m <= HEIGHT_RANGE_M[1] else 0.0
    x, y, _z = model.field(lat, lon, height, year)
    declination = math.degrees(math.atan2(y, x))
    corrected = (heading + declination) % 360.0
    horizontal = math.hypot(x, y)
    uncertainty = declination_uncertainty(model.name, horizontal)
    notes = ["CameraHeading %.1f° magnetic corrected to %.1f° true (declination %+.1f°%s, %s at %s)"
             % (heading, corrected, declination, "" if uncertainty is None else " ± %.1f°" % uncertainty,
                model.name, moment.date().isoformat())]
    if horizontal < CAUTION_NT:
        notes.append("the horizontal magnetic field here is only %.0f nT (under %.0f nT, near a magnetic pole): the "
                     "compass heading the photo recorded is unreliable" % (horizontal, CAUTION_NT))
    return Correction(corrected, "T", tuple(notes), declination, uncertainty, model.name)
