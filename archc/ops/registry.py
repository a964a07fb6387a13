"""The op registry: one line per op. Importing it pulls in no torch, jinja2 or sympy."""

from __future__ import annotations

from archc.errors import did_you_mean
from archc.ops.add import Add
from archc.ops.attention import Attention
from archc.ops.base import Op
from archc.ops.concat import Concat
from archc.ops.dropout import Dropout
from archc.ops.embedding import Embedding
from archc.ops.gelu import GELU
from archc.ops.input import Input
from archc.ops.layernorm import LayerNorm
from archc.ops.learned_position import LearnedPosition
from archc.ops.linear import Linear
from archc.ops.mlp import MLP
from archc.ops.moe import MoE
from archc.ops.mul import Mul
from archc.ops.pad import Pad
from archc.ops.relu import ReLU
from archc.ops.reshape import Reshape
from archc.ops.rmsnorm import RMSNorm
from archc.ops.rope import RoPE
from archc.ops.routing_loss import LoadBalancingLoss, RouterZLoss
from archc.ops.scale import Scale
from archc.ops.sigmoid import Sigmoid
from archc.ops.silu import SiLU
from archc.ops.sinusoidal_position import SinusoidalPosition
from archc.ops.slice import Slice
from archc.ops.softmax import Softmax
from archc.ops.split import Split
from archc.ops.tanh import Tanh
from archc.ops.transpose import Transpose

# isort: split
# math and tensors (issue 7)
from archc.ops.argmax import Argmax
from archc.ops.constant import Constant
from archc.ops.conv2d import Conv2d
from archc.ops.div import Div
from archc.ops.einsum import Einsum
from archc.ops.exp import Exp
from archc.ops.gather import Gather
from archc.ops.index_select import IndexSelect
from archc.ops.l2_normalize import L2Normalize
from archc.ops.log import Log
from archc.ops.matmul import Matmul
from archc.ops.max import Max
from archc.ops.mean import Mean
from archc.ops.param import Param
from archc.ops.sqrt import Sqrt
from archc.ops.sub import Sub
from archc.ops.sum import Sum
from archc.ops.topk import TopK

OPS: dict[str, Op] = {op.name: op for op in (
    Input(),
    Embedding(),
    Linear(),
    LayerNorm(),
    RMSNorm(),
    GELU(),
    ReLU(),
    SiLU(),
    Tanh(),
    Sigmoid(),
    Softmax(),
    Dropout(),
    Add(),
    Mul(),
    Scale(),
    Reshape(),
    Transpose(),
    Concat(),
    Split(),
    Slice(),
    Pad(),
    LearnedPosition(),
    SinusoidalPosition(),
    RoPE(),
    Attention(),
    MLP(),
    # math and tensors (issue 7)
    Param(), Constant(),
    Sum(), Mean(), Max(), Argmax(),
    Exp(), Log(), Sqrt(), Sub(), Div(), L2Normalize(),
    Matmul(), Einsum(),
    Conv2d(),
    TopK(), Gather(), IndexSelect(),
    # routing (issue 7)
    MoE(),
    LoadBalancingLoss(),
    RouterZLoss(),
)}


def get_op(name: str) -> Op:
    return OPS[name]


def unknown_op_message(name: str) -> str:
    return f"unknown op '{name}'{did_you_mean(name, OPS)}"


def output_names(op: Op, attrs: dict) -> tuple[str, ...]:
    return op.output_names(attrs)
