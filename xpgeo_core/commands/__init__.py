"""One module per ``xpgeo`` sub-command: ``NAME``, ``HELP``, ``add_arguments(parser)``,
``run(args, ctx) -> exit code``. The order here is the order of ``xpgeo --help``."""

from xpgeo_core.commands import append_image, append_images, create_oi_layer, demo, health_check, inspect

COMMANDS = (health_check, create_oi_layer, append_image, append_images, inspect, demo)

__all__ = ["COMMANDS"]
