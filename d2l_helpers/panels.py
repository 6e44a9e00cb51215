"""Showing a widget panel that a saved notebook keeps as a picture: ipywidgets 7 (Colab's) and 8 alike.

Every live panel of the package (``train_ch8``'s dashboard, the English
edition's ``Trainer.fit`` board, ``d2l.sweep``) is shown by :func:`show_panel`,
which returns a :class:`Panel`. Its one output carries three mimetypes::

    text/plain                                 "<d2l training plot>"  (constant: nbval compares it)
    application/vnd.jupyter.widget-view+json   the live panel, while the kernel runs
    image/png                                  the latest frame, captioned "saved while training ran ..."

A front end shows the widget view. ``Panel.keep(png)`` replaces the PNG beside
it at each frame, so that a notebook saved mid-run holds the latest frame; the
Jupyter server's pre-save hook (:mod:`d2l_helpers.jupyter_hook`, installed by
``make lab``) then writes only that PNG to the file, never a widget view that
would reopen as "Error displaying widget: model not found". ``Panel.finish(png)``
replaces the whole output by the final figure (text/plain and image/png only)
and closes the widgets.
"""

from __future__ import annotations

import base64

__all__ = ["PLAIN_TEXT", "WIDGET_VIEW", "Panel", "finish_panel", "show_panel"]

# The text/plain the panel and its final image carry. Constant, so that nbval's
# strict comparison of a saved notebook passes (it skips PNG and widget views).
PLAIN_TEXT = "<d2l training plot>"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# What the kept frame says about itself when a saved notebook is reopened.
SAVED_CAPTION = "saved while {what} ran: run the cell again"


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
    """One displayed panel: ``keep(png)`` at each frame, ``finish(png, widgets)`` once at the end.

    ``handle`` is IPython's ``DisplayHandle`` (the output's display id);
    ``view`` the widget view that every update sends again unchanged.
    """

    def __init__(self, handle, view):
        self.handle, self.view = handle, view

    def keep(self, png: bytes):
        """Put ``png`` (the latest frame, captioned as saved mid-run) beside the widget view."""
        bundle = {"text/plain": PLAIN_TEXT, WIDGET_VIEW: self.view, "image/png": _b64(png)}
        self.handle.update(bundle, raw=True)

    def finish(self, png: bytes, widgets, images=()):
        """Replace the panel in place by the static ``png`` and close ``widgets``.

        ``images`` (Image widgets) are emptied first: a notebook runner may store
        the last state of closed widgets in the notebook (nbclient does).
        """
        self.handle.update({"image/png": _b64(png), "text/plain": PLAIN_TEXT}, raw=True)
        for image in images:
            image.value = b""
        for widget in widgets:
            widget.close()


def show_panel(box, png: bytes, display=None) -> Panel:
    """Display the widget ``box``, with ``png`` kept beside it for a saved notebook; return its :class:`Panel`.

    The widget view is the one ipywidgets publishes (``{"version_major": 2,
    "version_minor": 0, "model_id": ...}`` in versions 7 and 8), sent through
    IPython's display publisher with a display id. Colab's front end sees it
    there too: its widget support hooks the display publisher
    (``display_pub.register_hook`` in ``google.colab._widgets``). The
    text/plain beside it is constant, so a saved notebook compares equal under
    nbval whatever the run.
    """
    if display is None:
        from IPython.display import display
    view = _widget_view(box)
    bundle = {"text/plain": PLAIN_TEXT, WIDGET_VIEW: view, "image/png": _b64(png)}
    return Panel(display(bundle, raw=True, display_id=True), view)


def finish_panel(panel: Panel, png: bytes, widgets, images=()):
    """``panel.finish(png, widgets, images)``."""
    panel.finish(png, widgets, images)
