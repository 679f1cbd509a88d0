"""The ``attention`` unit (fpga/units.py): the whole AttentionBlock from the unit options,
synthesized with the classic ``abc`` LUT mapping (``synthesize(abc9=False)``)."""

import pytest
from amaranth.hdl import Fragment

import ivita.fpga.synth as synth_mod
from ivita.fpga.parts import PARTS, fit
from ivita.fpga.synth import SynthError, synthesize
from ivita.fpga.top import DEFAULT_BLOCK
from ivita.fpga.units import ALL_UNITS, NO_ABC9, UNITS, UnitOptions, build_unit
from ivita.hw.attention import AttentionBlock
from ivita.model.block_config import BlockConfig

SMALL = UnitOptions(rows=2, cols=2, a_bits=4, b_bits=4, tokens=4, dim=4)
BOARD = UnitOptions(rows=4, cols=4, a_bits=4, b_bits=4, tokens=16, dim=16)   # DEFAULT_BLOCK


def test_attention_unit_maps_the_options():
    assert "attention" in UNITS and "attention" in NO_ABC9 and "attention" not in ALL_UNITS
    comp, cfg = build_unit("attention", UnitOptions(rows=4, cols=4, a_bits=3, b_bits=5,
                                                    tokens=12, dim=8))
    assert isinstance(comp, AttentionBlock)
    Fragment.get(comp, None)                  # it elaborates (and is not left unused)
    assert cfg == BlockConfig(rows=4, cols=4, a_bits=3, w_bits=5, attn_bits=5, prob_bits=5,
                              max_tokens=12, max_dim=8)
    with pytest.raises(ValueError, match="rows=4 and cols=2 differ"):
        build_unit("attention", UnitOptions(rows=4, cols=2))


@pytest.mark.parametrize("abc9", [True, False])
def test_map_luts_script(monkeypatch, synth_cache, abc9):
    seen = []

    def fake_run(script, cwd, timeout, progress, label):
        seen.append(script)
        raise SynthError("stop")

    monkeypatch.setattr(synth_mod, "_run_yosys", fake_run)
    comp, _ = build_unit("gelu", SMALL)
    with pytest.raises(SynthError):
        synthesize(comp, "gelu", abc9=abc9, cache=False)
    (script,) = seen
    if abc9:
        assert "-run" not in script and " abc " not in script
    else:
        assert "-run :map_luts; opt_expr -mux_undef -noclkinv; abc -luts 2:2,3,6:5,10,20;" \
            in script
        assert script.index("abc -luts") < script.index("-run finalize:") < \
            script.index("stat -json")


def test_board_default_block_is_the_unit_measured_in_the_docs():
    comp, cfg = build_unit("attention", BOARD)
    comp._MustUse__silence = True             # only its config is checked here
    assert cfg == BlockConfig(**DEFAULT_BLOCK)


@pytest.mark.slow
@pytest.mark.yosys
def test_board_default_attention_block_synthesizes_and_fits_xc7s25(synth_cache):
    """The board's default block (docs/fpga.md: 9129 LUT sites, 62.5 % of the xc7s25)."""
    comp, cfg = build_unit("attention", BOARD)
    res = synthesize(comp, "attention", unit="attention", config=cfg.as_dict(), abc9=False,
                     timing=False)
    paths = {i.path for i in res.instances}
    assert {"", "ctrl", "datapath", "datapath.sm", "datapath.ln"} <= paths
    assert res.pes() and len(res.pes()) == 16
    assert 7000 < res.total.lut_sites < PARTS["xc7s25"].lut
    assert res.instance("").total == res.total
    assert "abc, not abc9" in res.source
    assert fit(res.total, PARTS["xc7s25"]).fits
