"""Whole-sequence recurrent layers with a hand-written backward pass (used by :mod:`d2l_helpers.fast`).

Each kernel is a :class:`torch.autograd.Function` that runs a cell over all T
time steps *and* the output layer, and returns the logits of every step and
the last state, as the book's ``forward_fn`` does. Shapes: T steps, B batch,
V vocabulary, h hidden units; token ids (T, B) stand in for one-hot inputs,
because ``one_hot(ids) @ W_x`` is a lookup of rows of ``W_x``.

Forward: the input projections of all steps at once (one lookup), then the
recurrence step by step, a handful of operations a step, none recorded by
autograd; then the output layer for all steps at once (one matmul).

Backward: the local derivatives of every step at once (sigmoid' = s (1 - s),
tanh' = 1 - t^2), then back-propagation through time with a few operations
a step, then every weight gradient as one matmul over all T * B rows.

``tests/test_fast.py`` checks every backward with ``torch.autograd.gradcheck``.

The buffers live in a :class:`Workspace` that the next minibatch reuses: a
tensor of a few MB is fresh memory from the operating system each time it is
allocated, and first touching fresh memory costs a page fault per 4 KB page,
several milliseconds per minibatch, a good part of the whole step.
"""

from __future__ import annotations

import weakref

import torch

__all__ = ["GRUBookSeq", "GRUTorchSeq", "RNNSeq", "Workspace"]


class Workspace:
    """Buffers that one model's kernel reuses from one minibatch to the next.

    A workspace serves one graph at a time: the forward pass takes it, the
    backward pass gives it back. A forward pass that finds it taken (its
    graph was never back-propagated and is still alive) gets a one-off
    workspace instead, so reuse can never overwrite what a graph still needs.
    """

    def __init__(self):
        self._buffers: dict[str, torch.Tensor] = {}
        self._owner = None  # weak reference to the autograd node whose backward is still to come
        self.generation = 0

    def acquire(self, ctx) -> Workspace:
        """The workspace for this forward pass; remembered on ``ctx`` for the backward pass."""
        if self._owner is not None and self._owner() is not None:
            return Workspace().acquire(ctx)
        self._owner = weakref.ref(ctx)
        self.generation += 1
        ctx.workspace, ctx.generation = self, self.generation
        return self

    def check(self, ctx) -> None:
        """Called by the backward pass: are the buffers still those of its forward pass?"""
        if ctx.generation != self.generation:
            raise RuntimeError(
                "the fast path's buffers were reused before this backward pass "
                "(backward twice through one graph); train with fast=False for that"
            )

    def release(self) -> None:
        self._owner = None

    def __getitem__(self, name) -> torch.Tensor:
        return self._buffers[name]

    def __call__(self, name, shape, like) -> torch.Tensor:
        """An uninitialised buffer called ``name`` of ``shape``, with ``like``'s dtype and device."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != like.dtype or buf.device != like.device:
            buf = self._buffers[name] = like.new_empty(shape)
        return buf


def _start(ctx, workspace, ids, H0, W_x, b, num_gates):
    """Shared start of a forward pass: the workspace, the states buffer and the input projections.

    Returns (ws, Hs, XP): Hs (T + 1, B, h) holds H_0 .. H_T (Hs[0] = H0), and
    XP (T, B, G*h) = X_t @ W_x + b for every step (G = num_gates).
    """
    ws = (workspace if workspace is not None else Workspace()).acquire(ctx)
    ctx.set_materialize_grads(False)  # an unused output's gradient stays None, not a tensor of zeros
    T, B = ids.shape
    h = H0.shape[-1]
    Hs = ws("Hs", (T + 1, B, h), H0)
    Hs[0] = H0
    XP = ws("XP", (T, B, num_gates * h), H0)
    torch.index_select(W_x + b, 0, ids.reshape(-1), out=XP.view(T * B, -1))  # = one_hot(ids) @ W_x + b
    ctx.vocab_size = W_x.shape[0]
    return ws, Hs, XP


def _output_forward(Hs, W_hq, b_q):
    """Logits of every step, one matmul: (T * B, V) = H_t @ W_hq + b_q."""
    return torch.addmm(b_q, Hs[1:].reshape(-1, Hs.shape[-1]), W_hq)


def _output_backward(ws, Hs, W_hq, dY):
    """dLoss/dH_t for every step (T, B, h), and the output layer's gradients."""
    T, B, h = Hs.shape[0] - 1, Hs.shape[1], Hs.shape[2]
    dHs = ws("dHs", (T, B, h), Hs)
    if dY is None:
        return dHs.zero_(), None, None
    torch.mm(dY, W_hq.T, out=dHs.view(T * B, h))
    return dHs, Hs[1:].reshape(T * B, h).T @ dY, dY.sum(0)


