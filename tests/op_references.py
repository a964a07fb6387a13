"""Independent PyTorch references for every op, written from the papers' equations, not from templates/.

Each reference takes (inputs by port, parameters by name, attrs) and returns the output tensor(s).
"""

from __future__ import annotations

import math

import torch


def _x(inputs):
    return inputs["x"]


def layernorm(inp, p, a):
    x = _x(inp)
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + a["eps"])
    if a["affine"]:
        y = y * p["weight"] + (p["bias"] if a["bias"] else 0)
    return y


def rmsnorm(inp, p, a):
    x = _x(inp)
    y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + a["eps"])
    return y * p["weight"] if a["affine"] else y


def gelu(inp, p, a):
    x = _x(inp)
    if a["approximate"] == "tanh":  # Hendrycks and Gimpel 2016, eq. for the tanh approximation
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def sinusoid_table(T, dim, base):
    table = torch.zeros(T, dim)
    for t in range(T):
        for i in range(0, dim, 2):
            angle = t / base ** (i / dim)
            table[t, i] = math.sin(angle)
            table[t, i + 1] = math.cos(angle)
    return table


def rope_tables(T, hd, theta):
    inv = [theta ** (-(2 * i) / hd) for i in range(hd // 2)]
    angles = torch.tensor([[t * f for f in inv] for t in range(T)], dtype=torch.float64)
    angles = torch.cat([angles, angles], -1)
    return angles.cos().float(), angles.sin().float()


def rotate(x, cos, sin):
    """Pairs (i, i + D/2) rotated by angle_i (RoFormer eq. 34 in the half-split layout of GPT-NeoX)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c1, s1 = cos[..., :half], sin[..., :half]
    return torch.cat([x1 * c1 - x2 * s1, x2 * c1 + x1 * s1], -1)


def attention(inp, p, a):
    x = inp["x"]
    B, T, d = x.shape
    h = a["n_heads"]
    kv = a["n_kv_heads"] or h
    hd = a["head_dim"] or d // h
    if "qkv.weight" in p:
        w, b = p["qkv.weight"], p.get("qkv.bias")
        qkv = x @ w.T + (b if b is not None else 0)
        q, k, v = qkv[..., : h * hd], qkv[..., h * hd: (h + kv) * hd], qkv[..., (h + kv) * hd:]
    else:
        q, k, v = (x @ p[f"{n}.weight"].T + p.get(f"{n}.bias", 0) for n in ("q_proj", "k_proj", "v_proj"))
    q = q.reshape(B, T, h, hd).permute(0, 2, 1, 3)
    k = k.reshape(B, T, kv, hd).permute(0, 2, 1, 3).repeat_interleave(h // kv, dim=1)
    v = v.reshape(B, T, kv, hd).permute(0, 2, 1, 3).repeat_interleave(h // kv, dim=1)
    if "rope" in inp:
        cos, sin = inp["rope"]
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
    scale = a["scale"] if a["scale"] is not None else 1 / math.sqrt(hd)
    logits = (q @ k.transpose(-1, -2)) * scale
    if a["causal"]:
        logits = logits.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    y = (logits.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, h * hd)
    return y @ p["o_proj.weight"].T + p.get("o_proj.bias", 0)


def mlp(inp, p, a):
    x = _x(inp)
    acts = {"gelu": lambda t: gelu({"x": t}, {}, {"approximate": "none"}), "silu": lambda t: t * torch.sigmoid(t),
            "relu": lambda t: t.clamp_min(0), "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "gelu_tanh": lambda t: gelu({"x": t}, {}, {"approximate": "tanh"})}
    act = acts[a["activation"]]

    def lin(name, t):
        return t @ p[f"{name}.weight"].T + p.get(f"{name}.bias", 0)

    hidden = act(lin("gate", x)) * lin("up", x) if a["gated"] else act(lin("up", x))
    return lin("down", hidden)


def _sum(xs):
    out = xs[0]
    for t in xs[1:]:
        out = out + t
    return out


def _prod(xs):
    out = xs[0]
    for t in xs[1:]:
        out = out * t
    return out


def moe(inp, p, a):
    """Each token on its own: softmax over the router's logits, the top-k experts, weights renormalised (Mixtral),
    sum of weight * down_e(act(gate_e(x)) * up_e(x)); capacity: an expert takes its first ceil(c*N*k/E)
    assignments in token order."""
    x = _x(inp)
    flat = x.reshape(-1, x.shape[-1])
    logits = flat @ p["router.weight"].T
    e, k, f = a["num_experts"], a["top_k"], a["d_ff"]
    act = {"silu": lambda t: t * torch.sigmoid(t), "relu": lambda t: t.clamp_min(0)}[a["activation"]]
    capacity = math.ceil(a["capacity_factor"] * flat.shape[0] * k / e) if a["capacity_factor"] else None
    taken = [0] * e
    rows = []
    for n in range(flat.shape[0]):
        probs = torch.softmax(logits[n], -1)
        top = torch.topk(probs, k)
        weights = top.values / top.values.sum() if a["norm_topk_prob"] else top.values
        y = torch.zeros_like(flat[n])
        for w, j in zip(weights, top.indices.tolist(), strict=True):
            taken[j] += 1
            if capacity is not None and taken[j] > capacity:
                continue
            gate, up = p["gate_up"][j][:f] @ flat[n], p["gate_up"][j][f:] @ flat[n]
            y = y + w * (p["down"][j] @ (act(gate) * up))
        rows.append(y)
    return torch.stack(rows).reshape(x.shape), logits.reshape(*x.shape[:-1], e)


def load_balancing_loss(inp, p, a):
    """Switch eq. 4-6 as transformers pools it: E * sum_e f_e P_e over all layers' rows at once."""
    e = a["num_experts"]
    logits = torch.cat([t.reshape(-1, e) for t in inp["x"]])
    probs = torch.softmax(logits, -1)
    chosen = torch.topk(probs, a["top_k"], -1).indices
    f = torch.stack([(chosen == j).any(-1).double().mean() for j in range(e)]).to(probs.dtype)
    return e * (f * probs.mean(0)).sum()


def router_z_loss(inp, p, a):
    logits = torch.cat([t.reshape(-1, t.shape[-1]) for t in inp["x"]])
    return (torch.log(torch.exp(logits).sum(-1)) ** 2).mean()


REFERENCES = {
    "embedding": lambda i, p, a: p["weight"][i["x"]],
    "linear": lambda i, p, a: i["x"] @ p["weight"].T + p.get("bias", 0),
    "layernorm": layernorm,
    "rmsnorm": rmsnorm,
    "gelu": gelu,
    "relu": lambda i, p, a: torch.where(i["x"] > 0, i["x"], torch.zeros_like(i["x"])),
    "silu": lambda i, p, a: i["x"] / (1 + torch.exp(-i["x"])),
    "tanh": lambda i, p, a: (torch.exp(2 * i["x"]) - 1) / (torch.exp(2 * i["x"]) + 1),
    "sigmoid": lambda i, p, a: 1 / (1 + torch.exp(-i["x"])),
    "softmax": lambda i, p, a: torch.exp(i["x"]) / torch.exp(i["x"]).sum(a["dim"], keepdim=True),
    "dropout": lambda i, p, a: i["x"],  # eval mode
    "add": lambda i, p, a: _sum(i["x"]),
    "mul": lambda i, p, a: _prod(i["x"]),
    "scale": lambda i, p, a: i["x"] * p["weight"],
    "reshape": lambda i, p, a: i["x"].reshape([i["x"].shape[0], i["x"].shape[1]] + a["shape"][2:]),
    "transpose": lambda i, p, a: i["x"].transpose(a["dim0"], a["dim1"]),
    "concat": lambda i, p, a: torch.cat(i["x"], dim=a["dim"]),
    "split": lambda i, p, a: tuple(torch.split(i["x"], a["sizes"], dim=a["dim"])),
    "slice": lambda i, p, a: i["x"][..., a["start"]:a["end"]],
    "pad": lambda i, p, a: torch.cat([torch.full((*i["x"].shape[:-1], a["before"]), a["value"]), i["x"],
                                      torch.full((*i["x"].shape[:-1], a["after"]), a["value"])], -1),
    "learned_position": lambda i, p, a: p["weight"][: i["x"].shape[1]],
    "sinusoidal_position": lambda i, p, a: sinusoid_table(i["x"].shape[1], a["dim"], a["base"]),
    "rope": lambda i, p, a: rope_tables(i["x"].shape[1], a["head_dim"], a["theta"]),
    "attention": attention,
    "mlp": mlp,
    "moe": moe,
    "load_balancing_loss": load_balancing_loss,
    "router_z_loss": router_z_loss,
}


# --- math and tensors (issue 7): each from the definition, not from torch's function of the same name ---


def _axis(x, a):
    """A reduction's ``dim`` as the test's example gives it: an int, or a size name (the examples put T at 1)."""
    return a["dim"] if isinstance(a["dim"], int) else {"B": 0, "T": 1}[a["dim"]]


def _reduce(how):
    def ref(i, p, a):
        x = i["x"]
        d = _axis(x, a)
        moved = x.movedim(d, -1)
        if how == "max":  # the first of the sorted entries; its gradient goes to the maximal one
            out = moved.sort(-1, descending=True).values[..., 0]
        else:
            out = moved.unbind(-1)
            out = _sum(list(out))
            out = out / moved.shape[-1] if how == "mean" else out
        return out.unsqueeze(d) if a["keepdim"] else out
    return ref


def argmax(i, p, a):
    x = i["x"]
    d = _axis(x, a)
    out = x.movedim(d, -1).sort(-1, descending=True).indices[..., 0]
    return out.unsqueeze(d) if a["keepdim"] else out


def l2_normalize(i, p, a):
    x = i["x"]
    norm = (x * x).sum(a["dim"], keepdim=True) ** 0.5
    return x / norm.clamp_min(a["eps"])


def matmul(i, p, a):
    """Sum over k of x[..., n, k] y[..., k, m], written as a broadcast product."""
    x, y = i["x"], i["y"]
    return (x.unsqueeze(-1) * y.unsqueeze(-3)).sum(-2)


def einsum_btd_bsd(i, p, a):
    """The example's 'btd,bsd->bts' from its definition; other equations go through the strict parser's tests."""
    assert a["equation"] == "btd,bsd->bts"
    x, y = i["x"]
    return (x.unsqueeze(2) * y.unsqueeze(1)).sum(-1)


def conv2d(i, p, a):
    """Each output pixel: the sum over channels and the kernel window of weight times input (no unfold)."""
    x, w = i["x"], p["weight"]
    k, s, pad = a["kernel_size"], a["stride"], a["padding"]
    x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    h = (x.shape[2] - k) // s + 1
    wd = (x.shape[3] - k) // s + 1
    rows = []
    for r in range(h):
        cols = []
        for c in range(wd):
            window = x[:, :, r * s: r * s + k, c * s: c * s + k]  # [B, C, k, k]
            cols.append((window.unsqueeze(1) * w.unsqueeze(0)).sum((2, 3, 4)))  # [B, out]
        rows.append(torch.stack(cols, -1))
    out = torch.stack(rows, -2)
    return out + p["bias"].view(1, -1, 1, 1) if "bias" in p else out


def topk(i, p, a):
    x = i["x"].movedim(a["dim"], -1)
    order = x.sort(-1, descending=a["largest"])
    values, indices = order.values[..., : a["k"]], order.indices[..., : a["k"]]
    return values.movedim(-1, a["dim"]), indices.movedim(-1, a["dim"])


def gather(i, p, a):
    """One-hot selection along dim: out[..., j] = sum_t x[..., t] [index[..., j] == t]."""
    x, index, d = i["x"], i["index"], a["dim"]
    xm, im = x.movedim(d, -1), index.movedim(d, -1).long()
    xm = xm[tuple(slice(0, s) for s in im.shape[:-1])]
    onehot = (im.unsqueeze(-1) == torch.arange(xm.shape[-1])).to(x.dtype)
    return (onehot * xm.unsqueeze(-2)).sum(-1).movedim(-1, d)


def constant(i, p, a):
    shape = a["shape"]
    if a["fill"] == "arange":
        row = torch.tensor([float(j) for j in range(shape[-1])])
        return (row * torch.ones(shape)).to(getattr(torch, a["dtype"]))
    return torch.ones(shape, dtype=torch.float64).mul(a["value"]).to(getattr(torch, a["dtype"]))


REFERENCES.update({
    "param": lambda i, p, a: p["weight"],
    "constant": constant,
    "sum": _reduce("sum"),
    "mean": _reduce("mean"),
    "max": _reduce("max"),
    "argmax": argmax,
    "exp": lambda i, p, a: sum(i["x"] ** j / float(math.factorial(j)) for j in range(40)),  # the power series
    "log": lambda i, p, a: 2 * torch.atanh((i["x"] - 1) / (i["x"] + 1)),  # log x = 2 artanh((x-1)/(x+1))
    "sqrt": lambda i, p, a: i["x"] ** 0.5,
    "sub": lambda i, p, a: i["x"] + (-1) * i["y"],
    "div": lambda i, p, a: i["x"] * i["y"] ** -1,
    "l2_normalize": l2_normalize,
    "matmul": matmul,
    "einsum": einsum_btd_bsd,
    "conv2d": conv2d,
    "topk": topk,
    "gather": gather,
    "index_select": lambda i, p, a: torch.stack([i["x"].select(a["dim"], int(j)) for j in i["index"]], a["dim"]),
})
