"""The sweep's grid: its configurations in order, their keys and seeds, checked before anything runs.

A configuration is a dict of keyword arguments for the experiment. Its *key*
is a stable JSON text of that dict: it names the configuration in the cache
file and is hashed into its seed. Classes and functions in a grid (``{"cell":
[nn.RNN, nn.GRU]}``) are written in the key by name (``module.qualname``),
never by address, so that a key is the same in the next session.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import re

__all__ = ["check_keys_can_be_cached", "check_signature", "config_key", "config_seed", "expand_grid"]


def expand_grid(param_grid):
    """The configurations of ``param_grid``, in scikit-learn's ``ParameterGrid`` order.

    >>> expand_grid({"b": [1, 2], "a": ["x", "y"]})
    [{'a': 'x', 'b': 1}, {'a': 'x', 'b': 2}, {'a': 'y', 'b': 1}, {'a': 'y', 'b': 2}]
    """
    grids = [param_grid] if isinstance(param_grid, dict) else param_grid
    if not isinstance(grids, (list, tuple)) or not grids:
        raise TypeError(
            "param_grid must be a dict of lists ({'lr': [0.1, 1], 'num_hiddens': [64, 256]}) "
            f"or a non-empty list of such dicts, got {param_grid!r}"
        )
    configs = []
    for i, grid in enumerate(grids):
        where = "param_grid" if isinstance(param_grid, dict) else f"param_grid[{i}]"
        if not isinstance(grid, dict):
            raise TypeError(f"{where} must be a dict of lists, got {type(grid).__name__} {grid!r}")
        if not grid:
            raise ValueError(f"{where} is empty: give each parameter a list of values")
        for key, values in grid.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise TypeError(f"{where} has the key {key!r}: keys must be the function's argument names")
            if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
                raise TypeError(f"{where}[{key!r}] must be a list of values, got {values!r}; write [{values!r}]")
            if len(list(values)) == 0:
                raise ValueError(f"{where}[{key!r}] is an empty list: give it at least one value")
        keys = sorted(grid)
        for combo in itertools.product(*(list(grid[k]) for k in keys)):
            configs.append({k: _plain(v) for k, v in zip(keys, combo)})
    _check_unique(configs)
    return configs


def _check_unique(configs):
    """Two configurations with one key: the same one twice, or two values that share a name (two lambdas)."""
    seen = {}
    for config in configs:
        key = config_key(config)
        if key not in seen:
            seen[key] = config
            continue
        other = seen[key]
        for name, value in config.items():
            if value is not other[name] and not _equal(value, other[name]):  # two objects, one name in the key
                shown = _name(value)
                why = " (every lambda is called <lambda>)" if "<lambda>" in shown else ""
                raise ValueError(
                    f"param_grid[{name!r}] holds two different values with the same name {shown!r}{why}: "
                    "the sweep tells values apart by name (for seeds and the cache). "
                    "Give each one its own name (a def instead of a lambda)"
                )
        raise ValueError(f"the configuration {key} appears more than once in param_grid")


def _equal(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # (arrays compare element by element)
        return False


def _plain(value):
    """NumPy scalars as Python numbers, so that keys, seeds and the cache do not depend on where they came from."""
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _name(obj):
    """Functions and classes by ``module.qualname`` (never by address); anything else by its repr."""
    name = getattr(obj, "__qualname__", None)
    return f"{getattr(obj, '__module__', '?')}.{name}" if isinstance(name, str) else repr(obj)


def config_key(params) -> str:
    """A stable text for ``params``: the cache's key and the seed's source."""
    return json.dumps(params, sort_keys=True, default=_name)


def config_seed(params) -> int:
    """The seed of one configuration: the first 32 bits of the SHA-256 of its key."""
    return int(hashlib.sha256(config_key(params).encode()).hexdigest()[:8], 16)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def check_keys_can_be_cached(configs):
    """With a cache, every key must be the same text in the next session: no object named by its address."""
    for config in configs:
        for name, value in config.items():
            text = config_key({name: value})
            if _ADDRESS.search(text):
                raise ValueError(
                    f"param_grid[{name!r}] holds {_name(value)[:80]}, whose text changes from run to run "
                    "(it names a memory address), so the cache could never find its result again. "
                    "Put a name or a number in the grid instead (a string the function maps to the object), "
                    "or run without cache="
                )


def check_signature(fn, configs):
    """Every configuration's keys are arguments ``fn`` takes, and give every argument it needs."""
    if not callable(fn):
        raise TypeError(f"experiment must be a function, got {type(fn).__name__} {fn!r}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins without a signature: let the call tell
    kinds = {p.name: p.kind for p in signature.parameters.values()}
    takes_any = inspect.Parameter.VAR_KEYWORD in kinds.values()
    by_keyword = {n for n, k in kinds.items() if k in (k.POSITIONAL_OR_KEYWORD, k.KEYWORD_ONLY)}
    required = {
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    name = getattr(fn, "__name__", repr(fn))
    for params in configs:
        unknown = sorted(set(params) - by_keyword) if not takes_any else []
        if unknown:
            raise TypeError(
                f"{name}{signature} takes no argument {unknown[0]!r} (from param_grid); "
                f"rename the key or add the argument to {name}"
            )
        missing = sorted(required - set(params))
        if missing:
            raise TypeError(
                f"{name}{signature} needs {missing[0]!r}, which param_grid does not give for {params}; "
                "add it to the grid or give the argument a default"
            )
