"""Convolutions and pooling in NumPy, forward and backward, from the definitions.

Everything is 2-D on [N, C, H, W]; a 1-D layer is the 2-D one on [N, C, 1, L] with a [1, k] kernel. A window
gather (``_gather``) reads, for every kernel offset (i, j), the input elements that offset meets at every
output position; its adjoint (``_scatter``) adds values back to where they were read. A convolution is a
contraction of the gathered windows with the weight, its transpose is the scatter of the weight-weighted
input, and each one's backward is the other's forward.
"""

from __future__ import annotations

import numpy as np


def _gather(buf: np.ndarray, kernel, stride, dilation, out_hw) -> np.ndarray:
    """[N, C, kh, kw, Ho, Wo]: buf[n, c, i*d0 + h*s0, j*d1 + w*s1]."""
    (kh, kw), (s0, s1), (d0, d1), (ho, wo) = kernel, stride, dilation, out_hw
    n, c = buf.shape[:2]
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=buf.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = buf[:, :, i * d0: i * d0 + s0 * (ho - 1) + 1: s0, j * d1: j * d1 + s1 * (wo - 1) + 1: s1]
    return cols


def _scatter(cols: np.ndarray, buf_shape, kernel, stride, dilation) -> np.ndarray:
    """The adjoint of _gather: every window value added back to the element it was read from."""
    (kh, kw), (s0, s1), (d0, d1) = kernel, stride, dilation
    ho, wo = cols.shape[-2:]
    buf = np.zeros(buf_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            buf[:, :, i * d0: i * d0 + s0 * (ho - 1) + 1: s0, j * d1: j * d1 + s1 * (wo - 1) + 1: s1] += cols[:, :, i, j]
    return buf


def _pad(x: np.ndarray, padding, value=0.0) -> np.ndarray:
    p0, p1 = padding
    return np.pad(x, ((0, 0), (0, 0), (p0, p0), (p1, p1)), constant_values=value)


def _unpad(x: np.ndarray, padding) -> np.ndarray:
    p0, p1 = padding
    return x[:, :, p0: x.shape[2] - p0, p1: x.shape[3] - p1]


def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _grouped(a: np.ndarray, groups: int) -> np.ndarray:
    """[N, C, ...] -> [N, g, C/g, ...]."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, *a.shape[2:])


def _rows(cols: np.ndarray, groups: int) -> np.ndarray:
    """Gathered windows [N, C, kh, kw, Ho, Wo] as one matrix per group: [g, N*Ho*Wo, C/g*kh*kw]."""
    n, c, kh, kw, ho, wo = cols.shape
    grouped = cols.reshape(n, groups, c // groups, kh, kw, ho, wo).transpose(1, 0, 5, 6, 2, 3, 4)
    return grouped.reshape(groups, n * ho * wo, (c // groups) * kh * kw)


def _unrows(rows: np.ndarray, shape) -> np.ndarray:
    """The inverse of _rows: [g, N*Ho*Wo, C/g*kh*kw] back to [N, C, kh, kw, Ho, Wo]."""
    n, c, kh, kw, ho, wo = shape
    groups = rows.shape[0]
    grouped = rows.reshape(groups, n, ho, wo, c // groups, kh, kw).transpose(1, 0, 4, 5, 6, 2, 3)
    return grouped.reshape(shape)


def conv2d(x, w, b, g: dict):
    """y[n, o] = b[o] + sum over the group's channels c and offsets (i, j) of w[o, c, i, j] * window; w is
    [O, C/groups, kh, kw]. One matrix product per group over the gathered windows. Returns (y, cache)."""
    groups, k, s, p, d = g["groups"], g["kernel"], g["stride"], g["padding"], g["dilation"]
    xp = _pad(x, p)
    out_hw = tuple(out_size(n, *a) for n, a in zip(x.shape[2:], zip(k, s, p, d)))
    cols = _gather(xp, k, s, d, out_hw)
    rows = _rows(cols, groups)
    wm = w.reshape(groups, w.shape[0] // groups, -1)  # [g, O/g, C/g*kh*kw]
    ym = rows @ wm.transpose(0, 2, 1)  # [g, N*Ho*Wo, O/g]
    y = ym.reshape(groups, x.shape[0], *out_hw, -1).transpose(1, 0, 4, 2, 3).reshape(x.shape[0], w.shape[0], *out_hw)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y, (rows, cols.shape, xp.shape)


def conv2d_backward(w, cache, gy, g: dict, bias: bool):
    rows, cols_shape, xp_shape = cache
    groups = g["groups"]
    n, o, ho, wo = gy.shape
    gym = gy.reshape(n, groups, o // groups, ho, wo).transpose(1, 0, 3, 4, 2).reshape(groups, n * ho * wo, o // groups)
    wm = w.reshape(groups, o // groups, -1)
    gw = (gym.transpose(0, 2, 1) @ rows).reshape(w.shape)
    gcols = _unrows(gym @ wm, cols_shape)
    gx = _unpad(_scatter(gcols, xp_shape, g["kernel"], g["stride"], g["dilation"]), g["padding"])
    grads = {"weight": gw}
    if bias:
        grads["bias"] = gy.sum(axis=(0, 2, 3))
    return gx, grads


def conv2d_transpose(x, w, b, g: dict):
    """The adjoint of conv2d in x: every input element spreads w[c, o, i, j] * x over the output window it
    would have been read from; w is [C, O/groups, kh, kw]. Output size (n-1)*s - 2p + d*(k-1) + op + 1."""
    groups, k, s, p, d, op = g["groups"], g["kernel"], g["stride"], g["padding"], g["dilation"], g["output_padding"]
    hw = x.shape[2:]
    out_hw = tuple((n - 1) * si - 2 * pi + di * (ki - 1) + oi + 1 for n, ki, si, pi, di, oi in zip(hw, k, s, p, d, op))
    wg = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])  # [g, C/g, O/g, kh, kw]
    xg = _grouped(x, groups)  # [N, g, C/g, H, W]
    cols = np.einsum("ngchw,gcoij->ngoijhw", xg, wg, optimize=True)
    cols = cols.reshape(x.shape[0], -1, *cols.shape[3:])  # [N, O, kh, kw, H, W]
    buf_shape = (x.shape[0], cols.shape[1]) + tuple(n + 2 * pi for n, pi in zip(out_hw, p))
    y = _unpad(_scatter(cols, buf_shape, k, s, d), p)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y, (x, buf_shape, hw)


def conv2d_transpose_backward(w, cache, gy, g: dict, bias: bool):
    x, buf_shape, hw = cache
    groups = g["groups"]
    gbuf = np.zeros(buf_shape, dtype=gy.dtype)
    p0, p1 = g["padding"]
    gbuf[:, :, p0: p0 + gy.shape[2], p1: p1 + gy.shape[3]] = gy
    cols = _grouped(_gather(gbuf, g["kernel"], g["stride"], g["dilation"], hw), groups)  # [N, g, O/g, kh, kw, H, W]
    wg = w.reshape(groups, w.shape[0] // groups, *w.shape[1:])
    xg = _grouped(x, groups)
    gx = np.einsum("ngoijhw,gcoij->ngchw", cols, wg, optimize=True).reshape(x.shape)
    gw = np.einsum("ngchw,ngoijhw->gcoij", xg, cols, optimize=True).reshape(w.shape)
    grads = {"weight": gw}
    if bias:
        grads["bias"] = gy.sum(axis=(0, 2, 3))
    return gx, grads


def max_pool2d(x, g: dict):
    """Maximum over each window; padding never wins (-inf). The gradient goes to the first maximum of a window."""
    k, s, p = g["kernel"], g["stride"], g["padding"]
    xp = _pad(x, p, -np.inf)
    out_hw = tuple(out_size(n, ki, si, pi, 1) for n, ki, si, pi in zip(x.shape[2:], k, s, p))
    cols = _gather(xp, k, s, (1, 1), out_hw)
    flat = cols.reshape(*cols.shape[:2], -1, *out_hw)
    arg = flat.argmax(axis=2)
    return np.take_along_axis(flat, arg[:, :, None], axis=2)[:, :, 0], (arg, cols.shape, xp.shape)


def max_pool2d_backward(cache, gy, g: dict):
    arg, cols_shape, xp_shape = cache
    n, c, kh, kw, ho, wo = cols_shape
    onehot = np.zeros((n, c, kh * kw, ho, wo), dtype=gy.dtype)
    np.put_along_axis(onehot, arg[:, :, None], gy[:, :, None], axis=2)
    return _unpad(_scatter(onehot.reshape(cols_shape), xp_shape, g["kernel"], g["stride"], (1, 1)), g["padding"])


def _pool_counts(x_shape, g: dict, exclude_padding: bool, dtype) -> np.ndarray:
    """Divisor of each output position: kernel area, or the number of real elements in the window."""
    k, s, p = g["kernel"], g["stride"], g["padding"]
    out_hw = tuple(out_size(n, ki, si, pi, 1) for n, ki, si, pi in zip(x_shape[2:], k, s, p))
    if not exclude_padding:
        return np.full((1, 1) + out_hw, k[0] * k[1], dtype=dtype)
    ones = _pad(np.ones((1, 1) + tuple(x_shape[2:]), dtype=dtype), p)
    return _gather(ones, k, s, (1, 1), out_hw).sum(axis=(2, 3))


def avg_pool2d(x, g: dict, exclude_padding: bool):
    """Mean over each window: the sum divided by the kernel area (padding included, Torch's default) or by
    the count of real elements (Paddle's default exclusive=True)."""
    k, s, p = g["kernel"], g["stride"], g["padding"]
    xp = _pad(x, p)
    counts = _pool_counts(x.shape, g, exclude_padding, x.dtype)
    cols = _gather(xp, k, s, (1, 1), counts.shape[2:])
    return cols.sum(axis=(2, 3)) / counts, (counts, xp.shape)


def avg_pool2d_backward(cache, gy, g: dict):
    counts, xp_shape = cache
    k = g["kernel"]
    spread = np.broadcast_to((gy / counts)[:, :, None, None], gy.shape[:2] + tuple(k) + gy.shape[2:])
    return _unpad(_scatter(np.ascontiguousarray(spread), xp_shape, k, g["stride"], (1, 1)), g["padding"])


def _bins(size: int, out: int) -> list[tuple[int, int]]:
    """Adaptive pooling bins: [floor(i*size/out), ceil((i+1)*size/out)) (both frameworks)."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def adaptive_avg_pool2d(x, output_size):
    rows, cols = _bins(x.shape[2], output_size[0]), _bins(x.shape[3], output_size[1])
    y = np.empty(x.shape[:2] + tuple(output_size), dtype=x.dtype)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return y, x.shape


def adaptive_avg_pool2d_backward(x_shape, gy):
    rows, cols = _bins(x_shape[2], gy.shape[2]), _bins(x_shape[3], gy.shape[3])
    gx = np.zeros(x_shape, dtype=gy.dtype)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            gx[:, :, r0:r1, c0:c1] += gy[:, :, i, j][:, :, None, None] / gy.dtype.type((r1 - r0) * (c1 - c0))
    return gx
