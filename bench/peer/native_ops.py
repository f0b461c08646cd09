"""PyTorch side of bench/native.ts: the same workloads, timed on request.

Protocol (so that the JS bench can interleave its timings with ours in one
run): one JSON object per stdin line, {"workload": name, "repeats": n};
answers one JSON line {"workload": name, "ms": [..]}. Started by
bench/native.ts with Debian's /usr/bin/python3 (python3-torch).
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)


def conv_setup():
    x = torch.randn(8, 64, 32, 32, requires_grad=True)
    w = torch.randn(64, 64, 3, 3, requires_grad=True)
    return x, w


cx, cw = conv_setup()
cg = torch.randn(8, 64, 32, 32)
ma, mb = torch.randn(16900, 512), torch.randn(512, 64)
bx = torch.randn(8, 64, 32, 32, requires_grad=True)
bgamma, bbeta = torch.ones(64, requires_grad=True), torch.zeros(64, requires_grad=True)
sx = torch.randn(4, 4225, 64)
rx = torch.randn(8, 11, 8, 8, requires_grad=True)
rg = torch.randn(8, 11, 64, 64)
B, N, C, K, T = 4, 65 * 65, 512, 64, 3
hx = torch.randn(B, N, C, requires_grad=True)
hmu = (torch.randn(K, C) * (2 / K) ** 0.5).requires_grad_(True)
hup = torch.randn(B, N, C)


def hem(x, mu0, step=0.5, iterations=T):
    # hemnet's unrollHem (dot kernel, temperature = sqrt(C) default, L2-normalised bases)
    temperature = C ** 0.5
    mu = mu0.unsqueeze(0).expand(B, K, C)
    for _ in range(iterations):
        gamma = torch.softmax(torch.bmm(x, mu.transpose(1, 2)) / temperature, dim=2)
        nk = gamma.sum(1, keepdim=True)
        update = torch.bmm((gamma / (nk + 1e-6)).transpose(1, 2), x)
        nxt = mu * (1 - step) + update * step
        mu = nxt / (nxt.norm(dim=2, keepdim=True) + 1e-6)
    gamma = torch.softmax(torch.bmm(x, mu.transpose(1, 2)) / temperature, dim=2)
    return torch.bmm(gamma, mu)


def run(name):
    if name == "conv_fwd":
        with torch.no_grad():
            F.conv2d(cx, cw, padding=1)
    elif name == "conv_fwd_bwd":
        cx.grad = None
        cw.grad = None
        F.conv2d(cx, cw, padding=1).backward(cg)
    elif name == "matmul":
        torch.mm(ma, mb)
    elif name == "bn_fwd_bwd":
        bx.grad = None
        y = F.batch_norm(bx, None, None, bgamma, bbeta, training=True, eps=1e-3)
        y.backward(torch.ones_like(y))
    elif name == "softmax":
        torch.softmax(sx, dim=2)
    elif name == "resize_fwd_bwd":
        rx.grad = None
        F.interpolate(rx, size=(64, 64), mode="bilinear", align_corners=False).backward(rg)
    elif name == "hem_fwd":
        with torch.no_grad():
            hem(hx, hmu)
    elif name == "hem_fwd_bwd":
        hx.grad = None
        hmu.grad = None
        (hem(hx, hmu) * hup).sum().backward()
    else:
        raise ValueError(name)


for line in sys.stdin:
    request = json.loads(line)
    times = []
    for _ in range(int(request.get("repeats", 3))):
        start = time.perf_counter()
        run(request["workload"])
        times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"workload": request["workload"], "ms": times}), flush=True)
