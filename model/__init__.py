"""ivita.model: the numpy integer reference model, the bit-exact specification.

Implements shared/NUMERICS.md; every other part of ivita (hardware, benches, firmware, flows)
is checked against these functions with ``==``. Imports numpy and the standard library only.
"""

from .config import (
    ArrayConfig, AttentionConfig, GeluConfig, LayerNormConfig, RequantConfig, SoftmaxConfig,
)
from .core import bit_length, isqrt, round_shift, saturate, signed_range, unsigned_range
from .layernorm import int_layernorm, layernorm_out_bits
from .nonlinear import recip_div, shift_exp, shift_gelu, shiftmax
from .requant import dequant_first_operand, dyadic, linear_acc, requantize, required_acc_bits

__all__ = [
    "saturate", "round_shift", "isqrt", "dyadic", "requantize", "linear_acc", "shift_exp",
    "recip_div", "shiftmax", "shift_gelu", "int_layernorm",
    "bit_length", "signed_range", "unsigned_range", "required_acc_bits", "dequant_first_operand",
    "layernorm_out_bits",
    "ArrayConfig", "RequantConfig", "SoftmaxConfig", "GeluConfig", "LayerNormConfig",
    "AttentionConfig",
]
