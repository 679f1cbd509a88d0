"""ivita.model: the numpy integer reference model, the bit-exact specification.

Implements docs/numerics.md; every other part of ivita (hardware, benches, firmware, flows)
is checked against these functions with ``==``. Imports numpy and the standard library only.

- integer path (exact, no floats): :mod:`.core`, :mod:`.requant`, :mod:`.nonlinear`,
  :mod:`.layernorm`, and :func:`attention_block`;
- offline side (floats allowed): :mod:`.quant` (scales, codes, folded constants),
  :func:`quantize_block`, the float reference block and :mod:`.accuracy`.
- whole ViT: float model (:mod:`.vit`), timm checkpoints (:mod:`.checkpoint`), the shipped
  digits data and tiny ViT (:mod:`.digits`), MLP/encoder blocks (:mod:`.mlp`), attention
  probabilities at low widths (:mod:`.probs`), the integer model (:mod:`.int_vit`), PTQ
  (:mod:`.ptq`) and top-1 accuracy (:mod:`.vit_accuracy`).
"""

from .accuracy import BlockAccuracy, ErrorStats, block_accuracy, error_stats
from .checkpoint import load_timm_vit, read_state_dict, vit_from_state_dict, write_safetensors
from .digits import DigitsSplit, load_digits_split, load_tiny_vit
from .int_vit import IntViT, ViTQuantConfig, build_int_vit, int_vit_logits, int_vit_trace, \
    quantize_images
from .mlp import MlpConfig, MlpParams, encoder_block, encoder_block_trace, mlp_block, \
    mlp_block_trace
from .probs import PROB_MODES, attention_probs, prob_value_matmul
from .ptq import PtqResult, quantize_vit, reparam_vit
from .vit import FloatMlp, FloatViT, float_mlp_trace, float_vit_logits, float_vit_trace, patchify
from .vit_accuracy import ViTAccuracy, vit_accuracy
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
    # docs/numerics.md §9 contract
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
    # MLP and encoder blocks, attention probabilities at low widths
    "MlpConfig", "MlpParams", "mlp_block", "mlp_block_trace", "encoder_block",
    "encoder_block_trace", "PROB_MODES", "attention_probs", "prob_value_matmul",
    # whole ViT: float model, checkpoints, data, integer model, PTQ, accuracy
    "FloatMlp", "FloatViT", "patchify", "float_mlp_trace", "float_vit_trace", "float_vit_logits",
    "read_state_dict", "write_safetensors", "vit_from_state_dict", "load_timm_vit",
    "DigitsSplit", "load_digits_split", "load_tiny_vit",
    "ViTQuantConfig", "IntViT", "build_int_vit", "quantize_images", "int_vit_trace",
    "int_vit_logits", "PtqResult", "quantize_vit", "reparam_vit", "ViTAccuracy", "vit_accuracy",
]
