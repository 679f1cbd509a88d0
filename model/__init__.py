"""ivita.model: the numpy integer reference model, the bit-exact specification.

Implements shared/NUMERICS.md; every other part of ivita (hardware, benches, firmware, flows)
is checked against these functions with ``==``. Imports numpy and the standard library only.

- integer path (exact, no floats): :mod:`.core`, :mod:`.requant`, :mod:`.nonlinear`,
  :mod:`.layernorm`, and :func:`attention_block`;
- offline side (floats allowed): :mod:`.quant` (scales, codes, folded constants),
  :func:`quantize_block`, the float reference block and :mod:`.accuracy`.
"""

from .accuracy import BlockAccuracy, ErrorStats, block_accuracy, error_stats
from .attention import (
    AttentionParams, BlockScales, FloatBlock, attention_block, attention_block_trace,
    float_attention_block, float_block_trace, float_layernorm, make_block_input,
    make_float_block, quantize_block,
)
from .block_config import BlockConfig
from .config import (
    ArrayConfig, AttentionConfig, GeluConfig, LayerNormConfig, RequantConfig, SoftmaxConfig,
)
from .core import bit_length, isqrt, round_shift, saturate, signed_range, unsigned_range
from .layernorm import int_layernorm, layernorm_out_bits
from .nonlinear import recip_div, shift_exp, shift_gelu, shiftmax
from .quant import (
    LayerNormFold, attention_score_multiplier, calibrate_asymmetric, calibrate_minmax,
    calibrate_mse,
    calibrate_percentile, dequant_first_constants, dequant_first_frac_bits, dequantize,
    fold_layernorm, fold_layernorm_into_linear, fold_zero_point, gelu_x0, layernorm_scale,
    quantize, quantize_asymmetric, quantize_bias, requant_multiplier, softmax_x0,
    symmetric_scale,
)
from .requant import (
    dequant_first_operand, dyadic, linear_acc, required_acc_bits, requantize, residual_add,
)

__all__ = [
    # NUMERICS.md §9 contract
    "saturate", "round_shift", "isqrt", "dyadic", "requantize", "linear_acc", "shift_exp",
    "recip_div", "shiftmax", "shift_gelu", "int_layernorm",
    # integer helpers
    "bit_length", "signed_range", "unsigned_range", "required_acc_bits", "dequant_first_operand",
    "layernorm_out_bits", "residual_add",
    # configs
    "ArrayConfig", "RequantConfig", "SoftmaxConfig", "GeluConfig", "LayerNormConfig",
    "AttentionConfig", "BlockConfig",
    # offline quantization
    "symmetric_scale", "quantize", "dequantize", "quantize_asymmetric", "calibrate_minmax",
    "calibrate_percentile", "calibrate_mse", "calibrate_asymmetric", "requant_multiplier",
    "softmax_x0",
    "gelu_x0", "quantize_bias", "fold_zero_point", "layernorm_scale", "LayerNormFold",
    "fold_layernorm", "fold_layernorm_into_linear", "attention_score_multiplier",
    "dequant_first_frac_bits", "dequant_first_constants",
    # attention block
    "FloatBlock", "make_float_block", "make_block_input", "float_layernorm",
    "float_attention_block", "float_block_trace", "BlockScales", "AttentionParams",
    "quantize_block", "attention_block", "attention_block_trace",
    # accuracy
    "ErrorStats", "error_stats", "BlockAccuracy", "block_accuracy",
]
