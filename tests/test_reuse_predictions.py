"""A row scored with another row's predictions gets the same scores under its own id."""

from __future__ import annotations

import json

import pandas as pd

from mlser.cli import main
from mlser.evaluation import metrics_from_predictions


def test_reused_predictions_score_like_the_source(tmp_path) -> None:
    pred = pd.DataFrame(
        {
            "utt_id": ["a", "b", "c", "d"],
            "gold": ["neu", "hap", "ang", "ang"],
            "pred": ["neu", "ang", "ang", "ang"],
            "text": ["x y", "z", "w", "v"],
            "transcript": ["x", "z", "", "v"],
            "gender": [0, 1, 0, 1],
            "pred_gender": [0, 1, 1, 1],
            "style": [0, 0, 1, 1],
            "pred_style": [-100, -100, -100, -100],
        }
    )
    pred.to_csv(tmp_path / "p.tsv", sep="\t", index=False)
    source = {**metrics_from_predictions(pred), "experiment": "e1", "fold": "s1",
              "text_source": "asr", "model": "m.pt"}  # fmt: skip
    (tmp_path / "m.json").write_text(json.dumps(source))
    code = main(
        ["reuse-predictions", "--predictions", str(tmp_path / "p.tsv"),
         "--source-metrics", str(tmp_path / "m.json"), "--experiment-id", "e2", "--fold", "s1",
         "--out-predictions", str(tmp_path / "out/p.tsv"),
         "--out-metrics", str(tmp_path / "out/m.json")]
    )  # fmt: skip
    assert code == 0
    ours = json.loads((tmp_path / "out/m.json").read_text())
    assert ours.pop("experiment") == "e2" and ours.pop("predictions_of") == "e1"
    ours.pop("provenance")
    expected = json.loads(json.dumps(source))
    expected.pop("experiment")
    assert ours == expected  # UA, WA, WF1, WER, CER, GENDER_UA, recall, text source, model
    assert (tmp_path / "out/p.tsv").read_text() == (tmp_path / "p.tsv").read_text()
