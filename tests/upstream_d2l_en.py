"""Upstream d2l 1.0.3 (the English edition's API), loaded from source as a reference oracle.

``make setup`` installs the wheel with ``pip install --no-deps --target
.venv/d2l-1.0.3 d2l==1.0.3``: a folder of its own, because d2l 0.17.6 (the
Chinese edition's oracle, :mod:`upstream_d2l`) is installed as ``d2l`` in the
environment. ``$D2L_UPSTREAM_1_0`` can point at another folder holding
``d2l/torch.py``.

Its ``torch.py`` imports torchvision, PIL, pandas, requests, scipy and IPython
at the top, so, as for 0.17.6, we parse it with ``ast`` and execute only the
definitions the recurrent chapters use, plus the tensor aliases that end the
file, in a fresh module that stands in for ``d2l``. Upstream defines some
classes and methods twice (two ``Trainer.__init__``): Python keeps the later
one, as it does when upstream is imported.

Two things are replaced, neither of which touches what is computed:
``download`` returns our verified local copy of the text (upstream's fetches
with requests into ``../data``), and the board's ``display`` is switched off
by the tests that train (upstream then records the plotted points in
``board.data`` without drawing). Unless ``draw=True``, ``use_svg_display``
asks nothing of IPython and ``d2l.plt`` is pyplot imported on first use, as in
:mod:`upstream_d2l`.
"""

from __future__ import annotations

import ast
import collections
import hashlib
import inspect
import math
import os
import random
import re
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import upstream_d2l
from torch import nn
from torch.nn import functional as F

VERSION = "1.0.3"
ENV = "D2L_UPSTREAM_1_0"

NEEDED = {
    "add_to_class", "HyperParameters", "ProgressBoard", "Module", "DataModule", "Trainer", "SGD",
    "Classifier", "cpu", "gpu", "num_gpus", "try_gpu", "TimeMachine", "Vocab", "RNNScratch",
    "check_len", "check_shape", "RNNLMScratch", "RNN", "RNNLM", "GRU", "use_svg_display",
    "LinearRegression", "plot", "set_figsize", "set_axes",
}  # fmt: skip


class UpstreamMissing(RuntimeError):
    pass


def source_path() -> Path:
    folder = Path(os.environ.get(ENV) or Path(sys.prefix) / f"d2l-{VERSION}")
    path = folder / "d2l" / "torch.py"
    if not path.is_file():
        raise UpstreamMissing(
            f"{path} not found: run make setup (pip install --no-deps --target {folder} d2l=={VERSION})"
        )
    return path


class _NoDisplay:
    """Stands in for IPython.display: upstream's board calls display() and clear_output() when it draws."""

    def display(self, *args, **kwargs):
        pass

    def clear_output(self, *args, **kwargs):
        pass


def load(draw=False) -> types.ModuleType:
    """A fresh module holding upstream 1.0.3's definitions for the recurrent chapters.

    ``draw=True`` gives its board what upstream's module has (pyplot, IPython's
    display, the inline backend), so that it draws in a kernel as it does
    there; the benchmark uses that. By default the board's drawing calls do nothing.
    """
    from d2l_helpers.data import download as our_download

    path = source_path()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    body, aliases_started = [], False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in NEEDED:
            body.append(node)
        if isinstance(node, ast.Assign) and ast.unparse(node) == "ones_like = torch.ones_like":
            aliases_started = True
        if aliases_started and isinstance(node, ast.Assign):
            body.append(node)
    found = {n.name for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    if found != NEEDED:
        raise UpstreamMissing(f"{path} lacks {sorted(NEEDED - found)}: is it d2l {VERSION}?")

    mod = types.ModuleType("d2l_upstream_en")
    mod.__dict__.update(
        d2l=mod, torch=torch, nn=nn, F=F, np=np, math=math, random=random, re=re, inspect=inspect,
        collections=collections, time=time, hashlib=hashlib, os=os, nn_Module=nn.Module,
        DATA_URL="http://d2l-data.s3-accelerate.amazonaws.com/", DATA_HUB={}, display=_NoDisplay(),
        download=lambda url, folder="../data", sha1_hash=None: our_download(url, sha1_hash=sha1_hash),
        backend_inline=upstream_d2l.NoInlineBackend(), __getattr__=upstream_d2l.lazy_pyplot,
    )  # fmt: skip
    if draw:
        from IPython import display
        from matplotlib import pyplot as plt
        from matplotlib_inline import backend_inline

        mod.__dict__.update(display=display, plt=plt, backend_inline=backend_inline)
    code = compile(ast.Module(body=body, type_ignores=[]), str(path), "exec")
    exec(code, mod.__dict__)
    return mod