def _input_backward(ctx, dA):
    """Gradients of W_x (V, G*h) and b (G*h) from dA = dLoss/d(X @ W_x + b), (T, B, G*h)."""
    ids = ctx.saved_tensors[0]
    dA = dA.reshape(-1, dA.shape[-1])
    dW_x = dA.new_zeros(ctx.vocab_size, dA.shape[1]).index_add_(0, ids.reshape(-1), dA)  # = one_hot^T @ dA
    return dW_x, dA.sum(0)


def _steps(*tensors):
    """Per-step views of (T, ...) tensors: ``_steps(A)[t]`` is ``A[t]``, made in one call, not T."""
    views = [x.unbind(0) for x in tensors]
    return views[0] if len(views) == 1 else views


def _sigmoid_grad(ws, name, S):
    """s (1 - s) = s - s * s, into a buffer."""
    return torch.addcmul(S, S, S, value=-1, out=ws(name, S.shape, S))


class RNNSeq(torch.autograd.Function):
    """The book's RNN: H_t = tanh(X_t W_x + H_{t-1} W_hh + b), logits H_t W_hq + b_q.

    ``RNNSeq.apply(ids (T, B), H0 (B, h), W_x (V, h), W_hh (h, h), b (h), W_hq (h, V), b_q (V)[, workspace])``
    returns the logits (T * B, V) and H_T (B, h).
    """

    @staticmethod
    def forward(ctx, ids, H0, W_x, W_hh, b, W_hq, b_q, workspace=None):
        ws, Hs, XP = _start(ctx, workspace, ids, H0, W_x, b, 1)
        xp, hs = _steps(XP), _steps(Hs)
        for t in range(ids.shape[0]):
            torch.addmm(xp[t], hs[t], W_hh, out=hs[t + 1]).tanh_()
        ctx.save_for_backward(ids, W_hh, W_hq)
        return _output_forward(Hs, W_hq, b_q), Hs[-1].clone()

    @staticmethod
    def backward(ctx, dY, dH_last):
        ws = ctx.workspace
        ws.check(ctx)
        _, W_hh, W_hq = ctx.saved_tensors
        Hs = ws["Hs"]
        T, B, h = Hs.shape[0] - 1, Hs.shape[1], Hs.shape[2]
        dHs, dW_hq, db_q = _output_backward(ws, Hs, W_hq, dY)
        dtanh = torch.mul(Hs[1:], Hs[1:], out=ws("dtanh", (T, B, h), Hs)).neg_().add_(1)  # 1 - H_t^2
        dA = ws("dA", (T, B, h), Hs)  # dLoss/d(pre-activation)
        W_hh_T = W_hh.T
        dhs, dtanh_t, da = _steps(dHs), _steps(dtanh), _steps(dA)
        dH = dhs[-1] if dH_last is None else dhs[-1] + dH_last  # dLoss/dH_T
        for t in range(T - 1, -1, -1):
            torch.mul(dH, dtanh_t[t], out=da[t])
            # dLoss/dH_{t-1}: through the recurrence, plus what the output at t-1 sends
            if t > 0:
                dH = torch.addmm(dhs[t - 1], da[t], W_hh_T)
        dH0 = da[0] @ W_hh_T if ctx.needs_input_grad[1] else None
        dW_hh = Hs[:-1].reshape(T * B, h).T @ dA.view(T * B, h)  # one matmul, depth T * B
        dW_x, db = _input_backward(ctx, dA)
        ws.release()
        return None, dH0, dW_x, dW_hh, db, dW_hq, db_q, None


