"""A Jupyter server pre-save hook: a widget output that carries a picture of itself is saved as that picture.

The package's live panels (``train_ch8``'s dashboard, ``Trainer.fit``'s board,
``d2l.sweep``'s panel) are one output with three mimetypes: the widget view, a
constant text/plain, and an image/png of the latest frame, captioned "saved
while training ran: run the cell again" (see :mod:`d2l_helpers.panels`). A
widget view in a saved notebook reopens, once the kernel is gone, as "Error
displaying widget: model not found" (ipywidgets #3888, #3270); a PNG always
shows, in JupyterLab, the classic Notebook, nbviewer and GitHub alike.

So on every save, :func:`pre_save_hook` drops the widget view of every output
whose bundle also holds an image/png, and the state of the widgets that only
those views used (where the front end saves widget state). What the learner
sees in the open notebook does not change: the hook edits only what is
written to the file. Every later save does the same, so the notebook stays
readable after any number of saves and reopens.

It is set by the server configuration ``tools/jupyter_server_config.py``
(``make lab`` installs it), which loads this file by its path: this module
imports nothing from the package (whose ``__init__`` imports torch) and
nothing heavy, since it runs inside the Jupyter server.
"""

from __future__ import annotations

import re

__all__ = ["WIDGET_VIEW", "pre_save_hook", "strip_widget_views"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-zA-Z_-]+)")


def _references(value) -> set[str]:
    """The widget model ids that a widget's saved state refers to ("IPY_MODEL_<id>" strings, nested anywhere)."""
    found, stack = set(), [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.update(_MODEL_REF.findall(item))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def _reachable(roots, state) -> set[str]:
    """``roots`` and every model their saved states refer to, transitively."""
    seen, stack = set(), list(roots)
    while stack:
        model_id = stack.pop()
        if model_id in seen:
            continue
        seen.add(model_id)
        entry = state.get(model_id)
        if isinstance(entry, dict):
            stack.extend(_references(entry.get("state", {})))
    return seen


def strip_widget_views(nb: dict) -> int:
    """Drop, in place, the widget view of every output of ``nb`` (a notebook as a dict) that also has an image/png.

    Also drops from ``nb["metadata"]["widgets"]`` (where the front end saved the
    widgets' state) the models that only those views used, and the whole entry
    if nothing is left in it. Returns the number of views dropped.
    """
    dropped, kept = [], []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            data = output.get("data") if isinstance(output, dict) else None
            if not isinstance(data, dict) or WIDGET_VIEW not in data:
                continue
            view = data[WIDGET_VIEW]
            model_id = view.get("model_id") if isinstance(view, dict) else None
            if "image/png" in data:
                del data[WIDGET_VIEW]
                dropped.append(model_id)
            else:
                kept.append(model_id)
    widgets = nb.get("metadata", {}).get("widgets")
    saved = widgets.get(WIDGET_STATE) if isinstance(widgets, dict) else None
    state = saved.get("state") if isinstance(saved, dict) else None
    if dropped and isinstance(state, dict):
        unused = _reachable([m for m in dropped if m], state) - _reachable([m for m in kept if m], state)
        for model_id in unused:
            state.pop(model_id, None)
        if not state:
            del widgets[WIDGET_STATE]
            if not widgets:
                del nb["metadata"]["widgets"]
    return len(dropped)


def pre_save_hook(model, path=None, contents_manager=None, **kwargs):
    """``ContentsManager.pre_save_hook``: called by the Jupyter server (and the classic Notebook) before each save.

    ``model`` is the contents model being saved; for a notebook its
    ``"content"`` is the notebook as a dict, edited here in place.
    """
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    dropped = strip_widget_views(model["content"])
    log = getattr(contents_manager, "log", None)
    if dropped and log is not None:
        log.debug("d2l_helpers: saved %d widget panel(s) of %s as their latest frame", dropped, path)
