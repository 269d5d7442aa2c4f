"""Camera orientation by vendor, kept as data: which XMP properties hold the camera's yaw,
pitch and roll, and what each vendor means by them.

Why a table: every drone maker names the gimbal angles its own way and counts them from its
own zero (DJI's pitch is 0 at the horizon and -90 straight down; Pix4D's ``Camera:`` pitch is
0 straight down). A row per vendor, each with the public source of its tags and conventions,
lets one rule (:func:`xpgeo_core.metadata.rules.camera_pitch` and friends) read them all, and
a new vendor is a new row, not new code. Rows are tried in order; the first whose pitch, yaw
or roll property is in the photo wins.

An angle the winning row lacks is taken from a later row of the same namespace: Skydio writes
the camera's angles twice, in a north-east-down frame and in a front-left-up one, and the FLU
row completes the NED one (a Skydio photo without NED angles is read from FLU alone).

Conventions (all rows): yaw is the camera's heading, clockwise from north in the vendor's frame
(NED: north-east-down; for a nadir camera the direction the top of the image points), except
in a row whose ``yaw_zero`` is not north: that yaw is no compass heading and never becomes a
CameraHeading. Pitch is mapped linearly onto the Oriented Imagery pitch (0 straight down, 90
the horizon, 180 straight up) from the two values the vendor writes for "straight down" and
"horizontal". Roll is passed through, times ``roll_sign`` (or the sign for the photo's EXIF Make).

Why FLU converts as it does: Front-Left-Up is the z-up twin of the aerospace Forward-Right-Down
convention (ROS REP 103 names the axes so). Going from one to the other turns both the world and
the body frame half a turn about the forward axis, which leaves roll as it is and negates
pitch and yaw: a camera looking 30° down has NED pitch −30 and FLU pitch +30, so straight down
is FLU +90 and the OI pitch is 90 − FLU pitch; positive FLU yaw turns counter-clockwise, from
the FLU frame's front axis. That axis is Skydio's navigation frame, not north (the NED angles
are the north-referenced ones: that is why Skydio writes both), so the FLU yaw gives no heading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

NADIR_BELOW = 10.0  # Oriented Imagery pitch at or below this (10° from straight down) is a nadir photo


@dataclass(frozen=True)
class OrientationRule:
    """One vendor's orientation tags. Property names are ``prefix:Name`` as :func:`read_xmp`
    gives them (a structure field is ``prefix:Struct/Field``)."""

    vendor: str
    namespace: str                 # the XMP namespace URI the properties live in
    prefix: str                    # the short prefix the reader gives that namespace
    yaw: str
    pitch: str
    roll: str
    pitch_nadir: float             # what the vendor writes for a camera looking straight down
    pitch_horizon: float           # ... and for a horizontal camera
    frame: str                     # "NED", "FLU" (front-left-up) or "Pix4D" (Pix4D's yaw/pitch/roll)
    source: str
    height: Optional[str] = None   # height above the take-off point, where the vendor writes one
    roll_sign: float = 1.0
    roll_sign_by_make: Mapping[str, float] = field(default_factory=dict)
    marks_drone_photo: bool = True  # any property in the namespace makes a drone photo (Nadir/Oblique)
    other_namespaces: Tuple[str, ...] = ()  # the same tags under another URI
    yaw_zero: str = "north"         # what the yaw counts from; only a yaw from north is a heading

    @property
    def yaw_is_heading(self) -> bool:
        return self.yaw_zero == "north"

    def oi_pitch(self, value: float) -> float:
        """The vendor's pitch as an Oriented Imagery pitch (0 down, 90 horizontal)."""
        span = self.pitch_horizon - self.pitch_nadir
        if span == 90.0:
            return value - self.pitch_nadir  # exact for DJI's "90 + pitch"
        return 90.0 * (value - self.pitch_nadir) / span

    def roll_factor(self, make: str) -> float:
        return self.roll_sign_by_make.get(make.strip().lower(), self.roll_sign)


