"""Memory-port multiplexing of the attention block: host bus while idle, else the running
units (the controller's dispatch rules make the owners of each port mutually exclusive; the
two A-mem banks each take the write of whichever writer addresses them)."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.hdl import Value
from amaranth.lib import data

from ivita.firmware.isa import MEMS, Op
from ivita.model.block_config import BlockConfig

from .block_controller import UNITS

__all__ = ["connect_memories"]


def _lanes(m: Module, src: Value, lanes: int, lane_bits: int, name: str) -> Value:
    """``src`` (an array of signed lanes) re-packed into ``lane_bits`` lanes (sign-extended or
    truncated; the write-back saturates first, so nothing is lost)."""
    out = Signal(data.ArrayLayout(signed(lane_bits), lanes), name=name)
    m.d.comb += [out[n].eq(src[n]) for n in range(lanes)]
    return out.as_value()


def _connect_a(m: Module, cfg: BlockConfig, a: dict, busy: Value,
               dp_read: tuple[Value, Value], bus: object,
               writers: list[tuple[Value, ...]]) -> None:
    """A-mem's two banks. Read: while ``busy`` the datapath's ``dp_read`` (address, enable)
    enables the bank holding the address, else a host read enables both (the bus selects the
    data: no address decode before the banks' enables); ``a["rdata"]`` is the data of the
    bank the last read addressed (one-cycle read, held while no read is enabled, as one
    memory).
    Write: each bank takes the first of ``writers`` (``(enable, address, data, lane
    mask)``, optionally a fifth item: the address's bank bit as a register) that is enabled
    and addresses it; the controller never lets two writers of one
    bank run together. ``writers[0]`` is the host's (at once); the datapath's writes are
    registered and land one cycle after their ``w_en``."""
    dp_addr, dp_en = dp_read
    r_addr, r_en = Mux(busy, dp_addr, bus.A_raddr), Mux(busy, dp_en, bus.A_re)
    hi, hi_q = Signal(name="a_rd_bank"), Signal(name="a_rd_bank_q")
    dp_hi = Signal(name="a_rd_bank_dp")                  # from the sequencer's address register
    m.d.comb += [hi.eq(r_addr >= cfg.a_split), dp_hi.eq(dp_addr >= cfg.a_split)]
    with m.If(r_en):
        m.d.sync += hi_q.eq(hi)
    banks = a["banks"]
    (h_en, h_addr, h_data, h_lanes), dp_writers = writers[0], writers[1:]
    for b, bank in enumerate(banks):
        rp, wp = bank["r"], bank["w"]
        mine = dp_hi if b else ~dp_hi
        # the enable is one LUT of (busy, the sequencer's rd_en, its bank, the host's r_en)
        m.d.comb += [rp.addr.eq(r_addr - bank["base"]),
                     rp.en.eq(Mux(busy, dp_en & mine, bus.A_re))]

        def in_bank(w_addr: Value, b: int = b) -> Value:
            return (w_addr >= cfg.a_split) if b else (w_addr < cfg.a_split)

        # the datapath's write is registered (one cycle later: the units' writes land before
        # any later reader starts), so the bank choice does not sit before the memory
        addr, wdata, en = Value.cast(0), Value.cast(0), Value.cast(0)
        for w_en, w_addr, w_data, lanes, *hi in reversed(dp_writers):
            # a writer may bring its bank as a register (``hi``: the address >= a_split)
            take = w_en & ((hi[0] if b else ~hi[0]) if hi else in_bank(w_addr))
            addr = Mux(take, w_addr - bank["base"], addr)
            wdata = Mux(take, w_data, wdata)
            en = Mux(take, lanes, en)
        q_addr = Signal.like(wp.addr, name=f"a{b}_waddr_q")
        q_data = Signal.like(wp.data, name=f"a{b}_wdata_q")
        q_en = Signal.like(wp.en, name=f"a{b}_wen_q")
        m.d.sync += [q_addr.eq(addr), q_data.eq(wdata), q_en.eq(en)]
        host = h_en & in_bank(h_addr)                 # the host writes only while idle
        m.d.comb += [wp.addr.eq(Mux(host, h_addr - bank["base"], q_addr)),
                     wp.data.eq(Mux(host, h_data, q_data)),
                     wp.en.eq(Mux(host, h_lanes, q_en))]
    m.d.comb += [a["rdata"].eq(Mux(hi_q, banks[1]["r"].data, banks[0]["r"].data)),
                 bus.A_rdata.eq(a["rdata"])]


def connect_memories(m: Module, cfg: BlockConfig, bus: object, ctrl: object, mems: dict,
                     mm: dict, ln: dict, sm: dict, ge: dict | None) -> None:
    busy = ctrl.busy
    run = {op: ctrl.unit_busy[u] for op, u in UNITS.items()}
    wb = mm["wb"]
    lane_bits = {"A": cfg.pe_a_bits, "B": cfg.pe_b_bits, "S": cfg.attn_bits,
                 "R": cfg.resid_bits}
    # ---- read ports: (address, enable) of the datapath owner
    r_addr, r_en = wb.x_addr, Value.cast(1)
    c_addr = mm["epi"].c_addr
    for unit, op in ((ln, Op.LAYERNORM), (ge, Op.GELU)):
        if unit is not None:
            r_addr = Mux(run[op], unit["ser"].rd_addr, r_addr)
            r_en = Mux(run[op], unit["ser"].rd_en, r_en)
            c_addr = Mux(run[op], unit["aff"].c_addr, c_addr)
    dp_read = {
        "prog": (ctrl.prog_addr, ctrl.prog_en),
        "B": (mm["seq"].b_addr, mm["seq"].rd_en),
        "S": (sm["ser"].rd_addr, sm["ser"].rd_en),
        "R": (r_addr, r_en),
        "C": (c_addr, 1),
    }
    for name, (addr, en) in dp_read.items():
        rp = mems[name]["r"]
        m.d.comb += [rp.addr.eq(Mux(busy, addr, getattr(bus, f"{name}_raddr"))),
                     rp.en.eq(Mux(busy, en, getattr(bus, f"{name}_re"))),
                     getattr(bus, f"{name}_rdata").eq(rp.data)]
    # ---- write ports
    for name in ("prog", "B", "S", "R", "C"):
        wp = mems[name]["w"]
        en_all = (1 << len(wp.en)) - 1
        host_en = Mux(getattr(bus, f"{name}_we"), en_all, 0)
        addr, wdata, en = (getattr(bus, f"{name}_waddr"), getattr(bus, f"{name}_wdata"),
                           Mux(busy, 0, host_en))
        if name in lane_bits:
            sel = run[Op.MATMUL] & (mm["dst_mem"] == MEMS[name])
            wb_data = _lanes(m, wb.w_data, cfg.cols, lane_bits[name], f"wb_to_{name}")
            addr = Mux(sel, wb.w_addr, addr)
            wdata = Mux(sel, wb_data, wdata)
            en = Mux(sel, Mux(wb.w_en, en_all, 0), en)
        m.d.comb += [wp.addr.eq(addr), wp.data.eq(wdata), wp.en.eq(en)]
    # ---- A-mem: two banks
    a_all = (1 << len(mems["A"]["banks"][0]["w"].en)) - 1
    writers = [(~busy & bus.A_we, bus.A_waddr, bus.A_wdata, a_all),
               (run[Op.MATMUL] & (mm["dst_mem"] == MEMS["A"]) & wb.w_en, wb.w_addr,
                _lanes(m, wb.w_data, cfg.rows, lane_bits["A"], "wb_to_A"), a_all, wb.w_hi)]
    for unit, op in ((ln, Op.LAYERNORM), (sm, Op.SOFTMAX), (ge, Op.GELU)):
        if unit is not None:
            lw = unit["lw"]
            writers.append((run[op] & lw.w_en, lw.w_addr, lw.w_data.as_value(), lw.w_lanes))
    _connect_a(m, cfg, mems["A"], busy, (mm["seq"].a_addr, mm["seq"].rd_en), bus, writers)
