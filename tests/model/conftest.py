"""Shared set-up for the model tests.

When a hypothesis test fails, hypothesis' pytest plugin imports ``hypothesis.extra._patching``
(libcst), and libcst 1.0 triggers ``mypy_extensions``' DeprecationWarning at import. With
``filterwarnings = error`` (pyproject) that turns every property-test failure into a pytest
INTERNALERROR that hides the falsifying example. Importing it once here, with that one warning
silenced, keeps failure reports readable; it changes nothing when tests pass.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="mypy_extensions.TypedDict is deprecated",
                            category=DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:  # libcst missing: the plugin then skips patch writing by itself
        pass
