"""Edge converter of the dequant-first baseline datapath (docs/numerics.md §3).

Only used to compare area and per-PE power against operand reordering; not on the inference
path. It sits in front of a :class:`~ivita.hw.array.SystolicArray` built with
``ArrayConfig(dequant_first=True)`` and turns integer codes into 16-bit fixed point.
"""

from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int
from ivita.model.config import DEQUANT_FIRST_BITS, ArrayConfig

from ._dyadic import DYADIC_LATENCY, dyadic_lane, dyadic_table, stall_pipeline
from .array import array_input_layout
from .timing import Timing

__all__ = ["DequantFirstConverter", "dequant_input_layout"]


def dequant_input_layout(config: ArrayConfig) -> data.StructLayout:
    """Integer codes of one k step: ``a[r]`` at ``r * a_bits``, ``b[c]`` at
    ``rows * a_bits + c * b_bits``, ``last`` at ``rows * a_bits + cols * b_bits``."""
    return data.StructLayout({
        "a": data.ArrayLayout(signed(config.a_bits), config.rows),
        "b": data.ArrayLayout(signed(config.b_bits), config.cols),
        "last": 1,
    })


class DequantFirstConverter(wiring.Component):
    """Lane-wise ``saturate(round_shift(x * b, c), 16)`` of array operands, runtime ``(b, c)``.

    Normative model: :func:`ivita.model.dequant_first_operand` (``bits=16``) on every lane.
    Lanes ``0 .. rows-1`` convert ``a[0 .. rows-1]``; lanes ``rows .. rows+cols-1`` convert
    ``b[0 .. cols-1]``, each with its own table entry. ``last`` passes through.

    Streams
    -------
    ``i_stream`` (:func:`dequant_input_layout`: ``config.a_bits``/``config.b_bits`` codes) ->
    ``o_stream`` (:func:`~ivita.hw.array.array_input_layout` of ``config``: 16-bit lanes), so
    ``wiring.connect(m, conv.o_stream, array.i_stream)`` builds the baseline datapath.

    Table write port, timing and back-pressure are those of
    :class:`~ivita.hw.requant.Requantizer`: ``table_we``/``table_lane``/``table_b``/``table_c``,
    a write applies to beats accepted after it, ``table_c > max_shift`` (or a lane
    ``>= rows + cols``) is dropped and sets the sticky ``table_error``; :meth:`timing`: latency 6,
    one beat per cycle, global-stall pipeline ending in an output skid buffer, so
    ``i_stream.ready`` is a flip-flop (no combinational path from ``o_stream.ready``).

    Parameters
    ----------
    config : ArrayConfig
        With ``dequant_first=True``.
    mult_bits : int, keyword-only
        Width of the unsigned multipliers ``b``, 2..32 (default 16).
    max_shift : int or None, keyword-only
        Largest shift ``c``, 0..63; default ``min(63, max(a_bits, b_bits) + mult_bits)``.
    """

    def __init__(self, config: ArrayConfig, *, mult_bits: int = 16,
                 max_shift: int | None = None) -> None:
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, not {type(config).__name__} "
                            f"({config!r})")
        if not config.dequant_first:
            raise ValueError("DequantFirstConverter needs an ArrayConfig with "
                             "dequant_first=True (16-bit PE operands)")
        mult_bits = check_int(mult_bits, "mult_bits", 2, 32)
        in_bits = max(config.a_bits, config.b_bits)
        if max_shift is None:
            max_shift = min(63, in_bits + mult_bits)
        max_shift = check_int(max_shift, "max_shift", 0, 63)
        self._config = config
        self._mult_bits = mult_bits
        self._max_shift = max_shift
        self._lanes = config.rows + config.cols
        super().__init__({
            "i_stream": In(stream.Signature(dequant_input_layout(config))),
            "o_stream": Out(stream.Signature(array_input_layout(config))),
            "table_we": In(1),
            "table_lane": In(range(self._lanes)),
            "table_b": In(unsigned(mult_bits)),
            "table_c": In(unsigned(self.shift_bits)),
            "table_error": Out(1),
        })

    @property
    def config(self) -> ArrayConfig:
        return self._config

    @property
    def mult_bits(self) -> int:
        return self._mult_bits

    @property
    def max_shift(self) -> int:
        return self._max_shift

    @property
    def shift_bits(self) -> int:
        return max(self._max_shift, 1).bit_length()

    @property
    def lanes(self) -> int:
        """``rows + cols``: one table entry per ``a`` lane, then one per ``b`` lane."""
        return self._lanes

    @property
    def out_bits(self) -> int:
        return DEQUANT_FIRST_BITS

    def timing(self, n: int | None = None) -> Timing:
        """Latency ``DYADIC_LATENCY`` (6) from each beat accepted to its output valid, one
        beat per cycle (``n`` is ignored)."""
        return Timing(latency=DYADIC_LATENCY, latency_from="first", interval=1, per="beat")

    def elaborate(self, platform: object) -> Module:
        cfg = self._config
        m = Module()
        i_s, o_s = self.i_stream, self.o_stream

        loads, nxt = stall_pipeline(m, i_s, o_s)

        bs, cs = dyadic_table(m, lanes=self._lanes, mult_bits=self._mult_bits,
                              shift_bits=self.shift_bits, max_shift=self._max_shift,
                              we=self.table_we, lane=self.table_lane, b=self.table_b,
                              c=self.table_c, error=self.table_error)

        sources = ([(i_s.payload.a[r], cfg.a_bits, nxt.a[r], f"a{r}")
                    for r in range(cfg.rows)] +
                   [(i_s.payload.b[c], cfg.b_bits, nxt.b[c], f"b{c}")
                    for c in range(cfg.cols)])
        for lane, (x, x_bits, dst, name) in enumerate(sources):
            q = Signal(signed(DEQUANT_FIRST_BITS), name=f"lane_{name}_q")
            dyadic_lane(m, loads=loads, x=x, x_bits=x_bits, b=bs[lane],
                        mult_bits=self._mult_bits, c=cs[lane], shift_bits=self.shift_bits,
                        out=q, out_bits=DEQUANT_FIRST_BITS, name=f"lane_{name}")
            m.d.comb += dst.eq(q)
        return m