class GRUBookSeq(torch.autograd.Function):
    """d2l's GRU (the reset gate *before* the matmul), logits H_t W_hq + b_q.

    Z = sigmoid(X W_xz + H W_hz + b_z), R = sigmoid(X W_xr + H W_hr + b_r),
    H~ = tanh(X W_xh + (R * H) W_hh + b_h), H_t = Z * H + (1 - Z) * H~.

    ``GRUBookSeq.apply(ids, H0, W_x, W_hzr, W_hh, b, W_hq, b_q[, workspace])``
    with the gates packed side by side: W_x = [W_xh | W_xz | W_xr] (V, 3h),
    b = [b_h | b_z | b_r] (3h), W_hzr = [W_hz | W_hr] (h, 2h). In this order
    Z and R are neighbours (one matmul for both), and so are H~ and Z (one
    multiplication for both in the backward pass).
    """

    @staticmethod
    def forward(ctx, ids, H0, W_x, W_hzr, W_hh, b, W_hq, b_q, workspace=None):
        ws, Hs, XP = _start(ctx, workspace, ids, H0, W_x, b, 3)  # XP: [candidate | z | r]
        T, B, h = XP.shape[0], XP.shape[1], H0.shape[-1]
        ZR = ws("ZR", (T, B, 2 * h), H0)  # the gates Z | R
        RH = ws("RH", (T, B, h), H0)  # R * H_{t-1}
        Hc = ws("Hc", (T, B, h), H0)  # the candidate H~
        xp_c, xp_zr, hs, zr, z, r, rh, hc = _steps(XP[..., :h], XP[..., h:], Hs, ZR, ZR[..., :h], ZR[..., h:], RH, Hc)
        for t in range(T):
            torch.addmm(xp_zr[t], hs[t], W_hzr, out=zr[t]).sigmoid_()  # both gates, one matmul
            torch.mul(r[t], hs[t], out=rh[t])
            torch.addmm(xp_c[t], rh[t], W_hh, out=hc[t]).tanh_()
            torch.lerp(hc[t], hs[t], z[t], out=hs[t + 1])  # H~ + Z (H - H~) = Z H + (1 - Z) H~
        ctx.save_for_backward(ids, W_hzr, W_hh, W_hq)
        return _output_forward(Hs, W_hq, b_q), Hs[-1].clone()

    @staticmethod
    def backward(ctx, dY, dH_last):
        ws = ctx.workspace
        ws.check(ctx)
        _, W_hzr, W_hh, W_hq = ctx.saved_tensors
        Hs, ZR, RH, Hc = (ws[k] for k in ("Hs", "ZR", "RH", "Hc"))
        T, B, h = Hc.shape
        dHs, dW_hq, db_q = _output_backward(ws, Hs, W_hq, dY)
        H_prev, Z, R = Hs[:-1], ZR[..., :h], ZR[..., h:]
        # Local derivatives, for every step at once. dA_c, dA_z = dH_t * K_t; dA_r = dLoss/d(R * H) * K_r.
        K = ws("K", (T, B, 2 * h), Hc)
        K_c, K_z = K[..., :h], K[..., h:]
        torch.mul(Hc, Hc, out=K_c).neg_().add_(1).addcmul_(Z, K_c, value=-1)  # dH_t/d(cand. pre-act.) = (1-Z)(1-H~^2)
        torch.sub(H_prev, Hc, out=K_z).mul_(_sigmoid_grad(ws, "sZ", Z))  # dH_t/d(Z pre-act.) = (H - H~) Z (1-Z)
        K_r = _sigmoid_grad(ws, "K_r", R).mul_(H_prev)  # d(R * H_{t-1})/d(R pre-act.) = H_{t-1} R (1-R)
        dA = ws("dA", (T, B, 3 * h), Hc)  # dLoss/d(pre-activations) [candidate | z | r]
        W_hzr_T, W_hh_T = W_hzr.T, W_hh.T
        da_cz, da_c, da_r, da_zr, k2, kr, dhs, z, r = _steps(
            dA[..., : 2 * h].unflatten(-1, (2, h)), dA[..., :h], dA[..., 2 * h :], dA[..., h:],
            K.view(T, B, 2, h), K_r, dHs, Z, R,
        )  # fmt: skip
        dH = dhs[-1] if dH_last is None else dhs[-1] + dH_last
        for t in range(T - 1, -1, -1):
            torch.mul(dH.unsqueeze(1), k2[t], out=da_cz[t])  # candidate and update gate, one operation
            dRH = da_c[t] @ W_hh_T  # dLoss/d(R * H_{t-1})
            torch.mul(dRH, kr[t], out=da_r[t])
            if t > 0 or ctx.needs_input_grad[1]:
                # dLoss/dH_{t-1}: directly (Z), through R * H, through both gates, and from output t-1
                dH_prev = torch.addcmul(dhs[t - 1], dH, z[t]) if t > 0 else dH * z[0]
                dH = dH_prev.addcmul_(dRH, r[t]).addmm_(da_zr[t], W_hzr_T)
        # Every weight gradient is one matmul over all T * B rows.
        dA_flat = dA.view(T * B, 3 * h)
        dW_hzr = H_prev.reshape(T * B, h).T @ dA_flat[:, h:]
        dW_hh = RH.view(T * B, h).T @ dA_flat[:, :h]
        dW_x, db = _input_backward(ctx, dA)
        ws.release()
        dH0 = dH if ctx.needs_input_grad[1] else None
        return None, dH0, dW_x, dW_hzr, dW_hh, db, dW_hq, db_q, None


