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
    """A-mem's two banks. Read: the datapath's ``dp_read`` (address, enable) while ``busy``,
    else the host's, enables both banks (no address decode before the banks' enables);
    ``a["rdata"]`` (the datapath's) is the data of the bank its last read addressed (one-cycle
    read, held while the datapath enables no read, as one memory); the host bus takes both
    banks' data and selects by its own registered bank.
    Write: each bank takes the first of ``writers`` (``(enable, address, data, lane
    mask)``, optionally a fifth item: the address's bank bit as a register) that is enabled
    and addresses it; the controller never lets two writers of one
    bank run together. ``writers[0]`` is the host's (at once); the datapath's writes are
    registered (each writer's enable, bank, address in its bank, data and lanes) and land
    one cycle after their ``w_en``."""
    dp_addr, dp_en = dp_read
    r_addr, r_en = Mux(busy, dp_addr, bus.A_raddr), Mux(busy, dp_en, bus.A_re)
    # the bank of the datapath's last read (the host bus registers its own choice): the
    # compare sees the sequencer's address register, not the bus's address multiplexer
    hi, hi_q = Signal(name="a_rd_bank"), Signal(name="a_rd_bank_q", reset_less=True)
    m.d.comb += hi.eq(dp_addr >= cfg.a_split)
    with m.If(busy & dp_en):
        m.d.sync += hi_q.eq(hi)
    banks = a["banks"]
    (h_en, h_addr, h_data, h_lanes), dp_writers = writers[0], writers[1:]
    queued = []
    for n, (w_en, w_addr, w_data, lanes, *w_hi) in enumerate(dp_writers):
        # a writer may bring its bank as a register (``w_hi``: the address >= a_split)
        hi_w = w_hi[0] if w_hi else w_addr >= cfg.a_split
        q = (Signal(name=f"a_w{n}_en_q"), Signal(name=f"a_w{n}_hi_q", reset_less=True),
             Signal(max(len(bk["w"].addr) for bk in banks), name=f"a_w{n}_addr_q",
                    reset_less=True),
             Signal.like(banks[0]["w"].data, name=f"a_w{n}_data_q", reset_less=True),
             Signal.like(banks[0]["w"].en, name=f"a_w{n}_lanes_q", reset_less=True))
        m.d.sync += [q[0].eq(w_en), q[1].eq(hi_w),
                     q[2].eq(Mux(hi_w, w_addr - cfg.a_split, w_addr)), q[3].eq(w_data),
                     q[4].eq(lanes)]
        queued.append(q)
    for b, bank in enumerate(banks):
        rp, wp = bank["r"], bank["w"]
        # the enable is one LUT of (busy, the sequencer's rd_en, the host's r_en): both banks
        # read (the data of the other one is not used), no address compare before it
        m.d.comb += [rp.addr.eq(r_addr - bank["base"]), rp.en.eq(r_en)]

        def in_bank(w_addr: Value, b: int = b) -> Value:
            return (w_addr >= cfg.a_split) if b else (w_addr < cfg.a_split)

        # the datapath's writes are registered (one cycle later: the units' writes land
        # before any later reader starts) with their bank and address in it, so neither the
        # bank compare nor the subtraction sits before the memory
        addr, wdata, en = Value.cast(0), Value.cast(0), Value.cast(0)
        for q_en, q_hi, q_addr, q_data, q_lanes in reversed(queued):
            take = q_en & (q_hi if b else ~q_hi)
            addr = Mux(take, q_addr, addr)
            wdata = Mux(take, q_data, wdata)
            en = Mux(take, q_lanes, en)
        host = h_en & in_bank(h_addr)                 # the host writes only while idle
        m.d.comb += [wp.addr.eq(Mux(host, h_addr - bank["base"], addr)),
                     wp.data.eq(Mux(host, h_data, wdata)),
                     wp.en.eq(Mux(host, h_lanes, en))]
    # the host bus takes both banks (it registered which one a read addressed)
    m.d.comb += [a["rdata"].eq(Mux(hi_q, banks[1]["r"].data, banks[0]["r"].data)),
                 bus.A_rdata.eq(banks[0]["r"].data), bus.A_rdata1.eq(banks[1]["r"].data)]


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
