"""Phase one of CNN-Supervised Classification: tiles cut from labelled images, class balancing,
the memory-mapped tile tensor, and training / fine-tuning of a VGG16 tile classifier.

Modules: ``tiles`` (selection and the tile-set writer), ``thinning`` (class balancing),
``dataset`` (tile-set reader and batch feeder), ``model`` (VGG16 builder, loading, prediction),
``training`` (train, finetune). TensorFlow is imported only inside the functions that need it.
"""
