"""The torch/skorch pieces the estimators assemble in ``fit``.

* :class:`InputModel` wraps an architecture from :mod:`skfer.nets` with the
  input scaling, per-channel standardisation (buffers, so they travel with
  the weights) and training-time augmentation.
* :class:`SkferNet` is the skorch ``NeuralNetClassifier`` kept as ``net_``:
  it adds mixed precision on CUDA, an optional ``torch.compile``'d forward
  pass and hands the device to the tensor iterator. It is an
  implementation detail; the public estimators wrap it.
"""

from __future__ import annotations

import contextlib
import threading
import time

import torch
import torch.nn.functional as F
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import TeeGenerator
from torch import nn

from ._data import augment_batch

__all__ = ["InputModel", "SkferNet", "SoftmaxMSELoss", "softmax"]


def softmax(logits):
    """Predict nonlinearity (module-level so that nets pickle)."""
    return F.softmax(logits.float(), dim=-1)


class SoftmaxMSELoss(nn.Module):
    """Mean squared error between softmax probabilities and one-hot targets.

    ``weight`` (per class) and ``label_smoothing`` behave as in
    :class:`torch.nn.CrossEntropyLoss`: the loss is the weighted mean over
    the batch.
    """

    def __init__(self, weight=None, label_smoothing=0.0):
        super().__init__()
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight))
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits, target):
        k = logits.shape[-1]
        prob = F.softmax(logits.float(), dim=-1)
        onehot = F.one_hot(target.long(), k).to(prob.dtype)
        if self.label_smoothing:
            onehot = onehot * (1.0 - self.label_smoothing) + self.label_smoothing / k
        per_sample = ((prob - onehot) ** 2).mean(dim=-1)
        if self.weight is None:
            return per_sample.mean()
        w = self.weight.to(prob.dtype)[target.long()]
        return (per_sample * w).sum() / w.sum()


class InputModel(nn.Module):
    """Architecture plus the input stage: scale, augment (training), standardise.

    Parameters
    ----------
    body : type
        The architecture class (from :mod:`skfer.nets` or the user's).
    body_kwargs : dict
        Its constructor arguments.
    scale : float
        Input values are multiplied by this first (1/255 for 8-bit pixels).
    mean, std : sequence of float
        Per-channel statistics of the scaled training images; with
        ``per_image=False`` inputs are standardised with them after
        augmentation.
    per_image : bool
        Standardise each image (each frame of a sequence) by its own mean and
        standard deviation over all its pixels and channels instead (the
        standard deviation is floored at 1/255 so that flat images stay flat).
    augment : dict or None
        Arguments of :func:`skfer.neural._data.augment_batch`, applied in
        training mode only.
    channels_last : bool
        Feed the body ``channels_last`` tensors (4-D input only).
    """

    def __init__(self, *, body, body_kwargs, scale=1.0, mean=(0.0,), std=(1.0,),
                 per_image=False, augment=None, channels_last=False):
        super().__init__()
        self.body = body(**body_kwargs)
        c = len(mean)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(c, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(c, 1, 1))
        self.scale = float(scale)
        self.per_image = bool(per_image)
        self.augment = dict(augment) if augment else None
        self.channels_last = bool(channels_last)

    def forward(self, x):
        # One fresh float copy (the batch may be a view of the dataset), then
        # in-place arithmetic: fewer large temporaries per batch.
        x = x.to(torch.float32, copy=True).mul_(self.scale)
        if self.training and self.augment:
            x = augment_batch(x, **self.augment)
        if self.per_image:
            dims = (-3, -2, -1)
            std, mean = torch.std_mean(x, dim=dims, keepdim=True, correction=0)
            x = x.sub_(mean).div_(std.clamp_min_(1.0 / 255.0))
        else:
            x = x.sub_(self.mean).div_(self.std)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.body(x)


class _Interrupted(BaseException):
    """A KeyboardInterrupt carried past skorch's ``except KeyboardInterrupt``."""


#: Set by the SIGINT handler of :func:`_watch_sigint` when the user pressed Ctrl-C.
_SIGINT = threading.Event()


@contextlib.contextmanager
def _watch_sigint():
    """Record a real Ctrl-C (SIGINT) while training, then raise as Python does.

    Only in the main thread and only over Python's default handler (a
    handler the user installed is left alone). Nested fits share the watch.
    """
    import signal

    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def handler(signum, frame):
        _SIGINT.set()
        raise KeyboardInterrupt

    _SIGINT.clear()
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _SIGINT.clear()


