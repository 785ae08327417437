"""Features computed once per corpus and fold (rules in ``workflow/rules/hierarchical.smk``
and ``workflow/rules/lemer.smk``): acoustic descriptors, SSL and word embeddings, label
keywords (TF-IDF) and codebook frames.
"""
