"""Post-training quantization of a whole ViT (offline; calibration data only).

Two methods produce the scales :func:`ivita.model.build_int_vit` needs:

``"minmax"``
    every activation symmetric, ``max|x|`` over the calibration set; weights symmetric per
    output channel, ``max|w|``. The baseline.
``"ptq"`` (after Q-HyViT, within what the integer hardware executes)
    * channel equalization (:func:`reparam_vit`): at each LayerNorm -> Linear and V -> Wo
      site, the strength in :data:`REPARAM_ALPHAS` with the lowest task loss;
    * weights: per output channel, the clipping ratio ``r`` in :data:`GRID` that minimizes the
      Hessian-diagonal weighted error ``sum_i E[x_i^2] (w_ji - Q(w_ji))^2`` (the diagonal of
      the layer-output Hessian ``E[x x^T]``; ``x`` is the layer's float calibration input),
      then, whichever lowers the task loss: nearest or GPTQ rounding (:func:`gptq_codes`,
      error feedback through ``E[x x^T]^-1``), with or without the bias corrected for the
      mean weight error ``(S_w W_q - W) E[x]``; then, at ``w_bits <= 4`` (``rounding``),
      sequential up/down rounding (:mod:`ivita.model.rounding`): layer by layer, each code
      rounded down or up to minimize the layer's output error on the inputs the integer
      model computes with the layers before it already quantized;
    * activations: greedily in dataflow order, for each quantizer, each candidate scheme
      (symmetric; asymmetric only at Linear inputs, where the zero point folds into the bias,
      and only when it stays inside the code range) and each clipping ratio in :data:`GRID`
      is tried **in the whole integer model** (all earlier quantizers already fixed, later
      ones at their min/max start), and the one with the smallest task-loss proxy is kept: the
      KL divergence of the integer model's class probabilities from the float model's on the
      calibration images. Because the loss is measured at the logits, each choice accounts for
      every block after it (calibration across block boundaries).

The 16-bit residual stream and the logits always use min/max with a ``RESID_HEADROOM``
margin (they have bits to spare; saturating them is worse than a coarser step).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .int_vit import ActScale, IntViT, ViTQuantConfig, build_int_vit, int_vit_logits, \
    int_vit_tail, int_vit_trace, quantize_images
from .rounding import sequential_rounding
from .quant import _asym_params, calibrate_asymmetric, calibrate_mse, symmetric_scale
from .vit import FloatViT, float_vit_trace

__all__ = ["GRID", "RESID_HEADROOM", "PTQ_METHODS", "activation_names", "linear_inputs",
           "activation_stats", "minmax_scales", "hessian_weight_scale", "minmax_weight_scale",
           "logit_kl", "quantize_vit", "PtqResult", "ROUNDINGS",
           "SEQUENTIAL_ROUNDING_MAX_BITS"]

GRID = (1.0, 0.85, 0.7, 0.55, 0.4)   #: clipping ratios searched
RESID_HEADROOM = 1.25                              #: margin of the 16-bit residual scales
PTQ_METHODS = ("minmax", "ptq")
ROUNDINGS = ("auto", "sequential", "base")   #: weight-rounding choices of the PTQ search
SEQUENTIAL_ROUNDING_MAX_BITS = 4   #: ``rounding="auto"`` refines the weights up to this width


def activation_names(depth: int) -> list[str]:
    """Every activation quantizer of a ``depth``-block model, in dataflow order."""
    names = ["in", "embed"]
    for i in range(depth):
        names += [f"b{i}.attn.{k}" for k in ("h", "q", "k", "v", "scores", "o", "y", "out")]
        names += [f"b{i}.mlp.{k}" for k in ("h", "f", "u", "y", "out")]
    return names + ["norm", "logits"]


def linear_inputs(depth: int) -> set[str]:
    """Quantizers whose zero point can fold into a Linear bias (may be asymmetric)."""
    return {"in", "norm"} | {f"b{i}.{k}" for i in range(depth)
                             for k in ("attn.h", "mlp.h", "mlp.u")}


def _resid(name: str) -> bool:
    return name in ("embed", "logits") or name.endswith((".y", ".out"))


def _bits(name: str, cfg: ViTQuantConfig) -> int:
    if _resid(name):
        return cfg.logit_bits if name == "logits" else cfg.resid_bits
    if name.endswith(".scores"):
        return cfg.attn_bits
    if name.endswith(".f"):
        return cfg.gelu_bits
    return cfg.a_bits


def activation_stats(vit: FloatViT, images: Any) -> dict[str, np.ndarray]:
    """Float calibration values of every quantizer (LayerNorm outputs sign-folded by gamma,
    as the integer LayerNorm produces them)."""
    tr = float_vit_trace(images, vit)
    out: dict[str, np.ndarray] = {"in": np.asarray(images, dtype=np.float64),
                                  "embed": tr["embed"]}
    for i, (a, m) in enumerate(zip(vit.attn, vit.mlp)):
        for k in ("q", "k", "v", "scores", "o", "y", "out"):
            out[f"b{i}.attn.{k}"] = tr[f"b{i}.attn.{k}"]
        out[f"b{i}.attn.h"] = tr[f"b{i}.attn.h"] * np.where(a.gamma < 0, -1.0, 1.0)
        out[f"b{i}.mlp.h"] = tr[f"b{i}.mlp.h"] * np.where(m.gamma < 0, -1.0, 1.0)
        out[f"b{i}.mlp.f"] = tr[f"b{i}.mlp.f"]
        out[f"b{i}.mlp.u"] = tr[f"b{i}.mlp.g"]
        out[f"b{i}.mlp.y"] = tr[f"b{i}.mlp.y"]
        out[f"b{i}.mlp.out"] = tr[f"b{i}.mlp.out"]
    out["norm"] = tr["norm"] * np.where(vit.norm_gamma < 0, -1.0, 1.0)
    out["logits"] = tr["logits"]
    return out


def _sym(x: np.ndarray, bits: int, ratio: float = 1.0) -> ActScale:
    amax = float(np.max(np.abs(x))) * ratio
    return float(symmetric_scale(amax if amax > 0 else 1.0, bits)), 0


def _asym(x: np.ndarray, bits: int, ratio: float) -> ActScale | None:
    got = _asym_params(float(np.min(x)) * ratio, float(np.max(x)) * ratio, bits)
    return None if got is None else (float(got[0]), int(got[1]))


def minmax_scales(stats: dict[str, np.ndarray], cfg: ViTQuantConfig) -> dict[str, ActScale]:
    """Symmetric min/max scales of every quantizer (residual ones with the headroom)."""
    return {k: _sym(v, _bits(k, cfg), RESID_HEADROOM if _resid(k) else 1.0)
            for k, v in stats.items()}


def mse_scales(stats: dict[str, np.ndarray], cfg: ViTQuantConfig, asym_ok: set[str]
               ) -> dict[str, ActScale]:
    """Start of the search: per quantizer, the least-squares clipping of
    :func:`ivita.model.calibrate_mse` (symmetric) or, at Linear inputs in ``asym_ok``,
    :func:`ivita.model.calibrate_asymmetric` with ``mse=True`` if its error is lower."""
    out = minmax_scales(stats, cfg)
    for k, x in stats.items():
        if _resid(k):
            continue
        bits = _bits(k, cfg)
        flat = x.reshape(-1)
        s = float(calibrate_mse(flat, bits))
        best, err = (s, 0), _qerr(flat, s, 0, bits)
        if k in asym_ok:
            sa, za = calibrate_asymmetric(flat, bits, mse=True)
            ea = _qerr(flat, float(sa), int(za), bits)
            if ea < err:
                best = (float(sa), int(za))
        out[k] = best
    return out


def _qerr(x: np.ndarray, s: float, z: int, bits: int) -> float:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return float(np.sum(((np.clip(np.rint(x / s) + z, lo, hi) - z) * s - x) ** 2))


def minmax_weight_scale(bits: int) -> Callable[[np.ndarray], np.ndarray]:
    """Per-channel ``max|w| / (2^(bits-1) - 1)`` (all-zero rows get scale 1)."""
    def f(w: np.ndarray) -> np.ndarray:
        amax = np.max(np.abs(w), axis=1)
        return np.where(amax > 0, amax, 1.0) / ((1 << (bits - 1)) - 1)
    return f


GPTQ_DAMP = 0.01   #: GPTQ dampening, a fraction of the mean Hessian diagonal


def gptq_codes(w: np.ndarray, scales: np.ndarray, bits: int, hessian: np.ndarray
               ) -> np.ndarray:
    """GPTQ rounding (Frantar et al., arXiv 2210.17323) of ``w`` ``(out, in)`` to ``bits``-wide
    per-row codes with fixed ``scales``: columns are quantized in order and each rounding error
    is spread over the columns not yet quantized, through the inverse of the layer Hessian
    ``H = E[x x^T]`` (dampened by ``GPTQ_DAMP``), which minimizes ``E||(W - S Q) x||^2``
    column by column."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    W = np.array(w, dtype=np.float64)
    H = np.array(hessian, dtype=np.float64)
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H += GPTQ_DAMP * float(np.mean(np.diag(H))) * np.eye(H.shape[0])
    U = np.linalg.cholesky(np.linalg.inv(H)).T        # upper: H^-1 = U^T U
    s = np.asarray(scales, dtype=np.float64)
    Q = np.zeros(W.shape, dtype=np.int64)
    for i in range(W.shape[1]):
        q = np.clip(np.rint(W[:, i] / s), lo, hi)
        Q[:, i] = q.astype(np.int64)
        err = (W[:, i] - q * s) / U[i, i]
        W[:, i + 1:] -= err[:, None] * U[i, i + 1:][None, :]
    return Q


