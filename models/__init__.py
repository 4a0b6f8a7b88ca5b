"""Ready-made models built on ``minigrad.nn``, and the explicit hand-derived BPTT
(``models.bptt``)."""
