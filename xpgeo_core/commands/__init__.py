"""One module per ``xpgeo`` sub-command, each with ``run(args, ctx) -> exit code``.

A command of the tool catalogue names its :class:`~xpgeo_core.catalogue.ToolSpec` as
``TOOL`` (its name, help and flags come from there); a command the catalogue does not
hold (``demo``) has ``NAME``, ``HELP`` and ``add_arguments(parser)``. The order here is
the order of ``xpgeo --help``."""

from xpgeo_core.commands import (append_image, append_images, check_layer, create_oi_layer, demo, health_check,
                                  inspect)

COMMANDS = (health_check, create_oi_layer, append_image, append_images, check_layer, inspect, demo)

__all__ = ["COMMANDS"]