class GRUTorchSeq(torch.autograd.Function):
    """``nn.GRU``'s GRU (the reset gate *after* the matmul), logits H_t W_hq + b_q.

    With PyTorch's weights and gate order (r, z, n): G = H W_hh^T + b_hh,
    r, z = sigmoid(x W_ih^T + b_ih + G)[r, z], n = tanh((x W_ih^T + b_ih)[n] + r * G[n]),
    H_t = (1 - z) n + z H.

    ``GRUTorchSeq.apply(ids, H0, W_x, W_hh, b_ih, b_hh, W_hq, b_q[, workspace])`` with
    W_x = weight_ih.T (V, 3h), W_hh = weight_hh (3h, h).
    """

    @staticmethod
    def forward(ctx, ids, H0, W_x, W_hh, b_ih, b_hh, W_hq, b_q, workspace=None):
        ws, Hs, XP = _start(ctx, workspace, ids, H0, W_x, b_ih, 3)  # XP: [r | z | n]
        T, B, h = XP.shape[0], XP.shape[1], H0.shape[-1]
        G = ws("G", (T, B, 3 * h), H0)  # H_{t-1} W_hh^T + b_hh
        RZ = ws("RZ", (T, B, 2 * h), H0)
        N = ws("N", (T, B, h), H0)
        W_hh_T = W_hh.T
        xp_rz, xp_n, g, g_rz, g_n, rz, r, z, n, hs = _steps(
            XP[..., : 2 * h], XP[..., 2 * h :], G, G[..., : 2 * h], G[..., 2 * h :], RZ, RZ[..., :h], RZ[..., h:], N, Hs
        )
        for t in range(T):
            torch.addmm(b_hh, hs[t], W_hh_T, out=g[t])  # all three gates, one matmul
            torch.add(xp_rz[t], g_rz[t], out=rz[t]).sigmoid_()
            torch.addcmul(xp_n[t], r[t], g_n[t], out=n[t]).tanh_()
            torch.lerp(n[t], hs[t], z[t], out=hs[t + 1])  # n + z (H - n) = (1 - z) n + z H
        ctx.save_for_backward(ids, W_hh, W_hq)
        return _output_forward(Hs, W_hq, b_q), Hs[-1].clone()

    @staticmethod
    def backward(ctx, dY, dH_last):
        ws = ctx.workspace
        ws.check(ctx)
        _, W_hh, W_hq = ctx.saved_tensors
        Hs, G, RZ, N = (ws[k] for k in ("Hs", "G", "RZ", "N"))
        T, B, h = N.shape
        dHs, dW_hq, db_q = _output_backward(ws, Hs, W_hq, dY)
        H_prev, R, Z, G_n = Hs[:-1], RZ[..., :h], RZ[..., h:], G[..., 2 * h :]
        # dG_t = dLoss/dG_t = dH_t * K_t for all three gates: the local derivatives K, for every step at once.
        K = ws("K", (T, B, 3 * h), N)  # [r | z | n], like G and the rows of W_hh
        K_r, K_z, K_n = K[..., :h], K[..., h : 2 * h], K[..., 2 * h :]
        dN = torch.mul(N, N, out=ws("dN", (T, B, h), N)).neg_().add_(1)  # 1 - n^2
        dN.addcmul_(Z, dN, value=-1)  # dH_t/d(n pre-activation) = (1 - z)(1 - n^2)
        torch.sub(H_prev, N, out=K_z).mul_(_sigmoid_grad(ws, "sZ", Z))  # dH_t/d(z pre-act.) = (H - n) z (1 - z)
        torch.addcmul(R, R, R, value=-1, out=K_r).mul_(G_n).mul_(dN)  # through r * G_n: G_n r (1 - r) dN
        torch.mul(dN, R, out=K_n)  # dH_t/dG_n = r dN
        dG = ws("dG", (T, B, 3 * h), N)
        dH_all = ws("dH", (T, B, h), N)  # dLoss/dH_t, kept for the input side of n below
        dg, dg3, k3, dh, dhs, z = _steps(dG, dG.view(T, B, 3, h), K.view(T, B, 3, h), dH_all, dHs, Z)
        dH = torch.add(dhs[-1], dH_last, out=dh[-1]) if dH_last is not None else dh[-1].copy_(dhs[-1])
        for t in range(T - 1, -1, -1):
            torch.mul(dH.unsqueeze(1), k3[t], out=dg3[t])  # all three gates in one operation
            if t > 0:  # dLoss/dH_{t-1}: directly (z), through the gates, and from output t-1
                dH = torch.addcmul(dhs[t - 1], dH, z[t], out=dh[t - 1]).addmm_(dg[t], W_hh)
        dH0 = (dH * z[0]).addmm_(dg[0], W_hh) if ctx.needs_input_grad[1] else None
        dX = ws("dX", (T, B, 3 * h), N)  # dLoss/d(x W_ih^T + b_ih): [r | z | dH * dN]
        torch.mul(dH_all, dN, out=dX[..., 2 * h :])
        dX[..., : 2 * h] = dG[..., : 2 * h]  # r and z enter both sides alike
        dG_flat = dG.view(T * B, 3 * h)
        dW_hh = dG_flat.T @ H_prev.reshape(T * B, h)  # (3h, h), one matmul
        dW_x, db_ih = _input_backward(ctx, dX)
        ws.release()
        return None, dH0, dW_x, dW_hh, db_ih, dG_flat.sum(0), dW_hq, db_q, None
