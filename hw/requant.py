"""Per-channel dyadic requantizer: one lane per array column (docs/numerics.md §2)."""

from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.config import RequantConfig

from ._dyadic import DYADIC_LATENCY, dyadic_lane, dyadic_table, stall_pipeline
from .timing import Timing

__all__ = ["Requantizer", "requant_input_layout", "requant_output_layout"]


def requant_input_layout(config: RequantConfig, *, per_beat: bool = False
                         ) -> data.StructLayout:
    """``acc[l]`` at bit ``l * acc_bits``; ``last`` at ``lanes * acc_bits``.

    With ``per_beat``, the lane constants follow: ``b[l]`` (unsigned ``mult_bits``) at
    ``lanes * acc_bits + 1 + l * mult_bits``, then ``c[l]`` (unsigned ``shift_bits``).
    """
    fields: dict = {
        "acc": data.ArrayLayout(signed(config.acc_bits), config.lanes),
        "last": 1,
    }
    if per_beat:
        fields["b"] = data.ArrayLayout(unsigned(config.mult_bits), config.lanes)
        fields["c"] = data.ArrayLayout(unsigned(config.shift_bits), config.lanes)
    return data.StructLayout(fields)


def requant_output_layout(config: RequantConfig) -> data.StructLayout:
    """``q[l]`` at bit ``l * out_bits``; ``last`` at ``lanes * out_bits``."""
    return data.StructLayout({
        "q": data.ArrayLayout(signed(config.out_bits), config.lanes),
        "last": 1,
    })


class Requantizer(wiring.Component):
    """``lanes`` parallel dyadic requantizers with per-lane ``(b, c)`` tables.

    Normative model: ``q[l] = ivita.model.requantize(acc[l], b[l], c[l], out_bits)``
    = ``saturate(round_shift(acc * b, c), out_bits)`` (round half up, saturation at every
    width), bit-exact for every ``acc`` of ``acc_bits``, ``b < 2^mult_bits`` and
    ``c <= max_shift``. ``last`` passes through unchanged.

    Streams
    -------
    ``i_stream`` (:func:`requant_input_layout`) -> ``o_stream`` (:func:`requant_output_layout`).

    Table write port
    ----------------
    ``table_we`` high for one cycle writes ``(table_b, table_c)`` into lane ``table_lane``
    (``In(range(lanes))``; 1 bit wide when ``lanes == 1``, where only lane 0 is valid).
    A write in cycle ``t`` applies to vectors accepted in cycles after ``t`` (a vector accepted
    in the same cycle still uses the old entry); vectors already accepted are not affected. A
    write with ``table_c > max_shift`` (or ``table_lane >= lanes``) is not performed and sets
    the sticky ``table_error`` (cleared by reset). Entries reset to ``b = 0, c = 0``. Writes are
    accepted in every cycle, also while the stream is stalled.

    Timing
    ------
    :meth:`timing`: latency 6 cycles from a vector accepted to its result valid (product,
    product register, two shift stages or the wide product's sum and one shift stage, round
    with the saturation tests, saturate; ``DYADIC_LATENCY`` in ``hw/_dyadic.py``).
    Throughput: one vector per cycle.

    Back-pressure
    -------------
    A global-stall pipeline ending in a two-entry output skid buffer (``hw/_skid.py``): ``en``
    advances every stage and is a flip-flop (high while the skid's spare entry is free);
    ``i_stream.ready = en`` depends on neither ``o_stream.ready`` nor ``i_stream.valid``
    combinationally. After ``o_stream.ready`` goes low, one more vector is accepted (it waits
    in the spare) before ``i_stream.ready`` drops. Nothing is lost or duplicated under any
    valid/ready pattern.

    Per-beat constants
    ------------------
    With ``per_beat=True`` (keyword-only) there is no table: every input vector carries its own
    ``b[l]``, ``c[l]`` (:func:`requant_input_layout` with ``per_beat``), captured with the
    vector; a ``c > max_shift`` is the caller's responsibility (the shift is taken as given).
    Timing and back-pressure are unchanged. Used by the attention block, whose constants come
    from its C-mem per column block.
    """

    def __init__(self, config: RequantConfig, *, per_beat: bool = False) -> None:
        if not isinstance(config, RequantConfig):
            raise TypeError(f"config must be a RequantConfig, not {type(config).__name__} "
                            f"({config!r})")
        if not isinstance(per_beat, bool):
            raise TypeError(f"per_beat must be a bool, not {type(per_beat).__name__}")
        self._config = config
        self._per_beat = per_beat
        table = {} if per_beat else {
            "table_we": In(1),
            # range(lanes), but never zero-width (Verilog would get a [-1:0] port).
            "table_lane": In(range(max(config.lanes, 2))),
            "table_b": In(unsigned(config.mult_bits)),
            "table_c": In(unsigned(config.shift_bits)),
            "table_error": Out(1),
        }
        super().__init__({
            "i_stream": In(stream.Signature(requant_input_layout(config, per_beat=per_beat))),
            "o_stream": Out(stream.Signature(requant_output_layout(config))),
            **table,
        })

    @property
    def config(self) -> RequantConfig:
        return self._config

    def timing(self, n: int | None = None) -> Timing:
        """Latency ``DYADIC_LATENCY`` (6) from each vector accepted to its output valid, one
        vector per cycle (``n`` is ignored)."""
        return Timing(latency=DYADIC_LATENCY, latency_from="first", interval=1, per="vector")

    def elaborate(self, platform: object) -> Module:
        cfg = self._config
        m = Module()
        i_s, o_s = self.i_stream, self.o_stream

        loads, nxt = stall_pipeline(m, i_s, o_s)

        if self._per_beat:
            bs = [i_s.payload.b[lane] for lane in range(cfg.lanes)]
            cs = [i_s.payload.c[lane] for lane in range(cfg.lanes)]
        else:
            bs, cs = dyadic_table(m, lanes=cfg.lanes, mult_bits=cfg.mult_bits,
                                  shift_bits=cfg.shift_bits, max_shift=cfg.max_shift,
                                  we=self.table_we, lane=self.table_lane, b=self.table_b,
                                  c=self.table_c, error=self.table_error)

        for lane in range(cfg.lanes):
            q = Signal(signed(cfg.out_bits), name=f"lane{lane}_q")
            dyadic_lane(m, loads=loads, x=i_s.payload.acc[lane], x_bits=cfg.acc_bits,
                        b=bs[lane], mult_bits=cfg.mult_bits, c=cs[lane],
                        shift_bits=cfg.shift_bits, out=q, out_bits=cfg.out_bits,
                        name=f"lane{lane}")
            m.d.comb += nxt.q[lane].eq(q)
        return m
