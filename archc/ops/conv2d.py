from archc.ir.dims import fmt
from archc.ops.base import Attr, Op, Port


class Conv2d(Op):
    """A 2-D convolution over images in NCHW layout, ``[B, C, H, W]`` as HF's ``pixel_values``: ViT's patch
    embedding (``kernel_size`` = ``stride`` = the patch size).

    Square kernels, strides and zero padding (``nn.Conv2d``). C, H and W must be numbers. The output is
    ``[B, out_channels, H', W']`` with ``H' = (H + 2 padding - kernel_size) // stride + 1``; the feature axis
    is axis 1 here, so to reach the token convention (features last, ``[B, T, C]``) follow it with
    ``reshape: [B, out_channels, H'*W']`` and ``transpose: {dim0: 1, dim1: 2}``. ``exact: true`` refuses a
    kernel and stride that leave pixels out (an image size not a multiple of the patch).
    FLOPs per image (B is the only token axis): ``2 C kernel_size^2`` per output element.
    """

    name = "conv2d"
    inputs = (Port("x", takes="float32", doc="images [B, C, H, W]"),)
    attrs = {
        "out_channels": Attr(int, min=1, doc="output channels (the embedding width for patches)"),
        "kernel_size": Attr(int, min=1, doc="side of the square kernel (the patch size)"),
        "stride": Attr(int, 1, min=1, doc="step between kernel positions (the patch size for patches)"),
        "padding": Attr(int, 0, min=0, doc="zeros added on every side of H and W"),
        "bias": Attr(bool, True, doc="add a learned bias per output channel"),
        "exact": Attr(bool, False, doc="refuse a kernel and stride that do not tile the padded image exactly"),
    }
    example = {"attrs": {"out_channels": 6, "kernel_size": 2, "stride": 2, "exact": True},
               "inputs": {"x": ["B", 3, 8, 8]}}

    def infer(self, n):
        shape = tuple(n.need_rank(exactly=4, what=" (NCHW: [B, C, H, W])"))
        k, s, p = n["kernel_size"], n["stride"], n["padding"]
        out = []
        for axis, what in ((1, "channels C"), (2, "height H"), (3, "width W")):
            if not isinstance(shape[axis], int):
                n.fail(f"the {what} of input {fmt(shape)} must be a number, got '{shape[axis]}'")
        for axis, what in ((2, "height"), (3, "width")):
            size = n.fits_int64(shape[axis] + 2 * p, f"the padded {what}")
            if size < k:
                n.fail(f"kernel_size {k} is larger than the padded image {what} {size}", "kernel_size")
            if n["exact"] and (size - k) % s:
                n.fail(f"kernel_size {k} and stride {s} do not tile the image {what} {size} exactly "
                       f"({(size - k) % s} pixels left over); use a size that is {k} plus a multiple of {s}",
                       "kernel_size")
            out.append((size - k) // s + 1)
        return [(shape[0], n["out_channels"], *out)]

    def params(self, n):
        k = n["kernel_size"]
        p = {"weight": (n["out_channels"], n.shape()[1], k, k)}
        if n["bias"]:
            p["bias"] = (n["out_channels"],)
        return p

    def flops(self, n, out):
        _, c_out, h, w = out[0]
        return (2.0 * n.shape()[1] * n["kernel_size"] ** 2 * c_out * h * w, 0.0)
