"""Per-PE power estimates from gate-level simulation activity (docs/power.md).

Every figure is an **estimate** of :mod:`ivita.power.model` (its version, or the calibration
used, is in :attr:`PowerReport.model`), not a measurement.
"""

from .estimate import GateLevelMismatch, PowerReport, estimate_power
from .model import PowerModel, load_model

__all__ = ["estimate_power", "PowerReport", "GateLevelMismatch", "PowerModel", "load_model"]
