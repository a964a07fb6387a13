from archc.ops.base import Attr
from archc.ops.positions import PositionOp

SCALINGS = ("none", "linear", "dynamic", "yarn", "llama3")  # HF's rope_type names ("none": its "default")


class RoPE(PositionOp):
    """Rotary position tables (Su et al. 2021): cos and sin of t * theta^(-2i/head_dim), shape [T, head_dim].

    Computed once per model as buffers and fed to every ``attention`` node's ``rope`` port, which rotates
    queries and keys (the half-split layout of GPT-NeoX and HF LLaMA).

    ``scaling`` stretches the context as HF's ``rope_type`` does: ``linear`` divides every frequency by
    ``factor`` (Chen et al. 2023); ``llama3`` divides the low frequencies (wavelength above
    ``original_max_len / low_freq_factor``) by ``factor``, keeps the high ones (below ``original_max_len /
    high_freq_factor``) and interpolates between (Llama 3.1); ``yarn`` blends interpolated and original
    frequencies over the dims between ``beta_fast`` and ``beta_slow`` rotations and multiplies cos and sin by
    ``attention_factor`` (Peng et al. 2023); ``dynamic`` (NTK-aware) raises theta to
    ``theta * (factor * T / original_max_len - (factor - 1)) ** (d / (d - 2))`` when a call's length T
    exceeds ``original_max_len``, so its tables are computed per call.
    """

    name = "rope"
    out_dtype = "rope_tables"  # a (cos, sin) pair of float32 tables, which only attention's rope input takes
    attrs = {"head_dim": Attr(int, min=2, doc="rotated width per head, even"),
             "theta": Attr(float, 10000.0, min=1.0, doc="base wavelength (500000 in LLaMA-3)"),
             "max_len": Attr(int, 4096, min=1, doc="rows of the precomputed table"),
             "scaling": Attr(str, "none", choices=SCALINGS, doc="context-extension scheme (HF rope_type)"),
             "factor": Attr(float, 1.0, min=1.0, doc="scaling factor (linear, dynamic, yarn, llama3)"),
             "original_max_len": Attr(int, None, nullable=True, min=1,
                                      doc="context length before scaling (dynamic, yarn, llama3); default max_len, as "
                                          "HF defaults it to max_position_embeddings"),
             "low_freq_factor": Attr(float, 1.0, min=0.0, doc="llama3: low-frequency wavelength divisor"),
             "high_freq_factor": Attr(float, 4.0, min=0.0, doc="llama3: high-frequency wavelength divisor"),
             "beta_fast": Attr(float, 32.0, min=0.0, doc="yarn: rotations where extrapolation ends"),
             "beta_slow": Attr(float, 1.0, min=0.0, doc="yarn: rotations where interpolation starts"),
             "truncate": Attr(bool, True, doc="yarn: round the correction range to whole dims"),
             "attention_factor": Attr(float, None, nullable=True, min=0.0,
                                      doc="yarn: cos/sin multiplier; default 0.1 ln(factor) + 1"),
             }
    example = {"attrs": {"head_dim": 4, "max_len": 32}, "inputs": {"x": ["B", "T"]},
               "consumer": {"op": "attention", "port": "rope", "attrs": {"n_heads": 2}, "inputs": {"x": ["B", "T", 8]}}}

    def check(self, n):
        if n["head_dim"] % 2:
            n.fail("head_dim must be even (rotation pairs)", "head_dim")
        if n["scaling"] == "llama3" and not n["high_freq_factor"] > n["low_freq_factor"]:
            n.fail("high_freq_factor must be above low_freq_factor", "high_freq_factor")
        self.check_table(n, "head_dim")

    def infer(self, n):
        return [(self.check_len(n, "max_len"), n["head_dim"])]

    def flops(self, n, out):
        return (0.0, 0.0)
