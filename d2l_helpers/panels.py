"""Showing a widget panel, and replacing it by a static image: ipywidgets 7 (Colab's) and 8 alike.

Every live panel of the package (``train_ch8``'s dashboard, the English
edition's ``Trainer.fit`` board, ``d2l.sweep``) is shown by :func:`show_panel`
and ended by :func:`finish_panel`.
"""

from __future__ import annotations

import base64

__all__ = ["PLAIN_TEXT", "WIDGET_VIEW", "finish_panel", "show_panel"]

# The text/plain the panel and its final image carry. Constant, so that nbval's
# strict comparison of a saved notebook passes (it skips PNG and widget views).
PLAIN_TEXT = "<d2l training plot>"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


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


def show_panel(box, display=None):
    """Display the widget ``box``; return a handle that :func:`finish_panel` replaces by an image.

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
    bundle = {"text/plain": PLAIN_TEXT, WIDGET_VIEW: _widget_view(box)}
    return display(bundle, raw=True, display_id=True)


def finish_panel(handle, png: bytes, widgets, images=()):
    """Replace the panel of ``handle`` in place by the static ``png`` and close ``widgets``.

    ``images`` (Image widgets) are emptied first: a notebook runner may store
    the last state of closed widgets in the notebook (nbclient does).
    """
    handle.update({"image/png": base64.b64encode(png).decode("ascii"), "text/plain": PLAIN_TEXT}, raw=True)
    for image in images:
        image.value = b""
    for widget in widgets:
        widget.close()
