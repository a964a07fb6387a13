"""The lint rule registry: one line per rule, code -> rule class. Importing it runs no rule.

Codes are a principle's prefix (``archc.lint.framework.PRINCIPLES``: GF gradient flow, AL alignment, CT
control, EF efficiency, MF manifold, HR hierarchy, SY systems) and a number; a code is never reused for
another rule.
"""

from __future__ import annotations

from archc.lint.framework import Rule
from archc.lint.rules.attention_reads_raw_stream import AttentionReadsRawStream
from archc.lint.rules.attention_scale_too_large import AttentionScaleTooLarge
from archc.lint.rules.attention_width_mismatch import AttentionWidthMismatch
from archc.lint.rules.bottleneck_without_bypass import BottleneckWithoutBypass
from archc.lint.rules.broadcast_residual_add import BroadcastResidualAdd
from archc.lint.rules.causal_cross_attention import CausalCrossAttention
from archc.lint.rules.collapsible_linear_pair import CollapsibleLinearPair
from archc.lint.rules.dense_fan_in import DenseFanIn
from archc.lint.rules.double_activation import DoubleActivation
from archc.lint.rules.double_norm import DoubleNorm
from archc.lint.rules.dropout_as_keep_probability import DropoutAsKeepProbability
from archc.lint.rules.dropout_on_output import DropoutOnOutput
from archc.lint.rules.head_dim_unfused import HeadDimUnfused
from archc.lint.rules.init_gain_too_large import InitGainTooLarge
from archc.lint.rules.missing_final_norm import MissingFinalNorm
from archc.lint.rules.order_blind_attention import OrderBlindAttention
from archc.lint.rules.position_table_too_short import PositionTableTooShort
from archc.lint.rules.post_norm_deep_stack import PostNormDeepStack
from archc.lint.rules.relu_on_bottleneck import ReluOnBottleneck
from archc.lint.rules.softmax_as_gate import SoftmaxAsGate
from archc.lint.rules.softmax_output_as_logits import SoftmaxOutputAsLogits
from archc.lint.rules.softmax_wrong_axis import SoftmaxWrongAxis
from archc.lint.rules.tensor_parallel_indivisible import TensorParallelIndivisible
from archc.lint.rules.unbypassed_deep_chain import UnbypassedDeepChain
from archc.lint.rules.unprojected_width_change import UnprojectedWidthChange
from archc.lint.rules.unreachable_parameters import UnreachableParameters
from archc.lint.rules.unrolled_repeat import UnrolledRepeat
from archc.lint.rules.unused_suppression import UnusedSuppression
from archc.lint.rules.vocab_not_padded import VocabNotPadded
from archc.lint.rules.width_not_tile_multiple import WidthNotTileMultiple
from archc.lint.rules.zero_init_dead_pair import ZeroInitDeadPair

RULES: dict[str, type[Rule]] = {
    "GF001": PostNormDeepStack,
    "GF002": MissingFinalNorm,
    "GF003": UnbypassedDeepChain,
    "GF004": ZeroInitDeadPair,
    "GF005": InitGainTooLarge,
    "GF006": UnreachableParameters,
    "AL001": BroadcastResidualAdd,
    "AL002": UnprojectedWidthChange,
    "AL003": AttentionWidthMismatch,
    "AL004": SoftmaxOutputAsLogits,
    "AL005": SoftmaxWrongAxis,
    "AL006": SoftmaxAsGate,
    "AL007": OrderBlindAttention,
    "AL008": PositionTableTooShort,
    "AL009": BottleneckWithoutBypass,
    "AL010": ReluOnBottleneck,
    "AL011": CausalCrossAttention,
    "CT001": DropoutAsKeepProbability,
    "CT002": AttentionScaleTooLarge,
    "CT003": AttentionReadsRawStream,
    "CT004": DropoutOnOutput,
    "EF001": CollapsibleLinearPair,
    "EF002": DoubleActivation,
    "EF003": DoubleNorm,
    "HR001": DenseFanIn,
    "HR002": UnrolledRepeat,
    "SY001": HeadDimUnfused,
    "SY002": WidthNotTileMultiple,
    "SY003": VocabNotPadded,
    "SY004": TensorParallelIndivisible,
    "LN001": UnusedSuppression,  # keep last: the runner runs it after the others
}
