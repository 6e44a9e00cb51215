"""Showing a widget panel that a saved notebook keeps as a picture: ipywidgets 7 (Colab's) and 8 alike.

Every live panel of the package (``train_ch8``'s dashboard, the English
edition's ``Trainer.fit`` board, ``d2l.sweep``) is shown by :func:`show_panel`,
which returns a :class:`Panel`: two outputs, side by side in the cell::

    the panel   text/plain "<d2l training plot>" (constant: nbval compares it)
                + the widget view of the live panel
    its frame   image/png, the latest frame captioned "saved while training
                ran: run the cell again" (no text/plain: nbval, which never
                sees display updates, compares the first bundles' text)
                + the widget view of an empty, hidden widget (so that front
                ends show nothing for it while the kernel runs), and output
                metadata {"d2l_helpers": {"frame_of": <the panel's model id>}}

``Panel.keep(make_png)`` replaces the frame, at most every ``KEEP_INTERVAL``
seconds (autosave comes every 120 s; each kept frame is one more PNG to draw
and send); only that hidden output is redrawn by the front end, never the panel (a panel re-rendered by an update
of its own output blinks: its new image element is blank until decoded, seen
in JupyterLab). On every save, the Jupyter server's pre-save hook
(:mod:`d2l_helpers.jupyter_hook`, installed by ``make lab``) writes the frame
as a plain picture in place of the two, never a widget view that would reopen
as "Error displaying widget: model not found". ``Panel.finish(png)`` replaces
the panel by the final figure (text/plain and image/png only), empties the
frame's output (no data: nothing shows; the hook and ``tools/run_notebooks.py``
drop it from the file) and closes the widgets.
"""

from __future__ import annotations

import base64
import time

__all__ = ["METADATA_KEY", "PLAIN_TEXT", "SAVED_CAPTION", "WIDGET_VIEW", "Panel", "finish_panel", "show_panel"]

# The text/plain the panel and its final image carry. Constant, so that nbval's
# strict comparison of a saved notebook passes (it skips PNG and widget views).
PLAIN_TEXT = "<d2l training plot>"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
KEEP_INTERVAL = 10.0  # seconds between two frames kept for a save, at least
# What a kept frame says of itself (constant: drawn once, then pasted; the curve shows where it was).
SAVED_CAPTION = "saved while training ran: run the cell again"
# The output metadata of a panel's frame: {"d2l_helpers": {"frame_of": <the panel's model id>}}.
METADATA_KEY = "d2l_helpers"


def _widget_view(box) -> dict:
    """The display bundle ipywidgets itself publishes for ``box``, caught before it is sent.

    ``display(box)`` is how ipywidgets shows a widget: version 8 through
    ``_repr_mimebundle_``, version 7 (Colab's) through ``_ipython_display_``,
    which publishes the bundle itself and so can take no display id. Running
    that path under IPython's ``capture_output`` keeps its bundle (and its
    ``on_displayed`` callbacks still fire) so that :func:`show_panel` can send
    it again, under a display id that the final image will replace.
    """
    from IPython.core.interactiveshell import InteractiveShell

    if InteractiveShell.initialized():
        from IPython.display import display
        from IPython.utils.capture import capture_output

        with capture_output(stdout=False, stderr=False, display=True) as captured:
            display(box)
        for output in captured.outputs:
            if WIDGET_VIEW in output.data:
                return output.data[WIDGET_VIEW]
    elif hasattr(box, "_repr_mimebundle_"):  # no shell to capture with (unit tests): ask ipywidgets 8 directly
        return box._repr_mimebundle_()[WIDGET_VIEW]
    raise RuntimeError("ipywidgets published no widget view for the panel (is this a Jupyter kernel?)")


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


class Panel:
    """One displayed panel: ``keep(png)`` at each refresh, ``finish(png, widgets)`` once at the end.

    ``handle`` is the panel's IPython ``DisplayHandle`` (its output's display
    id), ``frame`` the handle of the output that keeps its latest frame.
    """

    def __init__(self, handle, view, keeper, keeper_view, clock=time.perf_counter):
        self.handle, self.view, self.keeper, self.keeper_view = handle, view, keeper, keeper_view
        self.metadata = {METADATA_KEY: {"frame_of": view.get("model_id", "")}}
        self.frame = None  # (show_panel displays it)
        self.clock, self.kept_at, self.kept = clock, clock(), 0

    def _frame_bundle(self, png):
        return {WIDGET_VIEW: self.keeper_view, "image/png": _b64(png)}

    def keep(self, make_png) -> bool:
        """Make ``make_png()`` (the latest frame, captioned as saved mid-run) the picture a save writes.

        At most every ``KEEP_INTERVAL`` seconds (else it does nothing and returns False).
        """
        now = self.clock()
        if now - self.kept_at < KEEP_INTERVAL:
            return False
        self.frame.update(self._frame_bundle(make_png()), metadata=self.metadata, raw=True)
        self.kept_at, self.kept = now, self.kept + 1
        return True

    def finish(self, png: bytes, widgets, images=()):
        """Replace the panel in place by the static ``png``, empty the frame's output, close ``widgets``.

        ``images`` (Image widgets) are emptied first: a notebook runner may store
        the last state of closed widgets in the notebook (nbclient does).
        """
        self.handle.update({"image/png": _b64(png), "text/plain": PLAIN_TEXT}, raw=True)
        self.frame.update({}, metadata=self.metadata, raw=True)
        for image in images:
            image.value = b""
        for widget in [*widgets, self.keeper]:
            widget.close()


def show_panel(box, png: bytes, display=None, clock=time.perf_counter) -> Panel:
    """Display the widget ``box``, and ``png`` as the frame a save keeps; return its :class:`Panel`.

    The widget view is the one ipywidgets publishes (``{"version_major": 2,
    "version_minor": 0, "model_id": ...}`` in versions 7 and 8), sent through
    IPython's display publisher with a display id. Colab's front end sees it
    there too: its widget support hooks the display publisher
    (``display_pub.register_hook`` in ``google.colab._widgets``). The
    text/plain beside it is constant, so a saved notebook compares equal under
    nbval whatever the run. ``clock`` times :meth:`Panel.keep` (tests replace it).
    """
    import ipywidgets as widgets

    if display is None:
        from IPython.display import display
    view = _widget_view(box)
    handle = display({"text/plain": PLAIN_TEXT, WIDGET_VIEW: view}, raw=True, display_id=True)
    keeper = widgets.HTML("", layout={"display": "none"})  # shows nothing; its output carries the frame
    panel = Panel(handle, view, keeper, _widget_view(keeper), clock)
    panel.frame = display(panel._frame_bundle(png), metadata=panel.metadata, raw=True, display_id=True)
    return panel


def finish_panel(panel: Panel, png: bytes, widgets, images=()):
    """``panel.finish(png, widgets, images)``."""
    panel.finish(png, widgets, images)
