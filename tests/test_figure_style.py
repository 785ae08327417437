"""The shared figure style: both formats written, nothing left half-written."""

from pathlib import Path

import pytest

from mlser.report.figures import style


def test_save_figure_writes_pdf_and_png(tmp_path: Path) -> None:
    style.apply_style()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(style.COLUMN_WIDTH, 2))
    ax.plot([0, 1], [0, 1])
    paths = style.save_figure(fig, tmp_path / "fig")
    assert [p.name for p in paths] == ["fig.pdf", "fig.png"]
    assert paths[0].read_bytes().startswith(b"%PDF")
    assert paths[1].read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.pdf", "fig.png"]


def test_failed_save_leaves_nothing(tmp_path: Path) -> None:
    class Broken:
        def savefig(self, *args, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        style.save_figure(Broken(), tmp_path / "fig")
    assert list(tmp_path.iterdir()) == []


def test_emotion_order_puts_known_classes_first() -> None:
    assert style.emotion_order(["sad", "zzz", "neu", "ang", "hap"]) == [
        "neu",
        "hap",
        "ang",
        "sad",
        "zzz",
    ]
