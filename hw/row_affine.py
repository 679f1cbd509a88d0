"""Per-channel affine stage of the block's row units: ``x + bias[ch]`` with ``(b, c)[ch]``
(after LayerNorm: ``n + ln_beta``; after ShiftGELU: ``g + u_off``)."""

from __future__ import annotations

from amaranth import Array, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.block_config import BlockConfig
from ivita.model.checks import check_int
from ivita.model.config import RequantConfig
from ivita.model.quant import LN_BETA_BITS

from ._blockutil import const_ready
from .tile_epilogue import const_lane_layout
from .timing import Timing

__all__ = ["RowAffine", "ln_requant_config", "gelu_requant_config"]


def ln_requant_config(cfg: BlockConfig) -> RequantConfig:
    """The one-lane requantizer after LayerNorm: 41-bit input (31-bit ``n`` + 40-bit beta)."""
    return RequantConfig(lanes=1, acc_bits=LN_BETA_BITS + 1, out_bits=cfg.a_bits,
                         mult_bits=cfg.mult_bits, max_shift=63)


def gelu_requant_config(cfg: BlockConfig) -> RequantConfig:
    """The one-lane requantizer after ShiftGELU: ``gelu_bits + sig_bits + 1`` bits in."""
    return RequantConfig(lanes=1, acc_bits=cfg.gelu_acc_bits, out_bits=cfg.a_bits,
                         mult_bits=cfg.mult_bits, max_shift=63)


class RowAffine(wiring.Component):
    """Element ``ch`` of each row (``ch`` counts from 0, back to 0 after ``last``) ->
    ``{acc: n + bias, b, c}`` from lane ``ch % cols`` of C-mem word ``const_base + ch // cols``
    (the model's ``requantize(n + ln_beta, ln_b, ln_c, a_bits)`` or ``requantize(g + u_off,
    u_b, u_c, a_bits)`` input; ``in_bits`` is the input width, ``rq`` the requantizer it
    feeds, default the LayerNorm one). One register stage,
    one bubble per C-mem word change; ``i_stream.ready`` never depends on ``i_stream.valid``.
    """

    def __init__(self, cfg: BlockConfig, addr_bits: int = 16, *, in_bits: int = 31,
                 rq: RequantConfig | None = None) -> None:
        self._cfg = cfg
        rq = ln_requant_config(cfg) if rq is None else rq
        from .requant import requant_input_layout
        super().__init__({
            "start": In(1), "const_base": In(unsigned(addr_bits)),
            "c_addr": Out(unsigned(addr_bits)),
            "c_data": In(data.ArrayLayout(const_lane_layout(cfg), cfg.cols)),
            "i_stream": In(stream.Signature(data.StructLayout({"y": signed(in_bits),
                                                                "last": 1}))),
            "o_stream": Out(stream.Signature(requant_input_layout(rq, per_beat=True))),
        })

    def timing(self, n: int | None = None) -> Timing:
        """Rows of ``n`` elements (default ``max_dim``, a LayerNorm row): latency 1 from each
        element; a row takes ``n`` cycles plus one bubble per C-mem word change, ``n +
        ceil(n / cols)`` when it spans more than one word (the last change returns to word 0
        for the next row), else ``n``."""
        n = self._cfg.max_dim if n is None else check_int(n, "n", 1, 65535)
        cols = self._cfg.cols
        return Timing(latency=1, latency_from="first",
                      interval=n + -(-n // cols) if n > cols else n, per="row")

    def elaborate(self, platform: object) -> Module:
        m, cols = Module(), self._cfg.cols
        i, o = self.i_stream, self.o_stream
        w, lane = Signal(16), Signal(range(max(cols, 2)))
        m.d.comb += self.c_addr.eq(self.const_base + w)
        ok = const_ready(m, self.c_addr, self.start, "cst")
        m.d.comb += i.ready.eq(ok & (~o.valid | o.ready))
        k = Array(self.c_data[n] for n in range(cols))[lane]
        with m.If(o.ready):
            m.d.sync += o.valid.eq(0)
        with m.If(self.start):
            m.d.sync += [w.eq(0), lane.eq(0), o.valid.eq(0)]
        with m.Elif(i.valid & i.ready):
            m.d.sync += [o.valid.eq(1), o.payload.last.eq(i.payload.last),
                         o.payload.acc[0].eq(i.payload.y + k.bias),
                         o.payload.b[0].eq(k.b), o.payload.c[0].eq(k.c),
                         lane.eq(lane + 1)]
            with m.If(lane == cols - 1):
                m.d.sync += [lane.eq(0), w.eq(w + 1)]
            with m.If(i.payload.last):
                m.d.sync += [lane.eq(0), w.eq(0)]
        return m
