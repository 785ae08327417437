"""Scoring predictions: metrics, per-fold scoring, score fusion, the protocol passport."""
