"""Supervised pixel baselines: LightGBM and random-forest classifiers on per-pixel spectral and
texture features, trained on manual labels (or, in phase two, on the phase-one tile map)."""
