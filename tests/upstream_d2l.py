"""Upstream d2l 0.17.6's chapter-8 code, loaded from source as a reference oracle.

``pip install --no-deps d2l==0.17.6`` puts ``d2l/torch.py`` on disk, but it
cannot be imported here: it imports torchvision, pandas and requests and pins
numpy 1.21.5. So we find the file without importing it, parse it with ``ast``
and execute only the definitions the chapter uses (plus the tensor aliases at
the end of the file) in a fresh module that stands in for ``d2l``.

Three things are replaced, none of which touches what is computed or drawn:
``download`` returns our verified local copy of the text (upstream's would
fetch it with requests), ``Animator`` records points instead of drawing, and
``use_svg_display`` asks nothing of IPython (``backend_inline`` is a stub).
``d2l.plt`` is matplotlib's pyplot, imported when ``plot`` first asks for it.
"""

from __future__ import annotations

import ast
import collections
import hashlib
import importlib.util
import math
import os
import random
import re
import time
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

NEEDED = {
    "Timer", "Accumulator", "sgd", "try_gpu", "read_time_machine", "tokenize", "Vocab",
    "count_corpus", "load_corpus_time_machine", "seq_data_iter_random",
    "seq_data_iter_sequential", "SeqDataLoader", "load_data_time_machine",
    "RNNModelScratch", "predict_ch8", "grad_clipping", "train_epoch_ch8", "train_ch8",
    "RNNModel", "load_array", "evaluate_loss", "plot", "set_figsize", "set_axes", "use_svg_display",
}  # fmt: skip


class UpstreamMissing(RuntimeError):
    pass


def source_path() -> Path:
    spec = importlib.util.find_spec("d2l")
    if spec is None or not spec.submodule_search_locations:
        raise UpstreamMissing("upstream d2l is not installed: pip install --no-deps d2l==0.17.6")
    path = Path(next(iter(spec.submodule_search_locations))) / "torch.py"
    if not path.is_file():
        raise UpstreamMissing(f"{path} not found: pip install --no-deps d2l==0.17.6")
    return path


class _RecordingAnimator:
    def __init__(self, *args, **kwargs):
        self.points = []

    def add(self, x, y):
        self.points.append((x, y))


class NoInlineBackend:
    """Stands in for matplotlib_inline.backend_inline: choosing SVG needs an IPython shell, and changes no figure."""

    def set_matplotlib_formats(self, *formats, **kwargs):
        pass


def lazy_pyplot(name):
    """``d2l.plt`` (a module's ``__getattr__``): pyplot, imported on first use as upstream's module imports it."""
    if name == "plt":
        from matplotlib import pyplot

        return pyplot
    raise AttributeError(name)


def load() -> types.ModuleType:
    """A fresh module holding upstream's chapter-8 definitions."""
    from d2l_helpers.data import download as our_download

    path = source_path()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    body = []
    aliases_started = False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in NEEDED:
            body.append(node)
        # The tensor aliases (ones = torch.ones, ..., numpy = lambda ...) end the file.
        if isinstance(node, ast.Assign) and ast.unparse(node) == "ones = torch.ones":
            aliases_started = True
        if aliases_started and isinstance(node, ast.Assign):
            body.append(node)
    found = {n.name for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    if found != NEEDED:
        raise UpstreamMissing(f"{path} lacks {sorted(NEEDED - found)}: is it d2l 0.17.6?")

    mod = types.ModuleType("d2l_upstream")
    mod.__dict__.update(
        d2l=mod, torch=torch, nn=nn, F=F, np=np, math=math, random=random, re=re,
        collections=collections, time=time, hashlib=hashlib, os=os,
        nn_Module=nn.Module, Animator=_RecordingAnimator,
        download=lambda name, cache_dir=None: our_download(),
        data=torch.utils.data, backend_inline=NoInlineBackend(), __getattr__=lazy_pyplot,
    )  # fmt: skip
    code = compile(ast.Module(body=body, type_ignores=[]), str(path), "exec")
    exec(code, mod.__dict__)
    return mod
