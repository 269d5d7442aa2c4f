"""``xpgeo demo``: a realistic sample set, served on loopback, through the normal code paths.

* :mod:`xpgeo_core.demo.photos`: the ~24 sample photos (made with :mod:`xpgeo_core.sample_photos`);
* :mod:`xpgeo_core.demo.server`: a loopback HTTP server for them (standard library);
* :mod:`xpgeo_core.demo.run`: health check -> create layer -> append images.
"""

from xpgeo_core.demo.photos import demo_photos
from xpgeo_core.demo.run import DemoResult, run_demo
from xpgeo_core.demo.server import PhotoServer

__all__ = ["demo_photos", "PhotoServer", "run_demo", "DemoResult"]