class SkferNet(NeuralNetClassifier):
    """skorch classifier with a tensor iterator, AMP on CUDA and channels_last.

    Parameters (beyond skorch's)
    ----------------------------
    mixed_precision : bool
        Autocast the forward pass on CUDA (bfloat16 where supported, else
        float16 with a gradient scaler). Ignored on CPU.
    channels_last : bool
        Store the module's weights ``channels_last``.
    compile_forward : dict or None
        Keyword arguments of ``torch.compile``: run the forward pass of
        training, validation and prediction (everything that goes through
        :meth:`infer`) through ``torch.compile(module_, **compile_forward)``.
        None: no compilation. ``module_`` itself stays the plain module (its
        state dict keys, hooks and pickling are unchanged); the compiled
        wrapper is built on first use, kept out of pickles and rebuilt
        after loading. skorch's own ``compile`` parameter, which replaces
        ``module_`` by the compiled module, stays off.
    """

    def __init__(self, *args, mixed_precision=False, channels_last=False,
                 compile_forward=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.mixed_precision = mixed_precision
        self.channels_last = channels_last
        self.compile_forward = compile_forward

    # -- Ctrl-C: skorch's partial_fit swallows KeyboardInterrupt and returns
    #    as if training had finished, because its callbacks (EarlyStopping,
    #    skfer's TimeBudget) stop training by raising it. skfer tells the two
    #    apart: a real SIGINT during fit is recorded by a handler and let
    #    through, so an interrupted fit never passes for a trained model.
    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            if _SIGINT.is_set():
                raise _Interrupted from None
            raise  # a callback's way to stop: skorch ends training normally

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        self.ensure_optimizer()
        with _watch_sigint():
            try:
                return super().partial_fit(X, y, classes=classes, **fit_params)
            except _Interrupted:
                raise KeyboardInterrupt(
                    f"training interrupted after {len(self.history)} epoch(s)") from None

    # -- device-dependent helpers, decided at call time so that a net
    #    unpickled on a CPU-only machine just works
    def _on_cuda(self):
        return self.device is not None and torch.device(self.device).type == "cuda"

    def _amp_dtype(self):
        if not (self.mixed_precision and self._on_cuda()):
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def initialize(self):
        super().initialize()
        # Callbacks can hold tensors too: skorch's LRScheduler keeps the
        # optimizer (hence the weights). Pickling them with the device-mapped
        # attributes lets a net trained on CUDA unpickle on a CPU-only machine
        # (and keeps the scheduler and optimizer_ one object after loading).
        if "callbacks" not in self.cuda_dependent_attributes_:
            self.cuda_dependent_attributes_ = [*self.cuda_dependent_attributes_, "callbacks"]
        return self

    # -- a net loaded to predict builds no optimizer: the first optimizer of a
    #    process imports torch._dynamo (about 2 s of the 4 s that loading the
    #    shipped model took); it is built when training starts.
    def initialize_for_inference(self):
        """:meth:`initialize`, with the optimizer built only when training starts."""
        self._defer_optimizer = True
        try:
            return self.initialize()
        finally:
            self._defer_optimizer = False

    def initialize_optimizer(self, *args, **kwargs):
        if getattr(self, "_defer_optimizer", False):
            if "optimizer" not in self.prefixes_:  # optimizer__* stay valid parameters
                self._register_attribute("optimizer_", None)
            return self
        return super().initialize_optimizer(*args, **kwargs)

    def ensure_optimizer(self):
        """Build the optimizer that :meth:`initialize_for_inference` left out."""
        if getattr(self, "initialized_", False) and not hasattr(self, "optimizer_"):
            self._initialize_optimizer()
        return self

    def set_params(self, **kwargs):
        if any(k == "lr" or k.startswith("optimizer") for k in kwargs):
            self.ensure_optimizer()  # its virtual parameters set the optimizer's values
        return super().set_params(**kwargs)

    def initialize_module(self):
        super().initialize_module()
        if self.channels_last:
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def get_iterator(self, dataset, training=False):
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        iterator = self.iterator_train if training else self.iterator_valid
        from ._data import TensorBatches

        if iterator is TensorBatches:
            kwargs.setdefault("device", self.device)
        return iterator(dataset, **kwargs)

    def forward_module(self):
        """What runs the forward pass: ``module_``, or its compiled wrapper.

        With ``compile_forward`` set, ``torch.compile(module_, ...)`` is
        built on the first call and again whenever ``module_`` has been
        replaced (re-initialised); the wrapper is stored in ``__dict__``
        (outside skorch's parameters and its attribute registry) and
        dropped from pickles.
        """
        opts = self.compile_forward
        if opts is None:
            return self.module_
        cached = self.__dict__.get("_compiled_forward_")
        if cached is None or cached[0] is not self.module_:
            cached = (self.module_, torch.compile(self.module_, **opts))
            self.__dict__["_compiled_forward_"] = cached
        return cached[1]

    def infer(self, x, **fit_params):
        if isinstance(x, torch.Tensor):
            x = x.to(self.device, non_blocking=True)
            forward = self.forward_module()
            amp = self._amp_dtype()
            if amp is not None:
                with torch.autocast(device_type="cuda", dtype=amp):
                    out = forward(x, **fit_params)
                return out.float()
            out = forward(x, **fit_params)
            if forward is not self.module_ and isinstance(out, torch.Tensor):
                # A compiled module may hand back buffers that its next call
                # overwrites (CUDA graphs); skorch keeps each batch's outputs
                # until the epoch ends. Logits are small: copy them.
                out = out.clone()
            return out
        return super().infer(x, **fit_params)

    def train_step(self, batch, **fit_params):
        if self._amp_dtype() is not torch.float16:
            return super().train_step(batch, **fit_params)
        # In __dict__ under a name ending in "_": not a parameter of the net
        # (skorch's get_params lists every other attribute).
        scaler = self.__dict__.get("_grad_scaler_")
        if scaler is None:
            scaler = torch.amp.GradScaler("cuda")
            self.__dict__["_grad_scaler_"] = scaler
        self._zero_grad_optimizer()
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()
        return {"loss": loss, "y_pred": y_pred}

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_grad_scaler_", None)
        state.pop("_compiled_forward_", None)  # rebuilt on first use after loading
        return state


class TimeBudget(Callback):
    """Stop training after the epoch in which ``seconds`` of wall time pass.

    Raises ``KeyboardInterrupt``, skorch's signal to end training (as its
    ``EarlyStopping`` does), so ``on_train_end`` callbacks still run and the
    best weights are restored.
    """

    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_begin(self, net, **kwargs):
        self.start_ = time.perf_counter()

    def on_epoch_end(self, net, **kwargs):
        if time.perf_counter() - self.start_ > self.seconds:
            net.history.record("stopped_by_time_budget", True)
            raise KeyboardInterrupt
