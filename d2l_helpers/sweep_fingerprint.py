"""A fingerprint of the experiment: what it runs, so that a sweep cache notices when it changed.

A cache line is found by the function's name and the parameters. If the
learner then edits the function's body, the same names would hand back the
old body's numbers as the new one's. So every line also carries a
fingerprint, the SHA-256 of what Python runs when the sweep calls the function:

* its code object: the bytecode (``co_code``), the constants (nested
  functions, lambdas and comprehensions recursively), the names it reads;
* its default arguments and the values its closure holds;
* the globals it reads (``LOAD_GLOBAL``), where they are constants
  (numbers, strings, and tuples of them): a notebook's ``EPOCHS = 100`` read
  by the function changes its results as much as its body does. A list, dict
  or set counts by its type only: it is as often state the function changes
  (a list it appends its results to) as a setting;
* recursively, the functions and classes of the experiment's own module that
  it reads (a helper defined in the same notebook), and those given in the grid.

Left out, so that moving a cell or re-running it changes nothing: line
numbers, file names, the docstring and local variable names. Also left out:
other objects (a tensor, a data iterator: only their type counts) and code in
other modules (``d2l_helpers``, torch), whose versions are not fingerprinted.
Bytecode differs between Python versions, so each line also records the
version that wrote it (the message on a mismatch says so).
"""

from __future__ import annotations

import dis
import functools
import hashlib
import json
import sys
import types

__all__ = ["Fingerprint", "PYTHON"]

PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
_SIMPLE = (type(None), bool, int, float, complex, str, bytes)
_MAX_ITEMS = 10_000  # a longer tuple counts by its type only


class Fingerprint:
    """``Fingerprint(fn).of(params)``: the fingerprint of one configuration's run (16 hex digits)."""

    def __init__(self, fn):
        self.module = getattr(getattr(fn, "func", fn), "__module__", None)
        self._fn = self._describe(fn, set())

    def of(self, params) -> str:
        mine = [[k, self._describe(v, set())] for k, v in sorted(params.items()) if self._ours(v)]
        text = json.dumps([self._fn, mine], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- what counts ------------------------------------------------------------------------

    def _ours(self, obj) -> bool:
        """A function or class of the experiment's own module (a notebook's ``__main__``)."""
        return isinstance(obj, (types.FunctionType, type)) and getattr(obj, "__module__", None) == self.module

    def _describe(self, obj, seen):
        if isinstance(obj, types.FunctionType):
            return self._function(obj, seen)
        if isinstance(obj, functools.partial):
            return [
                "partial",
                self._describe(obj.func, seen),
                self._value(obj.args, seen),
                self._value(obj.keywords, seen),
            ]
        if isinstance(obj, types.MethodType):
            return ["method", self._describe(obj.__func__, seen)]
        if isinstance(obj, type) and self._ours(obj):
            return self._class(obj, seen)
        return ["object", f"{type(obj).__module__}.{type(obj).__qualname__}", getattr(obj, "__qualname__", None)]

    def _function(self, fn, seen):
        if id(fn) in seen:  # a helper that calls itself, or two that call each other
            return ["seen", fn.__qualname__]
        seen.add(id(fn))
        code = fn.__code__
        closure = []
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                closure.append([name, self._value(cell.cell_contents, seen)])
            except ValueError:  # a cell not yet filled
                closure.append([name, None])
        globals_ = [
            [name, self._value(fn.__globals__[name], seen)]
            for name in sorted(_globals_read(code))
            if name in fn.__globals__
        ]
        return [
            "function",
            _code(code, fn.__doc__),
            self._value(fn.__defaults__ or (), seen),
            self._value(fn.__kwdefaults__ or {}, seen),
            closure,
            globals_,
        ]

    def _class(self, cls, seen):
        if id(cls) in seen:
            return ["seen", cls.__qualname__]
        seen.add(id(cls))
        body = []
        for name, attr in sorted(vars(cls).items()):
            if name in ("__dict__", "__weakref__", "__module__", "__doc__", "__qualname__", "__annotations__"):
                continue
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            if isinstance(attr, property):
                attr = [attr.fget, attr.fset]
            body.append([name, self._value(attr, seen)])
        bases = [f"{b.__module__}.{b.__qualname__}" for b in cls.__bases__]
        return ["class", cls.__qualname__, bases, body]

    def _value(self, value, seen, depth=0):
        """Constants as themselves; our functions and classes by their code; anything else by its type."""
        try:
            if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
                value = value.item()  # NumPy scalars as Python numbers
        except Exception:  # an object whose attributes cannot be read: its type will do
            pass
        if isinstance(value, _SIMPLE):
            return repr(value)
        if self._ours(value) or isinstance(value, (functools.partial, types.MethodType)):
            return self._describe(value, seen)
        kind = type(value).__qualname__
        if isinstance(value, (tuple, frozenset)) and depth < 4 and len(value) <= _MAX_ITEMS:
            items = [self._value(v, seen, depth + 1) for v in value]
            if isinstance(value, frozenset):  # (no order of its own to keep)
                items = sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
            return [kind, items]
        # A list, dict or set is often state the function changes (a log of results), not a setting: its type only.
        return ["object", f"{type(value).__module__}.{kind}"]


def _code(code, doc=None):
    """A code object without its line numbers, file name, docstring and local names."""
    consts = list(code.co_consts)
    if doc is not None and consts and consts[0] == doc:  # where a function without one has None
        consts[0] = None
    return [
        code.co_code.hex(),
        [_const(c) for c in consts],
        list(code.co_names),
        code.co_argcount,
        code.co_kwonlyargcount,
    ]


def _const(value):
    if isinstance(value, types.CodeType):
        return _code(value)
    if isinstance(value, (tuple, frozenset)):
        items = [_const(v) for v in value]
        return [type(value).__name__, sorted(items, key=repr) if isinstance(value, frozenset) else items]
    return repr(value)


def _globals_read(code) -> set:
    """The global names ``code`` (and the code nested in it) reads."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _globals_read(const)
    return names
