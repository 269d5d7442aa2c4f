"""arcpy.mp: only ArcGISProject("CURRENT").homeFolder."""

from typing import Optional

HOME_FOLDER: Optional[str] = None


class ArcGISProject:
    def __init__(self, path: str) -> None:
        if path != "CURRENT" or HOME_FOLDER is None:
            raise OSError("no current project")
        self.homeFolder = HOME_FOLDER
