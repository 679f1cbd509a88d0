"""The stages of a sweep point, one module per concern, and :func:`evaluate_point`.

Every stage module has ``NAME``, ``VERSION`` (bump when its results change),
``implementation() -> str`` (which engine it will use, e.g. ``"bench"`` or ``"bulk"``; enters
the config hash, so installing a plug-in recomputes the points) and ``run(ctx) -> dict`` (the
stage's values, JSON-serialisable). A stage raises :class:`StageUnavailable` when the code it
needs is not installed (recorded as ``unavailable: ...``, never as a number), :class:`Skipped`
when it does not apply to the point (the baseline has no integer accuracy), and
:class:`PointFailure` (or any other exception) when the point fails (bit-exact mismatch,
synthesis error): that stage is recorded as ``failed`` with the message, the remaining stages
still run where they can, and the point's status is ``failed``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import resource
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..point import SweepPoint

__all__ = ["STAGES", "StageUnavailable", "Skipped", "PointFailure", "Context", "stage_module",
           "stage_versions", "sources_digest", "evaluate_point", "parse_stages", "now_iso"]

#: stage names in the order they run
STAGES = ("check", "synth", "timing", "power", "accuracy", "throughput")


class StageUnavailable(RuntimeError):
    """The code a stage needs is not installed; the message says what."""


class Skipped(RuntimeError):
    """The stage does not apply to this point; the message says why."""


class PointFailure(RuntimeError):
    """The point failed (bit-exact mismatch, synthesis error); the message says how."""


@dataclass
class Context:
    """What a stage sees: the point, the values of the stages that ran before it, and a memo
    shared by the stages of this point (e.g. the synthesis result used by timing)."""

    point: SweepPoint
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any) -> Any:
        return self.point.options.get(name, default)


def stage_module(name: str) -> Any:
    if name not in STAGES:
        raise ValueError(f"stage {name!r} is not one of {', '.join(STAGES)}")
    return importlib.import_module(f"{__name__}.{name}")


def parse_stages(text: str, flag: str = "--stages") -> tuple[str, ...]:
    """``"all"`` or a comma-separated subset of :data:`STAGES` (returned in run order)."""
    if text.strip() == "all":
        return STAGES
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in STAGES]
    if bad or not names:
        raise ValueError(f"{flag} {text}: must be all or a comma-separated list of "
                         f"{', '.join(STAGES)}")
    return tuple(s for s in STAGES if s in names)


#: the packages whose source decides a point's results (the gateware, the model, the flows)
SOURCE_PACKAGES = ("ivita.hw", "ivita.model", "ivita.fpga", "ivita.power", "ivita.sim")
_SOURCE_SUFFIXES = (".py", ".v", ".cpp", ".json")


def sources_digest(folders: tuple[str, ...]) -> str:
    """A SHA-256 (16 hex digits) over the relative paths and contents of the source files
    (``.py .v .cpp .json``) under ``folders``: any edit of the design changes it."""
    h = hashlib.sha256()
    for folder in folders:
        root = Path(folder)
        for f in sorted(root.rglob("*")):
            if f.is_file() and f.suffix in _SOURCE_SUFFIXES and "__pycache__" not in f.parts:
                h.update(f"{root.name}/{f.relative_to(root).as_posix()}\0".encode())
                h.update(f.read_bytes())
                h.update(b"\0")
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _design_digest() -> str:
    folders = []
    for pkg in SOURCE_PACKAGES:
        spec = importlib.util.find_spec(pkg)
        if spec is not None and spec.submodule_search_locations:
            folders.extend(spec.submodule_search_locations)
    return sources_digest(tuple(folders))


def stage_versions(stages: tuple[str, ...]) -> dict[str, str]:
    """``{stage: "v<VERSION> <implementation> src:<digest>"}``: part of every point's config
    hash. The digest covers the source of the gateware, the model and the flows
    (:data:`SOURCE_PACKAGES`), so a point is recomputed after the design changes instead of
    reusing results of the old design."""
    out = {}
    digest = _design_digest()
    for name in stages:
        mod = stage_module(name)
        out[name] = f"v{mod.VERSION} {mod.implementation()} src:{digest}"
    return out


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its waited-for children (Yosys)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), \
        resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def evaluate_point(point_dict: dict[str, Any]) -> dict[str, Any]:
    """Run the point's stages (in a worker process); never raises for a stage's failure.

    Returns ``{"status": "ok"|"failed", "message", "stages": {name: {"status", "message",
    "values", "wall_s", "cpu_s"}}, "started_at", "finished_at", "wall_s", "cpu_s"}``; ``cpu_s``
    is the worker process's CPU time with its children (:func:`cpu_seconds`; in a threaded
    Dask worker it includes the other threads).
    """
    point = SweepPoint.from_dict(point_dict)
    ctx = Context(point)
    started, t0, c0 = now_iso(), time.monotonic(), cpu_seconds()
    stages: dict[str, dict[str, Any]] = {}
    failures = []
    for name in point.stages:
        s0, sc0 = time.monotonic(), cpu_seconds()
        rec: dict[str, Any] = {"status": "ok", "message": "", "values": {}}
        try:
            values = stage_module(name).run(ctx)
            rec["values"] = values
            ctx.results[name] = values
        except StageUnavailable as e:
            rec.update(status="unavailable", message=f"unavailable: {e}")
        except Skipped as e:
            rec.update(status="skipped", message=f"not applicable: {e}")
        except PointFailure as e:
            rec.update(status="failed", message=str(e))
        except Exception as e:  # a bug or a tool error: recorded, the sweep goes on
            tail = traceback.format_exc().strip().splitlines()[-3:]
            rec.update(status="failed", message=f"{type(e).__name__}: {e} [{' | '.join(tail)}]")
        rec["wall_s"] = round(time.monotonic() - s0, 2)
        rec["cpu_s"] = round(cpu_seconds() - sc0, 2)
        if rec["status"] == "failed":
            failures.append(f"{name}: {rec['message']}")
        stages[name] = rec
    return {"status": "failed" if failures else "ok", "message": "; ".join(failures),
            "stages": stages, "started_at": started, "finished_at": now_iso(),
            "wall_s": round(time.monotonic() - t0, 2),
            "cpu_s": round(cpu_seconds() - c0, 2)}
