"""The papers' figures, one module per paper, in one shared style (:mod:`.style`)."""
