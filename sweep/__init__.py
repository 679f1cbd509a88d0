"""``ivita sweep``: the bit-width sweep (points, pluggable stages, SQLite results, executors,
plots and reports). See docs/sweep.md."""
