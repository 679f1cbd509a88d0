"""Toggle counting and static probabilities from a hand-written VCD (ivita.power.vcd)."""

from __future__ import annotations

import pytest

from ivita.power.vcd import count_activity, timescale_ps

VCD = """$timescale 1ns $end
$scope module tb $end
$scope module dut $end
$var wire 1 ! clk $end
$var wire 3 " cnt [2:0] $end
$scope module pe_r0_c0 $end
$var wire 1 # q $end
$scope module n5_ $end
$var wire 1 $ internal $end
$upscope $end
$upscope $end
$upscope $end
$upscope $end
$enddefinitions $end
#0
0!
b000 "
x#
0$
#10
b001 "
0#
1$
#20
b010 "
1#
#30
b011 "
0#
#40
b100 "
1#
#50
bx00 "
"""


def test_window_counts_toggles_and_time_at_one(tmp_path):
    p = tmp_path / "a.vcd"
    p.write_text(VCD)
    acts = count_activity(p, scope=("tb", "dut"), keep={"", "pe_r0_c0"}, t0_ns=10, t1_ns=40)
    by = {(a.scope, a.name): a for a in acts}
    # the primitive's own scope (n5_) is not an instance: skipped
    assert set(by) == {("", "clk"), ("", "cnt"), ("pe_r0_c0", "q")}
    cnt = by[("", "cnt")]
    # changes at 10 (000->001), 20 (001->010), 30 (010->011) are in [10, 40); 40 is not
    assert cnt.toggles == [3, 1, 0]
    # cnt[0] is 1 during [10,20) and [30,40), cnt[1] during [20,40): 20 of the 30 ns window
    assert cnt.high == pytest.approx([2 / 3, 2 / 3, 0.0])
    q = by[("pe_r0_c0", "q")]
    # x -> 0 at 10 is not a toggle; 0->1 at 20 and 1->0 at 30 are
    assert q.toggles == [2]
    assert q.high == pytest.approx([1 / 3])


def test_window_before_changes_and_x(tmp_path):
    p = tmp_path / "a.vcd"
    p.write_text(VCD)
    acts = count_activity(p, scope=("tb", "dut"), keep={""}, t0_ns=35, t1_ns=60)
    cnt = {a.name: a for a in acts}["cnt"]
    # 011 -> 100 at 40 flips all three bits; -> x at 50 is not a toggle
    assert cnt.toggles == [1, 1, 1]
    # bit 2 is 1 from 40 until it becomes x at 50: 10 of 25 ns
    assert cnt.high[2] == pytest.approx(10 / 25)


def test_bad_window_and_timescale(tmp_path):
    p = tmp_path / "a.vcd"
    p.write_text(VCD)
    with pytest.raises(ValueError, match=r"empty window \[5, 5\)"):
        count_activity(p, scope=("tb",), keep={""}, t0_ns=5, t1_ns=5)
    assert timescale_ps("1ps") == 1 and timescale_ps("10 ns") == 10_000
    with pytest.raises(ValueError, match="'1 parsec'"):
        timescale_ps("1 parsec")
