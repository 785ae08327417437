"""wang2023's score fusion (Table 2): the unimodal systems' logits summed per utterance.

Pure pandas / numpy, so that the fusion step starts without torch or transformers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def score_fusion(predictions: Sequence[pd.DataFrame], classes: Sequence[str]) -> pd.DataFrame:
    """wang2023 "Score Fusion": the sum of the unimodal systems' logits, per utterance."""
    cols = [f"logit_{c}" for c in classes]
    base = predictions[0][["utt_id", "gold"]].reset_index(drop=True)
    total = np.zeros((len(base), len(classes)))
    for p in predictions:
        p = p.set_index("utt_id").loc[base["utt_id"]]
        if list(p["gold"]) != list(base["gold"]):
            raise ValueError("score fusion: the systems' predictions disagree on the gold labels")
        total += p[cols].to_numpy(dtype=float)
    probs = np.exp(total - total.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    out = base.copy()
    out["pred"] = [classes[int(k)] for k in total.argmax(1)]
    for k, c in enumerate(classes):
        out[f"p_{c}"] = probs[:, k]
    for k, c in enumerate(classes):
        out[f"logit_{c}"] = total[:, k]
    return out