RULES: Tuple[OrientationRule, ...] = (
    OrientationRule(
        vendor="DJI (and Autel's newer firmware, which writes DJI's namespace under the prefix drone:)",
        namespace="http://www.dji.com/drone-dji/1.0/", prefix="drone-dji",
        yaw="drone-dji:GimbalYawDegree", pitch="drone-dji:GimbalPitchDegree", roll="drone-dji:GimbalRollDegree",
        pitch_nadir=-90.0, pitch_horizon=0.0, frame="NED", height="drone-dji:RelativeAltitude",
        source="DJI Mavic 3E/3T user manual XMP table (gimbal angles in NED, RelativeAltitude above take-off); "
               "ExifTool DJI.pm XMP tags; OpenDroneMap opendm/photo.py (pitch + 90); OpenAthena parseImage "
               "(Autel's newer firmware uses DJI's schema)"),
    OrientationRule(
        vendor="Parrot (Anafi family)",
        namespace="http://www.parrot.com/drone-parrot/1.0/", prefix="drone-parrot",
        yaw="drone-parrot:CameraYawDegree", pitch="drone-parrot:CameraPitchDegree",
        roll="drone-parrot:CameraRollDegree", pitch_nadir=-90.0, pitch_horizon=0.0, frame="NED",
        source="Parrot GroundSDK 'Embedded Photo Metadata' (developer.parrot.com/docs/groundsdk-tools/"
               "photo-metadata.html): drone-parrot Camera{Yaw,Pitch,Roll}Degree; OpenAthena's Parrot reader "
               "(pitch negative below the horizon)"),
    OrientationRule(
        vendor="Skydio (2/2+, X2, X10)",
        namespace="https://www.skydio.com/drone-skydio/1.0/", prefix="drone-skydio",
        yaw="drone-skydio:CameraOrientationNED/Yaw", pitch="drone-skydio:CameraOrientationNED/Pitch",
        roll="drone-skydio:CameraOrientationNED/Roll", pitch_nadir=-90.0, pitch_horizon=0.0, frame="NED",
        height="drone-skydio:RelativeAltitude",
        other_namespaces=("http://www.skydio.com/drone-skydio/1.0/",),
        source="Skydio 'camera and metadata overview' support articles (CameraOrientationNED: the camera's "
               "yaw, pitch, roll in the north-east-down frame); OpenAthena's Skydio reader "
               "(CameraOrientationNED struct, pitch negative below the horizon)"),
    OrientationRule(
        vendor="Skydio, Front-Left-Up frame (completes or stands in for CameraOrientationNED)",
        namespace="https://www.skydio.com/drone-skydio/1.0/", prefix="drone-skydio",
        yaw="drone-skydio:CameraOrientationFLU/Yaw", pitch="drone-skydio:CameraOrientationFLU/Pitch",
        roll="drone-skydio:CameraOrientationFLU/Roll", pitch_nadir=90.0, pitch_horizon=0.0, frame="FLU",
        height="drone-skydio:RelativeAltitude", yaw_zero="the front axis of Skydio's Front-Left-Up frame",
        other_namespaces=("http://www.skydio.com/drone-skydio/1.0/",),
        source="Skydio 'camera and metadata overview' support articles (CameraOrientationFLU: the camera's "
               "roll, pitch, yaw in the Front-Left-Up frame, z up, beside the NED ones); ROS REP 103 (FLU "
               "axes: x forward, y left, z up; angles right-handed, so positive pitch is nose down and "
               "positive yaw counter-clockwise: pitch and yaw are the NED ones negated, roll is the same); "
               "OpenAthena's Skydio reader (dropped its CameraOrientationFLU fallback for the azimuth: the "
               "FLU yaw is not from north)"),
    OrientationRule(
        vendor="Pix4D Camera namespace: senseFly, Parrot Sequoia, MicaSense, Autel's older firmware and others",
        namespace="http://pix4d.com/camera/1.0/", prefix="Camera",
        yaw="Camera:Yaw", pitch="Camera:Pitch", roll="Camera:Roll", pitch_nadir=0.0, pitch_horizon=90.0,
        frame="Pix4D", roll_sign_by_make={"sensefly": -1.0}, marks_drone_photo=False,
        other_namespaces=("http://pix4d.com/camera/1.0", "http://ns.sensefly.com/Camera/1.0/"),
        source="Pix4D 'Specifications of XMP Camera tags' and 'Yaw, Pitch, Roll and Omega, Phi, Kappa angles' "
               "(pitch 0 = nadir, 90 = looking forward; yaw 0 = top of a nadir image to the north); "
               "OpenDroneMap opendm/photo.py (Camera:Yaw/Pitch/Roll, senseFly roll negated); orthority "
               "docs (senseFly's own URI for the same tags)"),
)


def namespaces() -> Dict[str, str]:
    """URI -> prefix for every namespace in the table (the XMP reader keeps these)."""
    out: Dict[str, str] = {}
    for rule in RULES:
        for uri in (rule.namespace,) + rule.other_namespaces:
            out[uri] = rule.prefix
    return out
