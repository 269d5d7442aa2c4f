"""Shared pieces of the portal backend tests: the emulator with its accounts, a photo
host with synthetic (or the shared real) photos, the CLI runner and the secret checks."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import pytest

from emulators.image_host import ImageHost
from emulators.portal import API_KEY, PASSWORD, USER, PortalEmulator
from xpgeo_core.cli import main
from xpgeo_core.sample_photos import make_jpeg

SECRETS = (PASSWORD, API_KEY)


@pytest.fixture
def portal() -> Iterator[PortalEmulator]:
    """The portal emulator with its default knobs."""
    with PortalEmulator() as emulator:
        yield emulator


@pytest.fixture
def host() -> Iterator[ImageHost]:
    """A loopback photo host."""
    with ImageHost() as image_host:
        yield image_host


def run_cli(argv: List[str], env: Dict[str, str]) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("XPGEO_")}
    environ.update(env)
    code = main(argv, stdout=out, stderr=err, environ=environ)
    return code, out.getvalue(), err.getvalue()


NO_FOOTPRINTS = {"XPGEO_FOOTPRINTS": "false"}
"""The helpers' default: these tests count and number the point layer's requests (``faults`` by call
number), and the footprint writer sends beside the points, so its calls would interleave. The footprint
layer has its own tests (tests/test_footprints.py, tests/test_oracle_sdk.py), which pass
``XPGEO_FOOTPRINTS="true"``."""


def user_env(portal: PortalEmulator, **extra: str) -> Dict[str, str]:
    env = {"XPGEO_PORTAL_URL": portal.portal_url, "XPGEO_USERNAME": USER, "XPGEO_PASSWORD": PASSWORD,
           "XPGEO_RETRY_BACKOFF": "0", **NO_FOOTPRINTS}
    env.update(extra)
    return env


def key_env(portal: PortalEmulator, **extra: str) -> Dict[str, str]:
    env = {"XPGEO_PORTAL_URL": portal.portal_url, "XPGEO_API_KEY": API_KEY, "XPGEO_RETRY_BACKOFF": "0",
           **NO_FOOTPRINTS}
    env.update(extra)
    return env


def synthetic_photos(host: ImageHost, count: int, prefix: str = "p") -> List[str]:
    """Distinct geotagged JPEGs (a little walk north-east), served by *host*."""
    urls = []
    for i in range(count):
        data = make_jpeg(lat=47.60 + i * 0.001, lon=-122.33 + i * 0.001, alt=50.0 + i, heading=(i * 37) % 360,
                         datetime_original="2026:03:01 10:%02d:00" % (i % 60), offset_time_original="-08:00",
                         make="XPGEO", model="Synthetic", focal_length_35mm=28, seed=i)
        urls.append(host.add(f"{prefix}{i:03d}.jpg", data))
    return urls


def write_list(folder: Path, urls: Iterable[str], name: str = "urls.txt") -> str:
    path = folder / name
    path.write_text("\n".join(urls) + "\n", encoding="utf-8")
    return str(path)


def tokens_seen(portal: PortalEmulator) -> List[str]:
    """Every token value the portal issued (to look for them where they must not be)."""
    return list(portal.state.issued_tokens)


def assert_no_secrets(portal: PortalEmulator, *texts: str, extra: Iterable[str] = ()) -> None:
    """No password, API key or token in any URL the portal saw, nor in any output."""
    issued = set(tokens_seen(portal)) | set(extra) | set(SECRETS)
    for request in portal.state.requests:
        for secret in issued:
            assert secret not in request.raw_path, f"a secret went into the URL {request.raw_path[:80]}"
    for text in texts:
        for secret in issued:
            assert secret not in text


def feature_paths(portal: PortalEmulator, service: str) -> List[str]:
    return [f["attributes"]["ImagePath"] for f in portal.features(service)]


def samples_dir() -> Optional[Path]:
    folder = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
    return folder if (folder / "expected.json").is_file() else None
