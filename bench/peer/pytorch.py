"""PyTorch peer of bench/train.ts: the same models and workloads, timed on request.

Run by bench/train.ts with Debian's interpreter (/usr/bin/python3; install with
`apt-get install python3-torch libopenblas0-pthread`). It is a long-lived
process: one JSON request per line on stdin, one JSON answer per line on
stdout, so that the bench can alternate hemnet and PyTorch repetitions.

Requests:
  {"op": "hello"}                                  -> {"torch": version, "blas": ..., "cores": n}
  {"op": "setup", "workload": W, "threads": t}     -> {"params": trainable parameters}  (builds + warms up)
  {"op": "run", "workload": W, "threads": t, "iterations": k, "warmup": j}
      -> {"ms": wall time of k iterations after j untimed ones, "cpuMs": their process CPU time}

"threads" t sets both PyTorch's intra-op threads (torch.set_num_threads) and
OpenBLAS's own pool (openblas_set_num_threads, found in the process's mapped
libraries): Debian's torch calls OpenBLAS for its GEMMs, and
torch.set_num_threads(1) alone leaves OpenBLAS on every core (measured
2026-12-03: CPU / wall 1.97 at "1 thread"). "cpuMs" lets the bench check.

Workloads (batch 8, 64x64, 11 classes, as hemnet's default model):
  train:hem | train:ema | train:fcn   one Adam step (forward + backward + update)
  infer:hem | infer:ema | infer:fcn   one forward pass in eval mode, no grad
  hem:paper                           unrolled HEM T=3, B=4, N=4225, C=512, K=64, forward + backward

The model mirrors src/models/{backbones,heads,zoo}.ts layer by layer (compact
dilated ResNet, width 16, OS 8; 3x3 conv_in -> HEM head -> 3x3 conv_mid ->
dropout -> 1x1 classifier -> bilinear x8). The default 'hem' model has
427,483 trainable parameters, as hemnet's; the bench asserts the counts match.
"""
import ctypes
import json
import math
import re
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-3
BN_MOMENTUM = 0.1  # Keras momentum 0.9


def conv_bn(cin, cout, k, stride=1, dilation=1, relu=True):
    pad = dilation * (k - 1) // 2
    layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, bias=False),
              nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, dilation):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride, dilation)
        self.conv2 = conv_bn(cout, cout, 3, 1, dilation, relu=False)
        self.shortcut = None if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, relu=False)

    def forward(self, x):
        s = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.conv2(self.conv1(x)) + s)


class CompactBackbone(nn.Module):
    """width w, stages w*[1,2,4,8], one block each, OS 8 (stage 4 dilated 2)."""

    def __init__(self, width=16, output_stride=8):
        super().__init__()
        self.stem = conv_bn(3, width, 3, 2)
        blocks, stride, dilation, cin = [], 2, 1, width
        for stage in range(4):
            if stage == 0:
                s, d = 1, 1
            elif stride < output_stride:
                stride *= 2
                s, d = 2, dilation
            else:
                dilation *= 2
                s, d = 1, dilation
            cout = width * 2 ** stage
            blocks.append(BasicBlock(cin, cout, s, d))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = cin

    def forward(self, x):
        return self.blocks(self.stem(x))


def unroll_hem(x, mu, iterations, step_size, temperature, normalize):
    """x [B, N, C], mu [B, K, C] -> (reconstruction [B, N, C], final mu)."""
    gamma = None
    for _ in range(iterations):
        gamma = torch.softmax(torch.bmm(x, mu.transpose(1, 2)) / temperature, dim=2)  # E-step, [B, N, K]
        g = gamma / (gamma.sum(1, keepdim=True) + 1e-6)
        em = torch.bmm(g.transpose(1, 2), x)  # [B, K, C]
        mu = em if step_size == 1 else (1 - step_size) * mu + step_size * em  # N-step, Eq. 13
        if normalize:
            mu = mu / (mu.norm(dim=2, keepdim=True) + 1e-6)
    return torch.bmm(gamma, mu), mu


class HemAttention(nn.Module):
    """hemnet's HemHead: 1x1 in (bias) -> unrolled (H)EM -> ReLU -> 1x1 out -> BN, + input, ReLU."""

    def __init__(self, cin, k, preset):
        super().__init__()
        c = cin
        self.inp = nn.Linear(cin, c)
        self.out = nn.Linear(c, cin, bias=False)
        self.bn = nn.BatchNorm1d(cin, eps=BN_EPS, momentum=BN_MOMENTUM)
        bases = torch.randn(k, c) * math.sqrt(2 / k)
        self.register_buffer('bases', bases / (bases.norm(dim=1, keepdim=True) + 1e-6))
        if preset == 'hem':
            self.step_size, self.detach, self.normalize, self.temperature = 0.5, False, False, math.sqrt(c)
        else:  # 'ema'
            self.step_size, self.detach, self.normalize, self.temperature = 1.0, True, True, 1.0
        self.iterations = 3

    def forward(self, inp):
        b, cin, h, w = inp.shape
        x = self.inp(inp.flatten(2).transpose(1, 2))  # [B, N, C]
        mu0 = self.bases.unsqueeze(0).expand(b, -1, -1)
        if self.detach:
            with torch.no_grad():
                rec, mu = unroll_hem(x, mu0, self.iterations, self.step_size, self.temperature, self.normalize)
        else:
            rec, mu = unroll_hem(x, mu0, self.iterations, self.step_size, self.temperature, self.normalize)
        if self.training:
            with torch.no_grad():
                nxt = 0.9 * self.bases + 0.1 * mu.mean(0)
                if self.normalize:
                    nxt = nxt / (nxt.norm(dim=1, keepdim=True) + 1e-6)
                self.bases = nxt  # a new tensor: the old one is saved for backward
        y = self.bn(self.out(F.relu(rec)).reshape(b * h * w, cin)).reshape(b, h * w, cin)
        return F.relu(y.transpose(1, 2).reshape(b, cin, h, w) + inp)


