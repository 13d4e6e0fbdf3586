"""TensorFlow/Keras set-up, imported lazily so the rest of the package loads fast.

``setup_backend`` seeds every generator, sizes the thread pools, and when a GPU is present
turns on mixed precision and a distribution strategy, so the same code runs on a laptop CPU
and a multi-GPU node without change."""
import logging
import os

log = logging.getLogger(__name__)

_STATE = {}


def quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def load_keras():
    """The ``keras`` module, imported on first use with TensorFlow's start-up logging quietened
    (the one place the project imports Keras, so everything else loads without it)."""
    quiet_tensorflow()
    import keras

    return keras


def load_tensorflow():
    """The ``tensorflow`` module, imported on first use (see :func:`load_keras`)."""
    quiet_tensorflow()
    import tensorflow

    return tensorflow


def setup_backend(*, seed=None, threads=None, deterministic=True):
    """Configure TensorFlow once per process; return the distribution strategy.

    ``threads`` caps intra-op threads (a Dask worker passes its share of the cores)."""
    keras = load_keras()
    tf = load_tensorflow()

    if "strategy" not in _STATE:
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(int(threads))
                tf.config.threading.set_inter_op_parallelism_threads(max(1, int(threads) // 2))
            except RuntimeError:  # already initialised in this process
                log.debug("TensorFlow threads already configured")
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            for gpu in gpus:
                tf.config.experimental.set_memory_growth(gpu, True)
            keras.mixed_precision.set_global_policy("mixed_float16")
            strategy = (tf.distribute.MirroredStrategy() if len(gpus) > 1
                        else tf.distribute.OneDeviceStrategy("/gpu:0"))
            log.info("using %d GPU(s) with mixed precision", len(gpus))
        else:
            strategy = tf.distribute.get_strategy()
        _STATE["strategy"] = strategy
        _STATE["gpu"] = bool(gpus)
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
        if deterministic and not _STATE["gpu"]:
            try:
                tf.config.experimental.enable_op_determinism()
            except (AttributeError, RuntimeError):
                log.debug("op determinism unavailable")
    return _STATE["strategy"]


def has_gpu():
    setup_backend()
    return _STATE["gpu"]


def device_name():
    return "GPU" if has_gpu() else "CPU"
