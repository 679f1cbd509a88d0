"""Memory-port multiplexing of the attention block: host bus while idle, else the running
units (the controller's dispatch rules make the owners of each port mutually exclusive)."""

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
        "A": (mm["seq"].a_addr, mm["seq"].rd_en),
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
    for name in ("prog", "A", "B", "S", "R", "C"):
        wp = mems[name]["w"]
        en_all = (1 << len(wp.en)) - 1
        host_en = Mux(getattr(bus, f"{name}_we"), en_all, 0)
        addr, wdata, en = (getattr(bus, f"{name}_waddr"), getattr(bus, f"{name}_wdata"),
                           Mux(busy, 0, host_en))
        if name in lane_bits:
            lanes = cfg.rows if name == "A" else cfg.cols
            sel = run[Op.MATMUL] & (mm["dst_mem"] == MEMS[name])
            wb_data = _lanes(m, wb.w_data, lanes, lane_bits[name], f"wb_to_{name}")
            addr = Mux(sel, wb.w_addr, addr)
            wdata = Mux(sel, wb_data, wdata)
            en = Mux(sel, Mux(wb.w_en, en_all, 0), en)
            if name == "A":
                units = [(ln["lw"], Op.LAYERNORM), (sm["lw"], Op.SOFTMAX)]
                if ge is not None:
                    units.append((ge["lw"], Op.GELU))
                for unit, op in units:
                    addr = Mux(run[op], unit.w_addr, addr)
                    wdata = Mux(run[op], unit.w_data.as_value(), wdata)
                    en = Mux(run[op], Mux(unit.w_en, unit.w_lanes, 0), en)
        m.d.comb += [wp.addr.eq(addr), wp.data.eq(wdata), wp.en.eq(en)]
