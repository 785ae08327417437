"""Trained models outside the DAG: predict and export."""
