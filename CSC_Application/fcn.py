"""Whole-image phase-two prediction with the exact fully convolutional equivalent of a patch
network.

A patch network maps one K×K patch to one probability vector. Sliding it over every pixel
patch by patch repeats almost all of its work; its fully convolutional equivalent computes the
same numbers for every pixel of a strip at once:

- 3×3 VALID convolutions stay as they are (they are already translation invariant);
- the first Dense layer after Flatten, which sees the final h×w×c feature window, becomes a
  Conv2D with an h×w kernel (the Dense kernel reshaped to (h, w, c, units));
- every later Dense layer becomes a 1×1 convolution;
- BatchNormalization (inference mode: ``y = a·x + s`` with ``a = gamma / sqrt(var + eps)``,
  ``s = beta − mean·a``) is folded into the preceding linear layer when that layer has no
  activation, otherwise into the following one (its kernel rows scaled by ``a``, its bias
  shifted by ``s @ kernel``); Dropout is the identity at inference.

On an input of (rows + K − 1, cols + K − 1) pixels the result is (rows, cols, n_classes):
exactly the patch network's output for the patch centred on each pixel.
"""
import logging

import numpy as np

from csc.backend import load_keras, load_tensorflow
from csc.errors import ModelError

log = logging.getLogger(__name__)


class _Linear:
    """One linear layer of the equivalent network: kernel (kh, kw, c_in, c_out), bias, and its
    activation name."""

    def __init__(self, kernel, bias, activation):
        self.kernel = np.asarray(kernel, dtype=np.float64)
        self.bias = np.asarray(bias, dtype=np.float64)
        self.activation = activation

    def fold_input(self, scale, shift):
        """Absorb ``x → scale·x + shift`` applied to this layer's input channels."""
        c_in = self.kernel.shape[2]
        scale = _per_channel(scale, c_in)
        shift = _per_channel(shift, c_in)
        self.bias = self.bias + np.einsum("hwio,i->o", self.kernel, shift)
        self.kernel = self.kernel * scale[None, None, :, None]

    def fold_output(self, scale, shift):
        """Absorb ``y → scale·y + shift`` applied to this layer's (linear) output."""
        self.kernel = self.kernel * scale
        self.bias = self.bias * scale + shift


def _per_channel(values, channels):
    values = np.asarray(values, dtype=np.float64)
    if values.size == channels:
        return values
    raise ModelError(f"cannot fold a {values.size}-channel normalisation into a layer with "
                     f"{channels} input channels")


def _activation_name(layer):
    keras = load_keras()

    act = getattr(layer, "activation", None)
    if act is None:
        return "linear"
    name = keras.activations.serialize(act)
    return name if isinstance(name, str) else name.get("config", {}).get("name", str(name))


def _numpy(variable):
    keras = load_keras()

    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64)


def _flatten_input_affine(scale, shift, flat_shape):
    """A per-channel affine applied before Flatten, expressed on the flattened features."""
    if flat_shape is None:
        return scale, shift
    h, w, c = flat_shape
    if np.size(scale) == c:
        return np.tile(scale, h * w), np.tile(shift, h * w)
    return scale, shift


