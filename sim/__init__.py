"""ivita.sim: verification infrastructure (see docs/verification.md).

- :mod:`ivita.sim.emit` -- Verilog + JSON sidecar from an Amaranth component
- :mod:`ivita.sim.runner` -- cocotb runner wrapper for Icarus and Verilator (build cache)
- :mod:`ivita.sim.bench` -- the ``TB`` base class, stimulus files, :func:`run_bench`
- :mod:`ivita.sim.registry` -- unit name -> TB class (``ivita sim UNIT``)
- :mod:`ivita.sim.payload`, :mod:`ivita.sim.sidecar`, :mod:`ivita.sim.loop`,
  :mod:`ivita.sim.scoreboard` -- pure-Python codec, sidecar reader, stream agents, checker
- :mod:`ivita.sim.cocotb_bench`, :mod:`ivita.sim.amaranth_bench` -- the simulator backends
- ``ivita.sim.tb_<unit>`` -- one bench per unit (also its cocotb test module)
"""
