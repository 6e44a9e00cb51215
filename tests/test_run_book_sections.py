"""tools/run_book_sections.py: the book's PyTorch tab, as each edition marks it, run in a kernel against d2l_helpers.

No part of the book is stored here, so these tests write small sections of
their own in each edition's Markdown conventions (d2l-en's ``%%tab``,
d2l-zh's ``#@tab``) and run them as the tool runs the book's. The book's own
sections run only from a checkout: set ``D2L_EN_CHECKOUT`` and/or
``D2L_ZH_CHECKOUT`` to one (``git clone https://github.com/d2l-ai/d2l-en``)
to run their first section, sequence models, here; without one that test is
skipped.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import run_book_sections as tool  # noqa: E402

FENCE = "`" * 3


def section(*blocks):
    """Markdown with one ``{.python .input}`` block per string (its first line may be a tab mark)."""
    return "Some prose.\n\n" + "\n\n".join(
        f"{FENCE}{{.python .input}}\n{textwrap.dedent(b).strip()}\n{FENCE}" for b in blocks
    )


EN = section(
    """
    %load_ext d2lbook.tab
    tab.interact_select('mxnet', 'pytorch')
    """,
    """
    %%tab mxnet
    from d2l import mxnet as d2l
    """,
    """
    %%tab pytorch
    %matplotlib inline
    from d2l import torch as d2l
    """,
    """
    %%tab all
    value = 1
    if tab.selected('pytorch'):
        value = 2
    if tab.selected('mxnet', 'tensorflow'):
        value = 3
    print(value)
    """,
    """
    %%tab tensorflow, jax
    value = 4
    """,
)

ZH = section(
    """
    from d2l import mxnet as d2l
    """,
    """
    #@tab pytorch
    %matplotlib inline
    from d2l import torch as d2l
    """,
    """
    #@tab mxnet, pytorch
    x = 1
    """,
    """
    #@tab tensorflow
    x = 2
    """,
    """
    #@tab all
    print(x)
    """,
)


def test_the_english_editions_pytorch_tab_as_d2l_ai_shows_it():
    assert tool.edition(EN) == "en"
    assert list(tool.pytorch_blocks(EN)) == [
        "tab.interact_select('mxnet', 'pytorch')",
        "import d2l_helpers as d2l",
        "value = 1\nvalue = 2\nprint(value)",
    ]


def test_the_chinese_editions_pytorch_tab_without_its_default_mxnet_blocks():
    assert tool.edition(ZH) == "zh"
    assert list(tool.pytorch_blocks(ZH)) == ["import d2l_helpers as d2l", "x = 1", "print(x)"]


def test_each_editions_sections_start_with_the_chapters_first(tmp_path):
    assert tool.default_sections(tmp_path) == tool.SECTIONS_EN
    (tmp_path / tool.SECTIONS_ZH[1]).parent.mkdir(parents=True)
    (tmp_path / tool.SECTIONS_ZH[1]).write_text(ZH)
    assert tool.default_sections(tmp_path) == tool.SECTIONS_ZH
    first = "chapter_recurrent-neural-networks/sequence.md"
    assert tool.SECTIONS_EN[0] == tool.SECTIONS_ZH[0] == first
    assert (
        "chapter_recurrent-modern/deep-rnn.md" in tool.SECTIONS_EN
        and "chapter_recurrent-modern/deep-rnn.md" in tool.SECTIONS_ZH
    )


# Sections of our own in the two editions' conventions, using what the books' sequence-model sections use.
ZH_SEQUENCE = section(
    """
    #@tab pytorch
    from d2l import torch as d2l
    import torch
    from torch import nn
    """,
    """
    #@tab all
    torch.manual_seed(0)
    t = d2l.arange(1, 201, dtype=d2l.float32)
    x = d2l.sin(0.05 * t) + d2l.normal(0, 0.1, (200,))
    features = torch.stack([x[i : 196 + i] for i in range(4)], 1)
    labels = d2l.reshape(x[4:], (-1, 1))
    train_iter = d2l.load_array((features, labels), 10, is_train=True)
    net = nn.Linear(4, 1)
    loss = nn.MSELoss(reduction='none')
    print(f'before {d2l.evaluate_loss(net, train_iter, loss) > 0.02}')
    """,
    """
    #@tab all
    d2l.plot([t, t[4:]], [d2l.numpy(x), d2l.numpy(net(features))], 'time', 'x',
             legend=['data', 'preds'], xlim=[1, 200], figsize=(6, 3))
    """,
)

EN_SEQUENCE = section(
    """
    %%tab pytorch
    from d2l import torch as d2l
    import os
    import torch
    """,
    """
    %%tab all
    class Lagged(d2l.DataModule):
        def __init__(self, batch_size=10):
            super().__init__()
            self.save_hyperparameters()
            self.x = d2l.sin(0.05 * d2l.arange(1, 201, dtype=d2l.float32))
            self.features = d2l.stack([self.x[i : 196 + i] for i in range(4)], 1)
            self.labels = d2l.reshape(self.x[4:], (-1, 1))
            os.makedirs(self.root, exist_ok=True)
            with open(os.path.join(self.root, 'notes.txt'), 'w') as f:
                f.write('the learner writes here')

        def get_dataloader(self, train):
            i = slice(0, 150) if train else slice(150, None)
            return self.get_tensorloader([self.features, self.labels], train, i)

    data = Lagged()
    model = d2l.LinearRegression(lr=0.01)
    d2l.Trainer(max_epochs=2).fit(model, data)
    print('trained', [tuple(p.shape) for p in model.get_w_b()])
    """,
)

FAILING = section(
    """
    %%tab all
    from d2l import torch as d2l
    print('before the error')
    d2l.no_such_function()
    """,
)


def test_sections_run_in_a_kernel_each_in_a_fresh_folder_and_a_failure_is_reported(tmp_path):
    checkout = tmp_path / "checkout"
    for name, text in (("zh.md", ZH_SEQUENCE), ("en.md", EN_SEQUENCE), ("failing.md", FAILING)):
        (checkout / "chapter").mkdir(parents=True, exist_ok=True)
        (checkout / "chapter" / name).write_text(text, encoding="utf-8")
    env = {**os.environ, "D2L_PLOT": "off"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_book_sections.py"), str(checkout)]
        + ["chapter/zh.md", "chapter/en.md", "chapter/failing.md"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 1, result.stderr[-2000:]
    zh, en, failing = out.split("===== ")[1:]
    assert zh.startswith("chapter/zh.md (zh): 3 blocks") and "before True" in zh
    assert "<Figure size 600x300 with 1 Axes>" in zh and "../data: nothing written" in zh and "ERROR" not in zh
    assert en.startswith("chapter/en.md (en): 2 blocks") and "trained [(1, 4), (1,)]" in en
    assert "../data: notes.txt" in en and "ERROR" not in en  # the DataModule's root is ../data, as upstream's
    assert "before the error" in failing and "ERROR" in failing and "no_such_function" in failing
    assert not (tmp_path / "data").exists()  # each section ran in a temporary folder of its own


@pytest.mark.parametrize("edition", ["en", "zh"])
def test_the_books_own_sequence_models_section_runs(edition, tmp_path):
    checkout = os.environ.get(f"D2L_{edition.upper()}_CHECKOUT")
    if not checkout:
        pytest.skip(f"no checkout of d2l-ai/d2l-{edition}: set D2L_{edition.upper()}_CHECKOUT to run its first section")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_book_sections.py"), checkout, tool.SECTIONS_EN[0]],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"({edition})" in result.stdout and "<Figure size 600x300 with 1 Axes>" in result.stdout