def linear_layers(model):
    """The patch network ``model`` as a list of ``_Linear`` layers (conv form)."""
    keras = load_keras()
    layers = keras.layers

    out = []
    pending = None        # (scale, shift) waiting to be folded into the next linear layer
    flat_shape = None     # (h, w, c) seen by Flatten, until the first Dense consumes it
    last_is_linear = False
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, layers.Conv2D):
            if (layer.padding != "valid" or tuple(layer.strides) != (1, 1)
                    or tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1):
                raise ModelError(f"layer {layer.name}: only stride-1 VALID convolutions convert "
                                 "to a fully convolutional network")
            kernel = _numpy(layer.kernel)
            bias = _numpy(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1])
            lin = _Linear(kernel, bias, _activation_name(layer))
        elif isinstance(layer, layers.Flatten):
            shape = tuple(int(s) for s in layer.input.shape[1:])
            flat_shape = shape if len(shape) == 3 else (1, 1, int(np.prod(shape)))
            if pending is not None:
                pending = _flatten_input_affine(*pending, flat_shape)
            last_is_linear = False
            continue
        elif isinstance(layer, layers.Dense):
            kernel = _numpy(layer.kernel)
            bias = _numpy(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1])
            if pending is not None:  # fold in the flattened space, before the reshape
                scale = _per_channel(pending[0], kernel.shape[0])
                shift = _per_channel(pending[1], kernel.shape[0])
                bias = bias + shift @ kernel
                kernel = kernel * scale[:, None]
                pending = None
            h, w, c = flat_shape if flat_shape is not None else (1, 1, kernel.shape[0])
            lin = _Linear(kernel.reshape(h, w, c, kernel.shape[-1]), bias,
                          _activation_name(layer))
            flat_shape = None
        elif isinstance(layer, layers.BatchNormalization):
            if layer.axis not in (-1, len(layer.input.shape) - 1) and layer.axis != [-1]:
                raise ModelError(f"layer {layer.name}: only channel-last BatchNormalization "
                                 "folds into a convolution")
            mean = _numpy(layer.moving_mean)
            var = _numpy(layer.moving_variance)
            gamma = _numpy(layer.gamma) if layer.gamma is not None else np.ones_like(mean)
            beta = _numpy(layer.beta) if layer.beta is not None else np.zeros_like(mean)
            scale = gamma / np.sqrt(var + float(layer.epsilon))
            shift = beta - mean * scale
            if last_is_linear and out and out[-1].activation == "linear" and pending is None:
                out[-1].fold_output(scale, shift)
            elif pending is None:
                pending = (scale, shift)
            else:
                pending = (pending[0] * scale, pending[1] * scale + shift)
            continue
        elif isinstance(layer, layers.Dropout):
            continue
        elif isinstance(layer, layers.Activation):
            if not out or out[-1].activation != "linear" or pending is not None:
                raise ModelError(f"layer {layer.name}: a separate activation must follow a "
                                 "linear layer directly to convert")
            out[-1].activation = _activation_name(layer)
            last_is_linear = False
            continue
        else:
            raise ModelError(f"layer {layer.name} ({type(layer).__name__}) has no fully "
                             "convolutional equivalent here; use Conv2D/Dense/"
                             "BatchNormalization/Flatten/Dropout layers")
        if pending is not None:
            lin.fold_input(*pending)
            pending = None
        out.append(lin)
        last_is_linear = True
    if pending is not None:
        raise ModelError(f"{model.name}: a BatchNormalization after the last linear layer "
                         "cannot be folded")
    return out


def fully_convolutional(model):
    """The exact fully convolutional equivalent of the patch network ``model`` (input any
    rows × cols × bands, VALID output (rows − K + 1) × (cols − K + 1) × n_classes), as a Keras
    model of Conv2D layers with BatchNormalization folded in."""
    keras = load_keras()
    layers = keras.layers

    n_bands = int(model.input_shape[-1])
    inputs = keras.Input(shape=(None, None, n_bands), name="strip")
    x = inputs
    convs = []
    for i, lin in enumerate(linear_layers(model)):
        conv = layers.Conv2D(lin.kernel.shape[-1], lin.kernel.shape[:2], padding="valid",
                             activation=lin.activation, dtype="float32", name=f"fcn{i + 1}")
        x = conv(x)
        conv.set_weights([lin.kernel.astype(np.float32), lin.bias.astype(np.float32)])
        convs.append(conv)
    fcn = keras.Model(inputs, x, name=f"{model.name}_fcn")
    k = 1 + sum(int(c.kernel.shape[0]) - 1 for c in convs)
    if k != int(model.input_shape[1]):
        raise ModelError(f"{model.name}: the converted network sees {k}×{k} pixels but the "
                         f"patch network takes {model.input_shape[1]}×{model.input_shape[2]}")
    return fcn


def _compiled(fcn):
    """A graph-compiled call of ``fcn`` traced once for any block shape."""
    tf = load_tensorflow()

    fn = getattr(fcn, "_csc_predict", None)
    if fn is None:
        spec = tf.TensorSpec([None, None, None, int(fcn.input_shape[-1])], tf.float32)
        fn = tf.function(lambda x: fcn(x, training=False), input_signature=[spec])
        fcn._csc_predict = fn
    return fn


def predict_blocks(fcn, strip, *, halo, max_pixels=1 << 16):
    """Run ``fcn`` over a padded strip (rows + 2·halo, cols + 2·halo, bands) in blocks of at
    most ``max_pixels`` output pixels (bounding activation memory whatever the strip width);
    returns (rows, cols, n_classes) float32."""
    strip = np.asarray(strip, dtype=np.float32)
    rows, cols = strip.shape[0] - 2 * halo, strip.shape[1] - 2 * halo
    if rows < 1 or cols < 1:
        raise ValueError(f"strip of shape {strip.shape[:2]} is smaller than its halo {halo}")
    n_classes = int(fcn.output_shape[-1])
    out = np.empty((rows, cols, n_classes), dtype=np.float32)
    block_cols = int(min(cols, max(1, max_pixels)))
    block_rows = int(min(rows, max(1, max_pixels // block_cols)))
    fn = _compiled(fcn)
    for r0 in range(0, rows, block_rows):
        r1 = min(r0 + block_rows, rows)
        for c0 in range(0, cols, block_cols):
            c1 = min(c0 + block_cols, cols)
            block = strip[None, r0:r1 + 2 * halo, c0:c1 + 2 * halo]
            out[r0:r1, c0:c1] = fn(block).numpy()[0]
    return out
