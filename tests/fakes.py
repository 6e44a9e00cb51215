"""Stand-ins the tests share."""


class FakeDisplay:
    """Stands in for IPython's ``display(bundle, raw=True, display_id=True)``; it is also the handle."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, bundle, raw=False, display_id=False):
        assert raw and display_id is True
        self.shown.append(bundle)
        return self

    def update(self, bundle, raw=False):
        assert raw
        self.updates.append(bundle)

    @property
    def bundles(self):
        return self.shown + self.updates
