"""The embedded demo: synthetic IEMOCAP/MELD-shaped corpora in the release layouts."""