class _WeightQuant:
    """A per-channel weight-scale rule, optionally with GPTQ rounding (``hessian``) and the
    mean layer input for bias correction (``x_mean``)."""

    def __init__(self, f: Callable[[np.ndarray], np.ndarray], x_mean: np.ndarray | None,
                 bits: int, hessian: np.ndarray | None = None):
        self.f, self.x_mean, self.bits, self.hessian = f, x_mean, bits, hessian
        if hessian is None:
            self.codes = None

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return self.f(w)

    def codes(self, w: np.ndarray, scales: np.ndarray) -> np.ndarray:  # type: ignore[misc]
        assert self.hessian is not None
        return gptq_codes(w, scales, self.bits, self.hessian)


def hessian_weight_scale(bits: int, h_diag: np.ndarray, grid: tuple[float, ...] = GRID,
                         x_mean: np.ndarray | None = None, hessian: np.ndarray | None = None
                         ) -> Callable[[np.ndarray], np.ndarray]:
    """Per-channel scale minimizing ``sum_i h_i (w_ji - Q(w_ji))^2`` over clipping ``grid``.

    With ``x_mean`` (the mean float input ``E[x]``), :func:`ivita.model.build_int_vit` also
    corrects the bias for the mean quantization error of the weights.
    """
    qmax = (1 << (bits - 1)) - 1
    h = np.asarray(h_diag, dtype=np.float64)

    def f(w: np.ndarray) -> np.ndarray:
        amax = np.max(np.abs(w), axis=1)
        amax = np.where(amax > 0, amax, 1.0)
        best, best_err = amax / qmax, np.full(w.shape[0], np.inf)
        for r in grid:
            s = amax * r / qmax
            q = np.clip(np.rint(w / s[:, None]), -qmax - 1, qmax) * s[:, None]
            err = ((q - w) ** 2 * h[None, :]).sum(axis=1)
            better = err < best_err
            best, best_err = np.where(better, s, best), np.where(better, err, best_err)
        return best
    return _WeightQuant(f, x_mean, bits, hessian)


