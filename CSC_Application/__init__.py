"""Phase two of CNN-Supervised Classification: a small per-image learner (an MLP on pixels at
patch size 1, a compact CNN on K×K patches otherwise) trained on the phase-one tile map, then
applied to every pixel strip by strip as an exact fully convolutional network."""
