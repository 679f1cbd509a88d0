"""Source-level rules of ``ivita.hw``: short ``elaborate()`` methods (shared skeletons live in
their own small components: row buffer, row input, row reader, sticky flags)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import ivita.hw

MAX_ELABORATE_LINES = 80


def _hw_classes() -> list[type]:
    out = []
    for mi in pkgutil.iter_modules(ivita.hw.__path__):
        mod = importlib.import_module(f"ivita.hw.{mi.name}")
        out += [obj for obj in vars(mod).values()
                if isinstance(obj, type) and obj.__module__ == mod.__name__]
    return out


def test_every_elaborate_is_short() -> None:
    classes = [c for c in _hw_classes() if "elaborate" in vars(c)]
    assert len(classes) >= 14          # the scan found the components
    long = {c.__name__: n for c in classes
            if (n := len(inspect.getsourcelines(vars(c)["elaborate"])[0])) > MAX_ELABORATE_LINES}
    assert not long, f"elaborate() longer than {MAX_ELABORATE_LINES} lines: {long}"
