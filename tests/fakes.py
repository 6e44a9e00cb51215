"""Stand-ins the tests share."""


class FakeDisplay:
    """Stands in for IPython's ``display(bundle, raw=True, display_id=True)``.

    ``shown`` holds the bundles displayed, ``updates`` the bundles of every
    update, whichever output it went to (``targets``: the index in ``shown``
    of the output each update replaced; ``metadata``: each update's output
    metadata). Each display returns a handle whose other attributes are the
    display's (``panel.handle.shown``).
    """

    def __init__(self):
        self.shown, self.updates, self.targets, self.metadata = [], [], [], []

    def __call__(self, bundle, raw=False, display_id=False, metadata=None):
        assert raw and display_id is True
        self.shown.append(bundle)
        return _Handle(self, len(self.shown) - 1)

    def update(self, bundle, raw=False, metadata=None):  # (the first output's handle, as before)
        _Handle(self, 0).update(bundle, raw=raw, metadata=metadata)

    def updates_of(self, index):
        """The bundles of the updates of output ``index``."""
        return [bundle for bundle, target in zip(self.updates, self.targets) if target == index]

    @property
    def bundles(self):
        return self.shown + self.updates


class _Handle:
    def __init__(self, display, index):
        self.display, self.index = display, index

    def update(self, bundle, raw=False, metadata=None):
        assert raw
        self.display.updates.append(bundle)
        self.display.targets.append(self.index)
        self.display.metadata.append(metadata)

    def __getattr__(self, name):
        return getattr(self.display, name)
