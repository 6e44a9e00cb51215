"""Progress reporting for ``train_ch8``.

``make_progress(mode, ...)`` returns an object with ``update(...)`` (one logged
point) and ``close(status)`` (training ended: 'done', 'interrupted' or
'error'). Modes:

* ``'text'``: one concise line per logged point (scripts, terminals, CI logs);
* ``'off'``: nothing;
* ``'auto'``: chosen by ``$D2L_PLOT`` when set, else ``'text'``.
"""

from __future__ import annotations

import os
import time

__all__ = ["make_progress"]

ENV_PLOT = "D2L_PLOT"
MODES = ("auto", "widget", "text", "off")


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class _Off:
    def update(self, epoch, perplexity, heldout=None, tokens_per_sec=None, sample=None):
        pass

    def close(self, status):
        pass


class TextProgress:
    """Print one line per logged point: epoch, perplexities, speed, elapsed, ETA."""

    def __init__(self, num_epochs, clock=time.perf_counter, out=print):
        self.num_epochs, self.clock, self.out = num_epochs, clock, out
        self.t0 = clock()

    def update(self, epoch, perplexity, heldout=None, tokens_per_sec=None, sample=None):
        elapsed = self.clock() - self.t0
        eta = elapsed / epoch * (self.num_epochs - epoch)
        parts = [f"epoch {epoch:>{len(str(self.num_epochs))}}/{self.num_epochs}", f"perplexity {perplexity:.2f}"]
        if heldout is not None:
            parts.append(f"held-out {heldout:.2f}")
        if tokens_per_sec is not None:
            parts.append(f"{tokens_per_sec:,.0f} tokens/s")
        parts.append(f"elapsed {_fmt_time(elapsed)}, ETA {_fmt_time(eta)}")
        self.out("  ".join(parts))

    def close(self, status):
        pass


def resolve_mode(mode: str) -> str:
    """The concrete mode for ``mode`` (``'auto'`` reads ``$D2L_PLOT``)."""
    if mode == "auto":
        mode = os.environ.get(ENV_PLOT, "").strip().lower() or "auto"
        if mode not in MODES:
            raise ValueError(f"{ENV_PLOT} must be one of widget, text, off; got {os.environ[ENV_PLOT]!r}")
    if mode not in MODES:
        raise ValueError(f"plot must be one of {MODES}, got {mode!r}")
    return "text" if mode in ("auto", "widget") else mode


def make_progress(mode, num_epochs, heldout=False):
    """A progress reporter for ``train_ch8`` in the given mode."""
    mode = resolve_mode(mode)
    if mode == "off":
        return _Off()
    return TextProgress(num_epochs)
