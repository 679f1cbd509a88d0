"""ivita.sim: verification infrastructure (see docs/verification.md).

- :mod:`ivita.sim.emit` -- Verilog + JSON sidecar from an Amaranth component
- :mod:`ivita.sim.runner` -- cocotb runner wrapper for Icarus and Verilator (build cache)
- :mod:`ivita.sim.bench` -- the ``TB`` base class, stimulus files, :func:`run_bench`
- :mod:`ivita.sim.registry` -- unit name -> TB class (``ivita sim UNIT``)
- :mod:`ivita.sim.payload`, :mod:`ivita.sim.sidecar`, :mod:`ivita.sim.loop`,
  :mod:`ivita.sim.scoreboard` -- pure-Python codec, sidecar reader, stream agents, checker
- :mod:`ivita.sim.cocotb_bench`, :mod:`ivita.sim.amaranth_bench` -- the simulator backends
  (the Amaranth one also checks that ``ready`` never depends on ``valid``)
- :mod:`ivita.sim.unit_run` -- ``run_lanes``/``run_stream``: the same agents for the unit tests
  and benchmarks; :mod:`ivita.sim.rows` -- row beats and checks for the row units
- :mod:`ivita.sim.block_bus_run` -- ``run_block``: an attention-block program through its
  host bus (load images, start, wait for ``busy`` to fall, read back) in amaranth.sim;
  :mod:`ivita.sim.cocotb_block` -- the same on Icarus/Verilator (cocotb);
  :mod:`ivita.sim.bus_plan` -- the bus transfers both use (images in, words out)
- :mod:`ivita.sim.attention_run` -- the attention-block bench (``ivita sim attention``): a
  random quantized layer, compiled, simulated, compared with the model, cycles vs the bound;
  :mod:`ivita.sim.attention_matrix` -- its test matrix and cycle table
- :mod:`ivita.sim.formal`, :mod:`ivita.sim.formal_harness` -- bounded proofs (yowasp-sby)
- :mod:`ivita.sim.tools` -- external tools next to the running Python or on ``PATH``;
  :mod:`ivita.sim.jsonio` -- the ``json.dumps`` fallback
- ``ivita.sim.tb_<unit>`` -- one bench per unit (also its cocotb test module)
"""
