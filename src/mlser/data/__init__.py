"""Corpora as the pipeline reads them (rules in ``workflow/rules/corpora.smk``).

Release readers (``corpora/``), the manifest, folds, audio, labels, transcripts and the
batches every training family draws from.
"""
