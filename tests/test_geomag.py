"""True north: the World Magnetic Model in xpgeo_core.metadata.geomag, and its hook in the rules.

Checked three ways: NOAA's published test values (to their 0.01° rounding), an independent
implementation (pygeomag, a port of NOAA's legacy C program) over a seeded grid of positions,
heights and dates, and end to end on synthetic and real photos with magnetic headings.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLES, requires_samples
from xpgeo_core.metadata import geomag, inspect_bytes, inspect_source
from xpgeo_core.sample_photos import make_jpeg
from xpgeo_core.settings import load_settings

pygeomag = pytest.importorskip("pygeomag")

SETTINGS = load_settings(environ={})
ROUNDING = 0.005 + 1e-9   # published declinations are rounded to 0.01°

# NOAA/NCEI, WMM2025_TEST_VALUES.txt: decimal year, height above the WGS 84 ellipsoid (km),
# geodetic latitude, longitude, declination (°). The first ten rows.
WMM2025_TEST_VALUES = [
    (2025.0, 28, 89, -121, -99.77), (2025.0, 65, 43, 93, 0.50), (2025.0, 51, -33, 109, -5.49),
    (2025.5, 6, -36, -137, 20.28), (2025.5, 8, -66, 17, -33.14), (2026.0, 74, -57, 3, -22.51),
    (2026.0, 62, -14, 99, -1.43), (2026.5, 14, 0, 80, -3.10), (2027.0, 37, -66, -5, -17.22),
    (2027.5, 73, -72, 95, -102.64),
]
# NOAA/NCEI, WMM2020 test values (WMM2020testvalues.pdf): the same columns, all twelve rows.
WMM2020_TEST_VALUES = [
    (2020.0, 0, 80, 0, -1.28), (2020.0, 0, 0, 120, 0.16), (2020.0, 0, -80, 240, 69.36),
    (2020.0, 100, 80, 0, -1.70), (2020.0, 100, 0, 120, 0.16), (2020.0, 100, -80, 240, 68.78),
    (2022.5, 0, 80, 0, 0.01), (2022.5, 0, 0, 120, -0.06), (2022.5, 0, -80, 240, 69.13),
    (2022.5, 100, 80, 0, -0.41), (2022.5, 100, 0, 120, -0.05), (2022.5, 100, -80, 240, 68.55),
]


def _model(name: str) -> geomag.Model:
    return next(m for m in geomag.models() if m.name == name)


def _pygeomag_declination(lat: float, lon: float, height_m: float, year: float) -> float:
    cof = "wmm/WMM_2025.COF" if year >= 2025.0 else "wmm/WMM_2020.COF"
    return pygeomag.GeoMag(coefficients_file=cof).calculate(glat=lat, glon=lon, alt=height_m / 1000.0,
                                                            time=year).d


def _inspect(settings=SETTINGS, **fields):
    return inspect_bytes(make_jpeg(**fields), source="https://photos.example.com/p.jpg", settings=settings)


# -- the model ------------------------------------------------------------------------------------

@pytest.mark.parametrize("year, height_km, lat, lon, declination", WMM2025_TEST_VALUES)
def test_wmm2025_gives_noaas_test_values(year, height_km, lat, lon, declination):
    assert geomag.model_for(year).name == "WMM2025"
    assert _model("WMM2025").declination(lat, lon, height_km * 1000.0, year) == pytest.approx(declination,
                                                                                               abs=ROUNDING)


@pytest.mark.parametrize("year, height_km, lat, lon, declination", WMM2020_TEST_VALUES)
def test_wmm2020_gives_noaas_test_values(year, height_km, lat, lon, declination):
    assert geomag.model_for(year).name == "WMM2020"
    assert _model("WMM2020").declination(lat, lon, height_km * 1000.0, year) == pytest.approx(declination,
                                                                                               abs=ROUNDING)


def test_agrees_with_pygeomag_over_a_seeded_grid():
    rng = random.Random(20251117)
    worst = 0.0
    for _ in range(150):
        lat, lon = rng.uniform(-89.5, 89.5), rng.uniform(-180.0, 180.0)
        height = rng.choice([0.0, rng.uniform(-400.0, 9000.0), rng.uniform(0.0, 400000.0)])
        year = rng.uniform(2020.0, 2029.999)
        ours = geomag.model_for(year).declination(lat, lon, height, year)
        theirs = _pygeomag_declination(lat, lon, height, year)
        worst = max(worst, abs((ours - theirs + 180.0) % 360.0 - 180.0))
    assert worst < 1e-4, worst


def test_each_model_covers_its_five_years_and_no_more():
    assert geomag.model_for(2019.999) is None
    assert geomag.model_for(2020.0).name == "WMM2020"
    assert geomag.model_for(2024.999).name == "WMM2020"
    assert geomag.model_for(2025.0).name == "WMM2025"
    assert geomag.model_for(2029.999).name == "WMM2025"
    assert geomag.model_for(2030.0) is None


def test_decimal_year_counts_days_of_that_year():
    assert geomag.decimal_year(dt.datetime(2025, 1, 1)) == 2025.0
    assert geomag.decimal_year(dt.datetime(2024, 7, 2)) == pytest.approx(2024 + 183 / 366)  # a leap year
    assert geomag.decimal_year(dt.date(2026, 12, 31)) == pytest.approx(2026 + 364 / 365)


def test_a_damaged_coefficient_file_is_named(tmp_path):
    text = (geomag.MODEL_DIR / "WMM2025.COF").read_text(encoding="ascii")
    without = "\n".join(line for line in text.splitlines() if not line.startswith("  7  3 "))
    with pytest.raises(geomag.ModelUnavailable, match=r"broken\.COF: coefficients missing .*n=7 m=3"):
        geomag.parse_cof(without, "broken.COF")
    with pytest.raises(geomag.ModelUnavailable, match=r"line 3"):
        geomag.parse_cof(text.replace("  1  1   -1410.8", "  1  x   -1410.8"), "broken.COF")


def test_a_missing_coefficient_file_leaves_the_heading_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(geomag, "MODEL_DIR", tmp_path)
    monkeypatch.setattr(geomag, "_models", None)
    monkeypatch.setattr(geomag, "_failure", None)
    info = _inspect(lat=48.85, lon=2.35, heading=90.0, heading_ref="M", datetime_original="2026:05:01 10:00:00")
    assert info.ok and info.attributes["CameraHeading"] == 90.0 and info.attributes["CameraHeadingReference"] == "M"
    assert any("World Magnetic Model cannot be read" in w and "WMM2025.COF" in w for w in info.warnings)


def test_importing_the_core_reads_no_coefficients():
    code = ("import xpgeo_core.metadata, xpgeo_core.metadata.geomag as g, xpgeo_core.operations; "
            "print(g._models is None and g._failure is None)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(Path(__file__).resolve().parents[1]))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True"


# -- the rules, end to end ------------------------------------------------------------------------

def test_a_magnetic_heading_becomes_true_north_with_the_warning():
    # Ottawa, 2026-06-15 12:00 -04:00 = 16:00 UTC, 70 m: declination about −12.6° (west).
    info = _inspect(lat=45.4215, lon=-75.6972, alt=70.0, heading=123.4, heading_ref="M",
                    datetime_original="2026:06:15 12:00:00", offset_time_original="-04:00")
    declination = _pygeomag_declination(45.4215, -75.6972, 70.0, geomag.decimal_year(dt.datetime(2026, 6, 15, 16)))
    assert -14.0 < declination < -11.0
    a = info.attributes
    assert info.ok and a["CameraHeadingReference"] == "T"
    assert a["CameraHeading"] == pytest.approx(123.4 + declination, abs=1e-4)
    horizontal = pygeomag.GeoMag(coefficients_file="wmm/WMM_2025.COF").calculate(
        glat=45.4215, glon=-75.6972, alt=0.07, time=geomag.decimal_year(dt.datetime(2026, 6, 15, 16))).h
    uncertainty = (0.26 ** 2 + (5417.0 / horizontal) ** 2) ** 0.5  # the WMM2025 report's error model
    assert 0.3 < uncertainty < 0.6
    note = ("CameraHeading 123.4° magnetic corrected to %.1f° true (declination %+.1f° ± %.1f°, WMM2025 at "
            "2026-06-15)" % (123.4 + declination, declination, uncertainty))
    assert note in info.warnings


def test_wmm2020_years_and_the_xmp_copy_of_the_heading_are_corrected_too():
    # Helsinki 2022 (WMM2020), heading only in XMP exif:GPSImgDirection with Ref M, no altitude (0 m used).
    info = _inspect(lat=60.1467, lon=24.9068, datetime_original="2022:08:14 14:12:31",
                    offset_time_original="+03:00", xmp_exif={"GPSImgDirection": "56/1", "GPSImgDirectionRef": "M"})
    when = dt.datetime(2022, 8, 14, 11, 12, 31)
    declination = _pygeomag_declination(60.1467, 24.9068, 0.0, geomag.decimal_year(when))
    assert info.attributes["CameraHeading"] == pytest.approx(56.0 + declination, abs=1e-4)
    assert info.attributes["CameraHeadingReference"] == "T"
    assert any("WMM2020 at 2022-08-14" in w for w in info.warnings)


def test_the_corrected_heading_wraps_at_north():
    # Iceland, 2025: declination about −11°, so magnetic 5° is true 354°.
    info = _inspect(lat=64.15, lon=-21.94, heading=5.0, heading_ref="M", gps_datetime=dt.datetime(2025, 3, 1, 12))
    heading = info.attributes["CameraHeading"]
    assert 340.0 < heading < 360.0
    assert heading == pytest.approx((5.0 + _pygeomag_declination(64.15, -21.94, 0.0,
                                                                  geomag.decimal_year(dt.datetime(2025, 3, 1, 12))))
                                    % 360.0, abs=1e-4)


def test_the_setting_turns_it_off():
    fields = dict(lat=45.4215, lon=-75.6972, heading=123.4, heading_ref="M", datetime_original="2026:06:15 12:00:00")
    for settings in (SETTINGS.replace(magnetic_correction=False),
                     load_settings(environ={"XPGEO_MAGNETIC_CORRECTION": "false"})):
        info = _inspect(settings, **fields)
        assert info.attributes["CameraHeading"] == pytest.approx(123.4)
        assert info.attributes["CameraHeadingReference"] == "M"
        assert any("magnetic north" in w and "MAGNETIC_CORRECTION is off" in w for w in info.warnings)
    assert SETTINGS.magnetic_correction is True


@pytest.mark.parametrize("when, why", [
    ("2019:12:31 23:00:00", "its date 2019-12-31 is outside the World Magnetic Model's years (WMM2025 2025.0–2030.0, "
                            "WMM2020 2020.0–2025.0)"),
    ("2030:01:02 08:00:00", "its date 2030-01-02 is outside the World Magnetic Model's years"),
    (None, "the photo has no date (AcquisitionDate)"),
])
def test_out_of_the_models_years_or_undated_it_is_left_with_the_reason(when, why):
    info = _inspect(lat=45.4215, lon=-75.6972, heading=123.4, heading_ref="M", datetime_original=when)
    assert info.ok and info.attributes["CameraHeading"] == pytest.approx(123.4)
    assert info.attributes["CameraHeadingReference"] == "M"
    assert any(w.startswith("CameraHeading 123.4° is relative to magnetic north (GPSImgDirectionRef M) and is left "
                            "as recorded: " + why) for w in info.warnings), info.warnings


def test_a_position_without_a_fix_is_not_a_place_to_correct_at():
    info = _inspect(lat=0.0, lon=0.0, heading=123.4, heading_ref="M", datetime_original="2026:06:15 12:00:00")
    assert info.attributes["CameraHeading"] == pytest.approx(123.4) and info.attributes["CameraHeadingReference"] == "M"
    assert any("position 0,0" in w for w in info.warnings)


def test_near_a_magnetic_pole_the_compass_is_called_unreliable():
    # Close to the north magnetic pole (about 85.8° N, 139° E in 2026): the horizontal field is tiny.
    info = _inspect(lat=85.5, lon=140.0, heading=10.0, heading_ref="M", datetime_original="2026:01:10 10:00:00")
    assert info.attributes["CameraHeadingReference"] == "T"
    assert any("compass heading the photo recorded is unreliable" in w for w in info.warnings)


def test_true_headings_are_untouched_and_cost_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was evaluated for a true heading")
    monkeypatch.setattr(geomag, "true_north", refuse)
    info = _inspect(lat=45.4215, lon=-75.6972, heading=123.4, heading_ref="T", datetime_original="2026:06:15 12:00:00")
    assert info.attributes["CameraHeading"] == pytest.approx(123.4) and info.attributes["CameraHeadingReference"] == "T"
    assert not any("magnetic" in w for w in info.warnings)


@requires_samples
def test_the_real_magnetic_phone_photo_is_turned_true():
    expected = next(i for i in json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))["images"]
                    if i["heading_ref"] == "M")
    info = inspect_source(str(SAMPLES / expected["file"]), settings=SETTINGS)
    when = dt.datetime(2022, 8, 14, 11, 12, 31)  # its DateTimeOriginal with OffsetTimeOriginal, in UTC
    declination = _pygeomag_declination(expected["Y"], expected["X"], expected["Z"] or 0.0, geomag.decimal_year(when))
    assert 8.0 < declination < 12.0  # southern Finland, 2022: about +10° (east)
    assert info.attributes["CameraHeading"] == pytest.approx(expected["CameraHeading"] + declination, abs=1e-3)
    assert info.attributes["CameraHeadingReference"] == "T"
    off = inspect_source(str(SAMPLES / expected["file"]), settings=SETTINGS.replace(magnetic_correction=False))
    assert off.attributes["CameraHeading"] == pytest.approx(expected["CameraHeading"])
