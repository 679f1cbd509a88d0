"""Output-stationary systolic array of :class:`~ivita.hw.pe.ProcessingElement` (docs/architecture.md)."""

from __future__ import annotations

from amaranth import Array, Module, Signal, signed
from amaranth.hdl import Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.checks import check_int
from ivita.model.config import ArrayConfig

from ._skid import EnableCopy, output_skid
from .pe import MULTIPLIERS, PE_LATENCY, ProcessingElement
from .timing import Timing

__all__ = ["SystolicArray", "array_input_layout", "array_output_layout", "pe_name"]


def pe_name(r: int, c: int) -> str:
    """Submodule name of the PE at grid position ``(r, c)``: ``pe_r{r}_c{c}``."""
    return f"pe_r{r}_c{c}"


def array_input_layout(config: ArrayConfig) -> data.StructLayout:
    """One k step: ``a`` = column k of A (``rows`` lanes), ``b`` = row k of B (``cols`` lanes).

    Bit offsets: ``a[r]`` at ``r * pe_a_bits``; ``b[c]`` at ``rows * pe_a_bits + c * pe_b_bits``;
    ``last`` at ``rows * pe_a_bits + cols * pe_b_bits``.
    """
    return data.StructLayout({
        "a": data.ArrayLayout(signed(config.pe_a_bits), config.rows),
        "b": data.ArrayLayout(signed(config.pe_b_bits), config.cols),
        "last": 1,
    })


def array_output_layout(config: ArrayConfig) -> data.StructLayout:
    """One row of C: ``c[j]`` at ``j * acc_bits``; ``last`` at ``cols * acc_bits``."""
    return data.StructLayout({
        "c": data.ArrayLayout(signed(config.acc_bits), config.cols),
        "last": 1,
    })