def _weight_inputs(vit: FloatViT, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The float input ``(samples, in)`` of every Linear layer."""
    def flat(x: np.ndarray) -> np.ndarray:
        return x.reshape(-1, x.shape[-1])
    from .vit import patchify
    out = {"embed": flat(patchify(stats["in"], vit.patch)), "head": flat(stats["norm"])}
    for i in range(vit.depth):
        h = flat(stats[f"b{i}.attn.h"])
        out.update({f"b{i}.attn.{t}": h for t in ("q", "k", "v")})
        out[f"b{i}.attn.o"] = flat(stats[f"b{i}.attn.o"])
        out[f"b{i}.mlp.fc1"] = flat(stats[f"b{i}.mlp.h"])
        out[f"b{i}.mlp.fc2"] = flat(stats[f"b{i}.mlp.u"])
    return out


REPARAM_ALPHAS = (0.0, 0.5, 1.0)   #: channel-equalization strengths searched per site


def reparam_sites(depth: int) -> list[str]:
    """Where per-channel ranges can be equalized exactly in float (see :func:`reparam_vit`)."""
    out = []
    for i in range(depth):
        out += [f"b{i}.attn.ln", f"b{i}.attn.vo", f"b{i}.mlp.ln"]
    return out + ["head.ln"]


def _equalizer(x: np.ndarray, alpha: float) -> np.ndarray:
    m = np.max(np.abs(x.reshape(-1, x.shape[-1])), axis=0)
    m = np.where(m > 0, m, float(np.max(m)) if float(np.max(m)) > 0 else 1.0)
    k = (m / float(np.max(m))) ** alpha
    return k / math.exp(float(np.mean(np.log(k))))


def reparam_vit(vit: FloatViT, stats: dict[str, np.ndarray], alphas: dict[str, float]
                ) -> FloatViT:
    """Per-channel range equalization that leaves the float function unchanged (RepQ-ViT /
    SmoothQuant style), so that per-tensor activation codes fit every channel.

    For a site with strength ``alpha`` and calibration ranges ``m_c = max|x_c|``, channel ``c``
    is divided by ``k_c ~ m_c^alpha`` and the next Linear's input column multiplied by it:
    ``<site>.ln`` / ``norm``: LayerNorm ``gamma, beta`` divided, the next weights' columns
    (Wq/Wk/Wv, W1, head) multiplied; ``b{i}.attn.vo``: rows of Wv and ``bv`` divided, columns
    of Wo multiplied (``P @ V`` mixes tokens, not channels, so this is exact too). The integer
    hardware is unchanged: the LayerNorm requantizer and Wv's requantizer are per channel.
    """
    from dataclasses import replace
    attn, mlp = list(vit.attn), list(vit.mlp)
    for i in range(vit.depth):
        a, m = attn[i], mlp[i]
        al = alphas.get(f"b{i}.attn.ln", 0.0)
        if al:
            k = _equalizer(stats[f"b{i}.attn.h"], al)
            a = replace(a, gamma=a.gamma / k, beta=a.beta / k, wq=a.wq * k, wk=a.wk * k,
                        wv=a.wv * k)
        al = alphas.get(f"b{i}.attn.vo", 0.0)
        if al:
            k = _equalizer(stats[f"b{i}.attn.o"], al)
            a = replace(a, wv=a.wv / k[:, None], bv=a.bv / k, wo=a.wo * k)
        al = alphas.get(f"b{i}.mlp.ln", 0.0)
        if al:
            k = _equalizer(stats[f"b{i}.mlp.h"], al)
            m = replace(m, gamma=m.gamma / k, beta=m.beta / k, w1=m.w1 * k)
        attn[i], mlp[i] = a, m
    out = replace(vit, attn=tuple(attn), mlp=tuple(mlp))
    al = alphas.get("head.ln", 0.0)
    if al:
        k = _equalizer(stats["norm"], al)
        out = replace(out, norm_gamma=vit.norm_gamma / k, norm_beta=vit.norm_beta / k,
                      head_w=vit.head_w * k)
    return out


def logit_kl(int_logits: np.ndarray, logit_scale: float, ref_logits: np.ndarray) -> float:
    """Mean ``KL(softmax(ref) || softmax(int * scale))`` over the batch (offline, floats)."""
    a = np.asarray(int_logits, dtype=np.float64) * logit_scale
    a = a - a.max(-1, keepdims=True)
    r = ref_logits - ref_logits.max(-1, keepdims=True)
    la = a - np.log(np.exp(a).sum(-1, keepdims=True))
    lr = r - np.log(np.exp(r).sum(-1, keepdims=True))
    return float(np.mean(np.sum(np.exp(lr) * (lr - la), axis=-1)))


@dataclass(frozen=True, eq=False)
class PtqResult:
    """A quantized model, its method, the calibration KL it reached and the choices made."""

    model: IntViT
    method: str
    calib_kl: float
    choices: dict[str, str]


def quantize_vit(vit: FloatViT, calib_images: Any, config: ViTQuantConfig,
                 method: str = "ptq", grid: tuple[float, ...] = GRID, passes: int = 1,
                 rounding: str = "auto") -> PtqResult:
    """Calibrate ``vit`` on ``calib_images`` (the calibration split only) with ``method``.

    ``rounding`` (``"ptq"`` only; :data:`ROUNDINGS`): ``"auto"`` applies the sequential
    up/down weight rounding (:func:`ivita.model.rounding.sequential_rounding`) before the
    activation search when ``w_bits <= SEQUENTIAL_ROUNDING_MAX_BITS``, ``"sequential"`` at
    every width, ``"base"`` never (docs/accuracy.md has the measurements behind this).
    Deterministic. ``choices`` records, per searched quantizer, ``"sym r=0.8"`` or
    ``"asym r=1.0"``, and ``sequential_rounding`` ``"yes"`` when it was applied.
    """
    if method not in PTQ_METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(PTQ_METHODS)}")
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding={rounding!r} is not one of {', '.join(ROUNDINGS)}")
    x = np.asarray(calib_images, dtype=np.float64)
    stats = activation_stats(vit, x)
    ref = stats["logits"]
    act = minmax_scales(stats, config)
    if method == "minmax":
        ws = minmax_weight_scale(config.w_bits)
        ivit = build_int_vit(vit, config, act, lambda _name: ws)
        kl = logit_kl(int_vit_logits(quantize_images(x, ivit), ivit), ivit.logit_scale, ref)
        return PtqResult(model=ivit, method=method, calib_kl=kl, choices={})
    src = vit

    def setup(alphas: dict[str, float], bias_corr: bool = False, gptq: bool = False
              ) -> tuple[FloatViT, dict[str, np.ndarray], Any]:
        v2 = reparam_vit(src, base_stats, alphas)
        st = activation_stats(v2, x)
        h = _weight_inputs(v2, st)
        wf = {k: hessian_weight_scale(config.w_bits, np.mean(xv ** 2, axis=0), grid,
                                      np.mean(xv, axis=0) if bias_corr else None,
                                      xv.T @ xv / len(xv) if gptq else None)
              for k, xv in h.items()}
        return v2, st, lambda name: wf[name]

    def loss(a: dict[str, ActScale], start: tuple[int, np.ndarray] | None = None) -> float:
        try:
            iv = build_int_vit(vit, config, a, wscale)
        except ValueError:      # e.g. a bias that no longer fits 32 bits: not a candidate
            return math.inf
        if start is None:
            logits = int_vit_logits(quantize_images(x, iv), iv)
        else:                   # blocks before start[0] are unchanged: reuse their output
            logits = int_vit_tail(start[1], iv, start[0])
        return logit_kl(logits, iv.logit_scale, ref)

    def prefix(a: dict[str, ActScale], name: str) -> tuple[int, np.ndarray] | None:
        """The cached residual stream entering the first block ``name`` can change."""
        if name == "in":
            return None
        block = src.depth if name == "norm" else int(name.split(".")[0][1:])
        iv = build_int_vit(vit, config, a, wscale)
        tr = int_vit_trace(quantize_images(x, iv), iv)
        return block, tr["embed"] if block == 0 else tr[f"b{block - 1}.mlp.out"]

    choices: dict[str, str] = {}
    base_stats = stats
    alphas: dict[str, float] = {}
    asym_ok = linear_inputs(src.depth)
    flags = (False, False)

    def choose_weight_rounding(a: dict[str, ActScale]) -> None:
        """Nearest or GPTQ rounding, with or without bias correction: the lowest loss."""
        nonlocal vit, stats, wscale, best_loss, flags
        best_loss, flags = math.inf, (False, False)
        for trial_flags in ((False, False), (False, True), (True, False), (True, True)):
            vit, stats, wscale = setup(alphas, *trial_flags)
            lv = loss(a if a else mse_scales(stats, config, asym_ok))
            if lv < best_loss:
                best_loss, flags = lv, trial_flags
        vit, stats, wscale = setup(alphas, *flags)

    vit, stats, wscale = setup(alphas)
    best_loss = loss(mse_scales(stats, config, asym_ok))
    for site in reparam_sites(src.depth):
        best_alpha = 0.0
        for al in REPARAM_ALPHAS[1:]:
            trial = {**alphas, site: al}
            v2, st, ws2 = setup(trial, *flags)
            vit, wscale = v2, ws2
            lv = loss(mse_scales(st, config, asym_ok))
            if lv < best_loss:
                best_loss, best_alpha = lv, al
        alphas[site] = best_alpha
        choices[site] = f"equalize alpha={best_alpha}"
        vit, stats, wscale = setup(alphas, *flags)
    act = mse_scales(stats, config, asym_ok)
    choose_weight_rounding(act)      # again, after the equalization changed the weights
    choices["bias_correction"] = "yes" if flags[0] else "no"
    choices["weight_rounding"] = "gptq" if flags[1] else "nearest"
    if rounding == "sequential" or (rounding == "auto"
                                    and config.w_bits <= SEQUENTIAL_ROUNDING_MAX_BITS):
        wscale = sequential_rounding(vit, config, act, wscale, x, _weight_inputs(vit, stats))
        best_loss = loss(act)
        choices["sequential_rounding"] = "yes"
    for name in activation_names(vit.depth):
        if not _resid(name):
            choices[name] = "mse " + ("asym" if act[name][1] else "sym")
    for _ in range(passes):
        for name in activation_names(vit.depth):
            if _resid(name) or name.endswith((".scores", ".f")):
                continue      # 16-bit stream / 8-bit unit inputs: min/max and MSE suffice
            bits = _bits(name, config)
            cands: list[tuple[str, ActScale]] = []
            for r in grid:
                cands.append((f"sym r={r}", _sym(stats[name], bits, r)))
                if name in asym_ok:
                    a = _asym(stats[name], bits, r)
                    if a is not None:
                        cands.append((f"asym r={r}", a))
            start = prefix(act, name)
            for label, sc in cands:
                trial = dict(act)
                trial[name] = sc
                lv = loss(trial, start)
                if lv < best_loss:
                    best_loss, act, choices[name] = lv, trial, label
    best_loss = loss(act)
    ivit = build_int_vit(vit, config, act, wscale)
    return PtqResult(model=ivit, method=method, calib_kl=best_loss, choices=choices)