class SegmentationModel(nn.Module):
    def __init__(self, head, num_classes=11, channels=64, mid=64, bases=16):
        super().__init__()
        self.backbone = CompactBackbone()
        self.conv_in = conv_bn(self.backbone.out_channels, channels, 3)
        self.attention = None if head == 'fcn' else HemAttention(channels, bases, head)
        self.conv_mid = conv_bn(channels, mid, 3)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Conv2d(mid, num_classes, 1)

    def forward(self, x):
        size = x.shape[2:]
        y = self.conv_in(self.backbone(x))
        if self.attention is not None:
            y = self.attention(y)
        y = self.classifier(self.dropout(self.conv_mid(y)))
        return F.interpolate(y, size=size, mode='bilinear', align_corners=False)


def trainable_parameters(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class Workload:
    def __init__(self, name):
        self.name = name
        kind, variant = name.split(':')
        torch.manual_seed(0)
        if kind in ('train', 'infer'):
            self.model = SegmentationModel(variant)
            self.params = trainable_parameters(self.model)
            self.x = torch.randn(8, 3, 64, 64)
            self.y = torch.randint(0, 11, (8, 64, 64))
            self.y[:, :2, :] = 255  # a few ignored pixels, as in the scenes
            if kind == 'train':
                self.model.train()
                self.optimizer = torch.optim.Adam(self.model.parameters(), lr=2e-3, eps=1e-7)
                self.decayed = [p for n, p in self.model.named_parameters() if p.dim() > 1]
                self.run_once = self.train_step
            else:
                self.model.eval()
                self.run_once = self.infer
        elif name == 'hem:paper':
            b, n, c, k = 4, 65 * 65, 512, 64
            self.params = 0
            self.x = torch.randn(b, n, c, requires_grad=True)
            self.mu0 = (torch.randn(k, c) * math.sqrt(2 / k)).requires_grad_(True)
            self.upstream = torch.randn(b, n, c)
            self.run_once = self.hem_paper
        else:
            raise ValueError(f"unknown workload '{name}'")

    def train_step(self):
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(self.x)
        loss = F.cross_entropy(logits, self.y, ignore_index=255)
        loss = loss + 0.5e-4 * sum((p * p).sum() for p in self.decayed)
        loss.backward()
        self.optimizer.step()
        return float(loss)

    def infer(self):
        with torch.no_grad():
            return self.model(self.x)

    def hem_paper(self):
        self.x.grad = None
        self.mu0.grad = None
        mu = self.mu0.unsqueeze(0).expand(self.x.shape[0], -1, -1)
        rec, _ = unroll_hem(self.x, mu, 3, 0.5, math.sqrt(512), False)
        (rec * self.upstream).sum().backward()
        return self.x.grad


def openblas():
    """The OpenBLAS library this process loaded (through torch), or None."""
    try:
        with open('/proc/self/maps') as maps:
            paths = sorted(set(re.findall(r'/\S*libopenblas\S*\.so\S*', maps.read())))
    except OSError:
        return None
    if not paths:
        return None
    lib = ctypes.CDLL(paths[0])
    return lib if hasattr(lib, 'openblas_set_num_threads') else None


BLAS = openblas()


def set_threads(n):
    torch.set_num_threads(n)
    if BLAS is not None:
        BLAS.openblas_set_num_threads(n)


def main():
    workloads = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        request = json.loads(line)
        op = request.get('op')
        try:
            if op == 'hello':
                answer = {'torch': torch.__version__, 'cores': torch.get_num_threads(),
                          'openblas': BLAS is not None,
                          'config': torch.__config__.show().replace('\n', ' | ')[:400]}
            elif op in ('setup', 'run'):
                set_threads(int(request.get('threads', 1)))
                name = request['workload']
                if name not in workloads:
                    workloads[name] = Workload(name)
                w = workloads[name]
                if op == 'setup':
                    for _ in range(2):
                        w.run_once()
                    answer = {'params': w.params}
                else:
                    for _ in range(int(request.get('warmup', 0))):
                        w.run_once()
                    start = time.perf_counter()
                    cpu_start = time.process_time()
                    for _ in range(int(request.get('iterations', 1))):
                        w.run_once()
                    answer = {'ms': (time.perf_counter() - start) * 1000,
                              'cpuMs': (time.process_time() - cpu_start) * 1000}
            elif op == 'quit':
                break
            else:
                answer = {'error': f"unknown op '{op}'"}
        except Exception as error:  # reported to the bench, which stops
            answer = {'error': f'{type(error).__name__}: {error}'}
        sys.stdout.write(json.dumps(answer) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
