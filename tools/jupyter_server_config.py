"""Jupyter configuration from d2l_helpers: a training panel saved mid-run stays readable after any number of saves.

Installed by ``make lab`` into the environment's ``etc/jupyter/`` as
``jupyter_server_config.py`` (JupyterLab, Notebook 7) and read from there by
every server of that environment; the classic Notebook 6 reads the same lines
from ``jupyter_notebook_config.py``; or pass it yourself:
``jupyter lab --config=tools/jupyter_server_config.py``.

It sets the documented ``ContentsManager.pre_save_hook`` to
``d2l_helpers.jupyter_hook.pre_save_hook``: on every save, a panel's widget
view is written as the picture of its latest frame that the panel carries (see
that module). The hook is loaded from its file, without importing the package
(whose ``__init__`` imports torch) into the server; where ``d2l_helpers`` is
not installed, nothing is set. (jupyter_server logs "Overriding existing
pre_save_hook (pre_save_hook) with a new one" once as it starts: it applies
a configured hook twice; only one is set.)
"""

import importlib.util
import os


def _d2l_pre_save_hook():
    spec = importlib.util.find_spec("d2l_helpers")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "jupyter_hook.py")
    if not os.path.isfile(path):
        return None
    hook_spec = importlib.util.spec_from_file_location("d2l_helpers_jupyter_hook", path)
    module = importlib.util.module_from_spec(hook_spec)
    hook_spec.loader.exec_module(module)
    return module.pre_save_hook


_hook = _d2l_pre_save_hook()
if _hook is not None:
    c = get_config()  # noqa: F821 (given by Jupyter to its config files)
    c.ContentsManager.pre_save_hook = _hook
