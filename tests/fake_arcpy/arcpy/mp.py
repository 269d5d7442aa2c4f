"""arcpy.mp: ArcGISProject("CURRENT") with its homeFolder and an activeMap that records what is added."""

from typing import List, Optional

HOME_FOLDER: Optional[str] = None
MAP_LAYERS: List[str] = []
"""Every path or URL added to the active map (Map.addDataFromPath), in order."""


class Map:
    def addDataFromPath(self, data_path: str) -> str:
        MAP_LAYERS.append(data_path)
        return data_path


class ArcGISProject:
    def __init__(self, path: str) -> None:
        if path != "CURRENT":
            raise OSError("no such project")
        self.homeFolder = HOME_FOLDER
        self.activeMap = Map()
