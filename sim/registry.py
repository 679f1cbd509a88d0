"""The bench registry: unit name -> its TB class, for ``ivita sim UNIT`` and the sweeps.

Adding a unit is one new module plus one line here (docs/verification.md, "Adding a unit"):
write ``sim/tb_<unit>.py`` with a :class:`ivita.sim.bench.TB` subclass and
``test_<unit> = cocotb_test(<TB>)``, then add ``"<unit>": "ivita.sim.tb_<unit>:<TB>"`` below.
Entries are strings, so listing the units imports nothing and a broken bench module only
breaks its own unit.
"""

from __future__ import annotations

from .bench import TB, load_tb

__all__ = ["UNITS", "units", "get_tb"]

#: unit name -> "module:TBClass"
UNITS: dict[str, str] = {
    "array": "ivita.sim.tb_array:ArrayTB",
    "requant": "ivita.sim.tb_requant:RequantTB",
    "softmax": "ivita.sim.tb_softmax:SoftmaxTB",
    "gelu": "ivita.sim.tb_gelu:GeluTB",
    "layernorm": "ivita.sim.tb_layernorm:LayerNormTB",
}


def units() -> list[str]:
    """Registered unit names, in registration order."""
    return list(UNITS)


def get_tb(unit: str) -> type[TB]:
    """The TB class of ``unit``; ``KeyError`` naming the known units otherwise."""
    try:
        ref = UNITS[unit]
    except KeyError:
        raise KeyError(f"unknown unit {unit!r}; known units: {', '.join(UNITS)}") from None
    cls = load_tb(ref)
    if cls.unit != unit:
        raise ValueError(f"{ref} declares unit {cls.unit!r}, registered as {unit!r}")
    return cls
