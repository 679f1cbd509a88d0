"""The one ``json.dumps`` fallback of ``ivita.sim`` (results, parameter files, ``--json``).

Pure standard library: numpy scalars and arrays are recognised by their ``tolist`` method, so
numpy need not be imported here.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

__all__ = ["json_default"]


def json_default(obj: Any) -> Any:
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays become Python
    ints/floats/lists, paths become strings; anything else raises ``TypeError``."""
    if isinstance(obj, PurePath):
        return str(obj)
    tolist = getattr(obj, "tolist", None)
    if callable(tolist) and type(obj).__module__ == "numpy":
        return tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
