"""A Jupyter server pre-save hook: a training panel saved mid-run is written as the picture of its latest frame.

The package's live panels (``train_ch8``'s dashboard, ``Trainer.fit``'s board,
``d2l.sweep``'s panel) are two outputs while they run (see
:mod:`d2l_helpers.panels`): the panel's widget view, then a "frame" output
that carries the latest frame as an image/png (captioned "saved while training
ran: run the cell again") beside the widget view of a hidden widget, with the
output metadata ``{"d2l_helpers": {"frame_of": <the panel's model id>}}``. A
widget view in a saved notebook reopens, once the kernel is gone, as "Error
displaying widget: model not found" (ipywidgets #3888, #3270); a PNG always
shows, in JupyterLab, the classic Notebook, nbviewer and GitHub alike.

So on every save, :func:`pre_save_hook` rewrites what goes to the file:

* an output whose bundle holds a widget view *and* an image/png keeps only the
  picture (and its text/plain);
* a panel whose frame output is there is dropped: the frame stands in its place;
* a frame output emptied at the end of training (no data) is dropped;
* the saved widget state (where the front end saves it) loses the models that
  only the dropped views used.

What the learner sees in the open notebook does not change: the hook edits
only what is written. Every later save does the same, so the notebook stays
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
METADATA_KEY = "d2l_helpers"  # (panels.METADATA_KEY: not imported, see above)
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


def _frame_of(output) -> str | None:
    """The model id of the panel whose frame ``output`` is, or None."""
    metadata = output.get("metadata")
    mark = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    return mark.get("frame_of") if isinstance(mark, dict) else None


def _model_id(data):
    view = data.get(WIDGET_VIEW) if isinstance(data, dict) else None
    return view.get("model_id") if isinstance(view, dict) else None


def strip_widget_views(nb: dict) -> int:
    """Write, in place, every panel of ``nb`` (a notebook as a dict) as its picture; return how many views went.

    Drops the widget view of every output that also has an image/png, each
    panel whose frame output is there, each emptied frame output, and, from
    ``nb["metadata"]["widgets"]`` (where the front end saved the widgets'
    state), the models that only the dropped views used (the whole entry if
    nothing is left in it).
    """
    cells = [cell for cell in nb.get("cells", []) if isinstance(cell, dict) and isinstance(cell.get("outputs"), list)]
    outputs = [output for cell in cells for output in cell["outputs"] if isinstance(output, dict)]
    framed = {_frame_of(o) for o in outputs if _frame_of(o) and "image/png" in o.get("data", {})}
    texts = {_model_id(o.get("data")): o["data"].get("text/plain") for o in outputs if _model_id(o.get("data"))}
    dropped, kept = [], []
    for cell in cells:
        keep = []
        for output in cell["outputs"]:
            data = output.get("data") if isinstance(output, dict) else None
            model_id = _model_id(data)
            if isinstance(output, dict) and _frame_of(output) and not data:
                continue  # a frame emptied when training ended: nothing to show
            if model_id is not None and model_id in framed and "image/png" not in data:
                dropped.append(model_id)  # a live panel: its frame, next to it, stands in for it
                continue
            if model_id is not None and "image/png" in data:
                del data[WIDGET_VIEW]  # a widget with its own picture: the picture
                if _frame_of(output) and texts.get(_frame_of(output)) and "text/plain" not in data:
                    data["text/plain"] = texts[_frame_of(output)]  # (the panel's text, as its final figure has)
                dropped.append(model_id)
            elif model_id is not None:
                kept.append(model_id)
            keep.append(output)
        cell["outputs"] = keep
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
