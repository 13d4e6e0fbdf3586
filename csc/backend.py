"""TensorFlow/Keras set-up, imported lazily so the rest of the package loads fast.

``setup_backend`` seeds every generator, sizes the thread pools, and when a GPU is present
turns on mixed precision and a distribution strategy, so the same code runs on a laptop CPU
and a multi-GPU node without change."""
import contextlib
import logging
import os
import sys
import tempfile

log = logging.getLogger(__name__)

_STATE = {}


def quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def native_stderr_quiet():
    """Hold back what native code writes to file descriptor 2 (TensorFlow's absl and oneDNN
    start-up lines, which ignore Python's logging) unless TensorFlow logging was asked for
    (``csc -vv`` sets ``TF_CPP_MIN_LOG_LEVEL=0``). What was held back is shown if the enclosed
    code fails."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") in ("0", "1"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):   # no real stderr (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def load_keras():
    """The ``keras`` module, imported on first use with TensorFlow's start-up lines held back
    (the one place the project imports Keras, so everything else loads without it)."""
    quiet_tensorflow()
    if "keras" not in sys.modules:
        with native_stderr_quiet():
            import keras  # noqa: F401
            import tensorflow  # noqa: F401  (its native start-up happens here)
    import keras

    return keras


def load_tensorflow():
    """The ``tensorflow`` module, imported on first use (see :func:`load_keras`)."""
    load_keras()
    import tensorflow

    return tensorflow


def thread_cap():
    """The threads this process's jobs were given (:func:`setup_backend` ``threads``, as a
    sweep worker passes ``--threads-per-job``), or None: the CPU learners outside TensorFlow
    (LightGBM, random forests) size their thread pools by it, since two jobs whose pools
    together exceed the cores ran 3.4 times slower (LightGBM, two jobs on two cores)."""
    return _STATE.get("threads")


def setup_backend(*, seed=None, threads=None, deterministic=True):
    """Configure TensorFlow once per process; return the distribution strategy.

    ``threads`` caps intra-op threads (a Dask worker passes its share of the cores)."""
    keras = load_keras()
    tf = load_tensorflow()

    if "strategy" not in _STATE:
        if threads:
            _STATE["threads"] = int(threads)
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
