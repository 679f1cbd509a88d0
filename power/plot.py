"""PNG heat map of the per-PE power estimate over the PE grid (matplotlib, Agg back end)."""

from __future__ import annotations

from pathlib import Path

from .estimate import PowerReport

__all__ = ["heatmap_png"]


def heatmap_png(report: PowerReport, path: str | Path) -> Path:
    """Write the heat map of ``report.per_pe_mw`` (row ``r`` top to bottom, column ``c`` left to
    right, each cell labelled with its mW) to ``path``; the title says "estimate" and names the
    model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = report.per_pe_mw
    rows, cols = grid.shape
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 + 0.7 * cols), max(3.6, 1.6 + 0.6 * rows)),
                           dpi=110)
    try:
        im = ax.imshow(grid, cmap="inferno", origin="upper")
        fig.colorbar(im, ax=ax, label="mW (estimate)")
        if rows * cols <= 256:
            lo, hi = float(grid.min()), float(grid.max())
            for r in range(rows):
                for c in range(cols):
                    v = float(grid[r, c])
                    bright = (v - lo) / (hi - lo) > 0.5 if hi > lo else False
                    ax.text(c, r, f"{v:.3f}", ha="center", va="center", fontsize=6,
                            color="black" if bright else "white")
        ax.set_xticks(range(cols))
        ax.set_yticks(range(rows))
        ax.set_xlabel("column c")
        ax.set_ylabel("row r")
        kind = "dequant-first 16-bit" if report.baseline else \
            f"{report.a_bits}x{report.w_bits}-bit"
        ax.set_title(f"Per-PE power ESTIMATE, {rows}x{cols} {kind}\n"
                     f"{report.freq_hz / 1e6:g} MHz, {report.data} data\n"
                     f"model: {report.model}", fontsize=7)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out