class SystolicArray(wiring.Component):
    """``C[rows x cols] = A[rows x K] @ B[K x cols]`` per tile, output-stationary, for any K >= 1.

    Normative model: ``A @ B`` in int64 (:func:`ivita.model.linear_acc` without bias), exact
    for every tile of at most ``config.k_max`` beats.

    Streams
    -------
    ``i_stream`` (:func:`array_input_layout`): one beat per k step, ``a = A[:, k]``,
    ``b = B[k, :]``, ``last`` on ``k = K - 1``; tiles follow back to back.
    ``o_stream`` (:func:`array_output_layout`): ``rows`` beats per tile, beat ``r`` carries
    ``C[r, :]``, ``last`` on ``r = rows - 1``. Tiles come out in input order.

    Structure
    ---------
    An input register stage, a skew (row ``r`` of A is delayed ``r`` further cycles, column
    ``c`` of B ``c`` further cycles), the ``rows x cols`` PEs named ``pe_r{r}_c{c}`` (PE-to-PE
    links are the PEs' registered ``a_out``/``b_out``/``valid_out``/``last_out``), then the
    drain: PE ``(r, c)`` holds its finished sum in its ``result`` (shadow) register while its
    accumulator starts the next tile; a per-column read multiplexer picks row ``r`` of column
    ``c`` on the first cycle it is final, and a deskew delays column ``c`` by ``cols - 1 - c``
    cycles so that each output beat is a whole row.

    Timing (counted in cycles the array is enabled, see back-pressure)
    ------------------------------------------------------------------
    - Latency: if the last beat of a tile is accepted in cycle ``T``, its output beat ``r`` is
      valid in cycle ``T + cols + 3 + r`` (``cols + 1 + PE_LATENCY``: the input register, the
      skew, the PE's product and accumulator registers, the drain and deskew). From the first
      beat of a K-beat tile, with no stalls: ``K + cols + 2``. :meth:`timing` ``(K)`` states
      latency ``cols + 3`` from the ``last`` beat and the interval ``max(K, rows)`` cycles per
      tile.
    - Throughput: one beat per cycle, i.e. one MAC per PE per cycle, when every tile has
      ``K >= rows`` (the drain of a tile overlaps the accumulation of the next).
    - ``K < rows``: a tile produces more output beats (``rows``) than it takes input beats, so
      the last beat of a tile is accepted no earlier than ``rows`` cycles after the previous
      tile's last beat (``i_stream.ready`` is held low while such a ``last`` beat waits; other
      beats are not delayed). Throughput is then one tile per ``rows`` cycles.

    Back-pressure
    -------------
    Only at the boundary, through one global enable ``en`` that is a flip-flop: the output
    register is the head of a two-entry skid buffer (``hw/_skid.py``) and ``en`` is high while
    its spare entry is free. When an output beat waits (``o_stream.valid & ~o_stream.ready``)
    the next beat the array produces goes to the spare and from the following cycle every
    register of the array freezes and ``i_stream.ready`` is low, until the head is taken.
    ``i_stream.ready`` therefore does not depend combinationally on ``o_stream.ready`` (nor on
    ``i_stream.valid``); it depends on ``i_stream.payload.last`` for the ``K < rows`` rule.
    Input gaps (``i_stream.valid`` low) enter the array as bubbles and cost nothing else.

    ``multiplier`` (keyword-only): the PEs' multiplier structure, ``"booth"`` (default, LUT
    fabric) or ``"infer"`` (``*``, a DSP48E1 per PE from 5 bits on); see
    :class:`~ivita.hw.pe.ProcessingElement`. Behaviour and timing are identical.

    Status
    ------
    ``k_overflow`` (sticky until reset): a tile had more than ``config.k_max`` beats; the
    results of that tile (and only its accumulators) may have wrapped modulo ``2^acc_bits``.
    Such a tile is still processed and drained normally: the array never hangs.
    """

    def __init__(self, config: ArrayConfig, *, multiplier: str = "booth") -> None:
        if not isinstance(config, ArrayConfig):
            raise TypeError(f"config must be an ArrayConfig, not {type(config).__name__} "
                            f"({config!r})")
        if not isinstance(multiplier, str):
            raise TypeError(f"multiplier must be a str, not {type(multiplier).__name__} "
                            f"({multiplier!r})")
        if multiplier not in MULTIPLIERS:
            raise ValueError(f"multiplier={multiplier!r} is not one of {', '.join(MULTIPLIERS)}")
        self._config = config
        self._multiplier = multiplier
        super().__init__({
            "i_stream": In(stream.Signature(array_input_layout(config))),
            "o_stream": Out(stream.Signature(array_output_layout(config))),
            "k_overflow": Out(1),
        })

    @property
    def config(self) -> ArrayConfig:
        return self._config

    def timing(self, n: int | None = None) -> Timing:
        """Tiles of ``K = n`` beats (default ``k_max``): latency ``cols + 1 + PE_LATENCY`` =
        ``cols + 3`` from a tile's ``last`` beat to its first output row (so ``K + cols + 2``
        from its first beat, idle array, no stalls); interval ``max(K, rows)`` cycles per tile
        in steady state."""
        k = self._config.k_max if n is None else check_int(n, "n", 1)
        return Timing(latency=self._config.cols + 1 + PE_LATENCY, latency_from="last",
                      interval=max(k, self._config.rows), per="tile")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        i_s, o_s = self.i_stream, self.o_stream
        # Global enable (driven below by the output skid): freezes every register.
        en = Signal()
        accept = self._input_control(m, en)
        vline, lline = self._control_line(m, en, accept)
        pes = self._grid(m, en, vline, lline)
        nxt, nxt_valid = self._drain(m, en, vline, lline, pes)
        # en is the output skid's flip-flop: no combinational path from o_stream.ready; every
        # PE gets a flip-flop copy of it (EnableCopy), so no net fans out to the whole grid
        skid_en, en_next = output_skid(m, o_s, nxt, nxt_valid, name="out_skid")
        m.d.comb += en.eq(skid_en)
        for r, pe_row in enumerate(pes):
            for c, pe in enumerate(pe_row):
                copy = m.submodules[f"en_r{r}_c{c}"] = EnableCopy()
                m.d.comb += [copy.d.eq(en_next), pe.en.eq(copy.q)]
        return m

    def _input_control(self, m: Module, en: Value) -> Signal:
        """``i_stream.ready`` (with the ``K < rows`` pacing of ``last`` beats) and
        ``k_overflow``; returns the accept strobe."""
        cfg, i_s = self._config, self.i_stream
        rows = cfg.rows
        # K < rows: hold a `last` beat until `rows` cycles after the previous one.
        if rows > 1:
            since_last = Signal(range(rows + 1), init=rows)
            last_blocked = (since_last < rows)
        else:
            since_last, last_blocked = None, 0
        m.d.comb += i_s.ready.eq(en & ~(i_s.payload.last & last_blocked))
        accept = Signal()
        m.d.comb += accept.eq(i_s.valid & i_s.ready)
        if since_last is not None:
            # the accepted `last` beat without `en` (the If's enable): keeps the counter off
            # the high-fanout `accept` net (issue 9: this was the array's slowest path)
            last_in = Signal()
            m.d.comb += last_in.eq(i_s.valid & i_s.payload.last & ~last_blocked)
            with m.If(en):
                with m.If(last_in):
                    m.d.sync += since_last.eq(1)
                with m.Elif(since_last < rows):
                    m.d.sync += since_last.eq(since_last + 1)

        # k_overflow: more than k_max beats in one tile.
        kcnt = Signal(range(cfg.k_max + 1))
        with m.If(accept):
            with m.If(kcnt == cfg.k_max):
                m.d.sync += self.k_overflow.eq(1)
            with m.If(i_s.payload.last):
                m.d.sync += kcnt.eq(0)
            with m.Elif(kcnt != cfg.k_max):
                m.d.sync += kcnt.eq(kcnt + 1)
        return accept

    def _control_line(self, m: Module, en: Value, accept: Value
                      ) -> tuple[list[Value], list[Value]]:
        """Control delay line: stage s holds (valid, last) of the beat accepted s cycles ago."""
        cfg, i_s = self._config, self.i_stream
        depth = max(cfg.rows, cfg.cols - 1, PE_LATENCY)
        vline = [accept] + [Signal(name=f"skew_valid_{s}") for s in range(1, depth + 1)]
        lline = [i_s.payload.last] + [Signal(name=f"skew_last_{s}") for s in range(1, depth + 1)]
        with m.If(en):
            for s in range(1, depth + 1):
                m.d.sync += vline[s].eq(vline[s - 1])
                with m.If(vline[s - 1]):
                    m.d.sync += lline[s].eq(lline[s - 1])
        return vline, lline

    def _grid(self, m: Module, en: Value, vline: list[Value], lline: list[Value]
              ) -> list[list[ProcessingElement]]:
        """The operand skew and the PE grid."""
        cfg, i_s = self._config, self.i_stream
        rows, cols = cfg.rows, cfg.cols

        def skew(src, n: int, name: str) -> Signal:
            """``src`` through ``n`` registers; stage ``s`` loads only when vline[s-1]."""
            prev = src
            for s in range(1, n + 1):
                reg = Signal.like(src, name=f"{name}_d{s}")
                with m.If(en & vline[s - 1]):
                    m.d.sync += reg.eq(prev)
                prev = reg
            return prev

        a_edge = [skew(i_s.payload.a[r], r + 1, f"skew_a{r}") for r in range(rows)]
        b_edge = [skew(i_s.payload.b[c], c + 1, f"skew_b{c}") for c in range(cols)]
        pes: list[list[ProcessingElement]] = []
        for r in range(rows):
            pe_row = []
            for c in range(cols):
                pe = ProcessingElement(a_bits=cfg.pe_a_bits, b_bits=cfg.pe_b_bits,
                                       acc_bits=cfg.acc_bits, multiplier=self._multiplier)
                m.submodules[pe_name(r, c)] = pe
                if c == 0:
                    m.d.comb += [pe.a_in.eq(a_edge[r]), pe.valid_in.eq(vline[r + 1]),
                                 pe.last_in.eq(lline[r + 1])]
                else:
                    left = pe_row[c - 1]
                    m.d.comb += [pe.a_in.eq(left.a_out), pe.valid_in.eq(left.valid_out),
                                 pe.last_in.eq(left.last_out)]
                if r == 0:
                    m.d.comb += pe.b_in.eq(b_edge[c])
                else:
                    m.d.comb += pe.b_in.eq(pes[r - 1][c].b_out)
                pe_row.append(pe)
            pes.append(pe_row)
        return pes

    def _drain(self, m: Module, en: Value, vline: list[Value], lline: list[Value],
               pes: list[list[ProcessingElement]]) -> tuple[Value, Value]:
        """Drain control, per-column read multiplexers and the deskew; returns the next output
        beat (``o_stream``'s layout) and its valid, which the output skid loads."""
        cfg, o_s = self._config, self.o_stream
        rows, cols = cfg.rows, cfg.cols
        # Column c reads row r in cycle T + 1 + PE_LATENCY + r + c (T = last beat accepted),
        # the first cycle PE (r, c)'s result register holds that tile's sum (PE (r, c) sees
        # the last beat in cycle T + 1 + r + c).
        rd_valid = [Signal(name=f"drain_valid_{c}") for c in range(cols)]
        rd_row = [Signal(range(max(rows, 2)), name=f"drain_row_{c}") for c in range(cols)]
        with m.If(en):
            with m.If(vline[PE_LATENCY] & lline[PE_LATENCY]):
                m.d.sync += [rd_valid[0].eq(1), rd_row[0].eq(0)]
            with m.Elif(rd_valid[0] & (rd_row[0] == rows - 1)):
                m.d.sync += rd_valid[0].eq(0)
            with m.Elif(rd_valid[0]):
                m.d.sync += rd_row[0].eq(rd_row[0] + 1)
            for c in range(1, cols):
                m.d.sync += [rd_valid[c].eq(rd_valid[c - 1]), rd_row[c].eq(rd_row[c - 1])]

        # Read multiplexers and deskew: column c's stage j loads when rd_valid[c + j]; the last
        # stage of every column is the output register, the head of the output skid buffer.
        nxt = Signal(o_s.payload.shape(), name="out_next")
        for c in range(cols):
            column = Array(pes[r][c].result for r in range(rows))
            prev = column[rd_row[c]]
            for j in range(cols - 1 - c):
                reg = Signal(signed(cfg.acc_bits), name=f"deskew_c{c}_d{j}")
                with m.If(en & rd_valid[c + j]):
                    m.d.sync += reg.eq(prev)
                prev = reg
            m.d.comb += nxt.c[c].eq(prev)
        m.d.comb += nxt.last.eq(rd_row[cols - 1] == rows - 1)
        return nxt, rd_valid[cols - 1]
