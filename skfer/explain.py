"""Why did the net decide that? Grad-CAM and gradient saliency maps.

* :func:`grad_cam`: Grad-CAM (Selvaraju et al., 2017) for a fitted
  :class:`skfer.neural.CNNClassifier` (any architecture), or a Pipeline
  ending in one: a coarse map of the image regions whose features raised
  the score of a class.
* :func:`saliency`: plain gradient saliency (Simonyan et al., 2014) for
  any :mod:`skfer.neural` classifier, CNN or RNN: how strongly each pixel
  moves the class score.
* :func:`overlay`: a heatmap blended over an image as an RGB ``uint8``
  picture (OpenCV colour maps; no matplotlib needed), ready to write to a
  file.
* :func:`plot_explanation`: a matplotlib figure with, per image, the image,
  the map and the overlay, titled with the predicted label.

Every map has the size of the images the net reads (for a Pipeline: of the
images its preprocessing steps produce) and lies in [0, 1], normalised per
image. The maps are computed in batches on the net's own device (CPU or
CUDA), in float32 and in evaluation mode; the net is left as it was: no
hook stays registered, no gradient is stored in its parameters and the
train/eval mode of each submodule is restored. See ``docs/explain.rst``
for what the maps mean and their limits.
"""

from __future__ import annotations

import numbers
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._image import to_rgb_uint8

__all__ = ["grad_cam", "overlay", "plot_explanation", "saliency"]

_BATCH_SIZE = 64


# --------------------------------------------------------------------------
# resolving the estimator and its input
# --------------------------------------------------------------------------


def _final_step(estimator, func):
    """``(classifier, preprocessing)`` of ``estimator`` (a classifier or a Pipeline)."""
    from .neural import BaseNeuralClassifier

    pre = None
    final = estimator
    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1]
        pre = estimator[:-1] if len(estimator.steps) > 1 else None
    if not isinstance(final, BaseNeuralClassifier):
        what = type(final).__name__
        if final is not estimator:
            what = f"a Pipeline whose last step is a {what}"
        raise TypeError(
            f"{func} explains skfer.neural classifiers (CNNClassifier, "
            f"RNNClassifier, SequenceClassifier) or a Pipeline ending in one, got "
            f"{what}. Classical pipelines (HOG/LBP/PCA + SVM...) have no "
            "gradients to follow."
        )
    name = type(final).__name__
    try:
        check_is_fitted(final)
    except NotFittedError:
        raise NotFittedError(
            f"This {name} is not fitted yet: call fit (or load a saved model "
            f"with skfer.io.load_model) before {func}."
        ) from None
    return final, pre


def _net_input(final, pre, X):
    """The tensor ``(n, C, H, W)`` the net reads, on the CPU."""
    if pre is not None:
        X = pre.transform(X)
    return final._predict_tensor(X)


def _target_indices(final, target, n):
    """Class indices ``(n,)`` for ``target`` (None: -1, the predicted class)."""
    if target is None:
        return np.full(n, -1, dtype=np.int64)
    classes = list(final.classes_.tolist())
    lookup = {c: i for i, c in enumerate(classes)}
    arr = np.asarray(target)
    if arr.ndim == 0:
        arr = np.full(n, arr.item(), dtype=object)
    elif arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"target must be None, one class label or an array of {n} labels "
            f"(one per image), got an array of shape {arr.shape}."
        )
    out = np.empty(n, dtype=np.int64)
    for i, label in enumerate(arr.tolist()):
        try:
            idx = lookup.get(label)
        except TypeError:  # unhashable
            idx = None
        if idx is None:
            raise ValueError(
                f"target {label!r} is not one of the classes of the estimator: "
                f"{classes}."
            )
        out[i] = idx
    return out


@contextmanager
def _explaining(module, device):
    """Evaluation mode for the duration, then each submodule's mode restored.

    cuDNN computes no RNN backward pass in evaluation mode: it is switched
    off for nets with recurrent layers on CUDA (the native kernels are used).
    """
    modes = [(m, m.training) for m in module.modules()]
    recurrent = any(isinstance(m, torch.nn.RNNBase) for m in module.modules())
    module.eval()
    try:
        with torch.enable_grad(), torch.backends.cudnn.flags(
            enabled=torch.backends.cudnn.enabled and not (recurrent and device.type == "cuda")
        ):
            yield
    finally:
        for m, mode in modes:
            m.training = mode


def _device_of(module):
    for t in module.buffers():
        return t.device
    for t in module.parameters():
        return t.device
    return torch.device("cpu")


def _normalise(maps):
    """Divide each map by its maximum (all-zero maps stay zero)."""
    flat = maps.reshape(len(maps), -1)
    top = flat.max(dim=1).values
    top = torch.where(top > 0, top, torch.ones_like(top))
    return (flat / top[:, None]).reshape(maps.shape).clamp_(0.0, 1.0)


def _run(final, X_t, target, batch_size, one_pass):
    """Common loop over batches of the net input ``X_t``.

    ``one_pass(module, x, choose)`` runs one forward and backward pass and
    returns ``(maps, logits)``; ``choose(logits)`` gives the class index per
    image. Returns ``(maps, proba)``: maps in [0, 1] ``(n, ...)`` and the
    probabilities ``predict_proba`` gives (mirror averaging included).
    """
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
    n = len(X_t)
    wanted = _target_indices(final, target, n)
    module = final.net_.module_
    device = _device_of(module)
    flip = bool(getattr(final, "test_time_flip", False))
    maps, probas = [], []
    with _explaining(module, device):
        for start in range(0, n, int(batch_size)):
            xb = X_t[start : start + int(batch_size)].to(device)
            want = torch.as_tensor(wanted[start : start + len(xb)], device=device)
            if flip:
                # predict_proba averages the image and its mirror: so do the maps
                with torch.no_grad():
                    proba = (
                        F.softmax(module(xb).float(), dim=1)
                        + F.softmax(module(xb.flip(-1)).float(), dim=1)
                    ) / 2
                idx = torch.where(want < 0, proba.argmax(dim=1), want)
                m, _ = one_pass(module, xb, lambda logits, idx=idx: idx)
                m_flip, _ = one_pass(module, xb.flip(-1), lambda logits, idx=idx: idx)
                m = (m + m_flip.flip(-1)) / 2
            else:

                def choose(logits, want=want):
                    return torch.where(want < 0, logits.argmax(dim=1), want)

                m, logits = one_pass(module, xb, choose)
                proba = F.softmax(logits.detach().float(), dim=1)
            maps.append(_normalise(m.detach().float()).cpu())
            probas.append(proba.cpu())
    if not maps:  # pragma: no cover - _predict_tensor refuses empty input
        raise ValueError("X holds no image.")
    return torch.cat(maps).numpy(), torch.cat(probas).double().numpy()


def _class_score(logits, idx):
    """Sum over the batch of each image's logit for its target class."""
    return logits.float().gather(1, idx[:, None]).sum()


# --------------------------------------------------------------------------
# Grad-CAM
# --------------------------------------------------------------------------


def _has_conv(module):
    return any(isinstance(m, torch.nn.Conv2d) for m in module.modules())


def _find_layer(body, x, n_classes=None):
    """Name of the default Grad-CAM layer of ``body`` for input ``x``.

    The last module, in the order the forward pass completes them, that is
    or contains a ``Conv2d`` and outputs a 4-D map larger than 1x1 (the
    output of the last convolutional stage, before global pooling or
    flattening); a 1x1 map is taken only when there is no larger one. A
    convolutional classifier head (a conv with ``n_classes`` output maps,
    as mini_xception ends with) is passed over for the feature maps it
    reads, as Grad-CAM intends: its own maps are already per-class scores.
    """
    fired = []
    handles = []
    try:
        for name, sub in body.named_modules():
            if name and _has_conv(sub):

                def hook(mod, args, out, name=name):
                    if isinstance(out, torch.Tensor) and out.ndim == 4:
                        fired.append((name, out.shape[-2] * out.shape[-1], out.shape[1]))

                handles.append(sub.register_forward_hook(hook))
        with torch.no_grad():
            body(x)
    finally:
        for h in handles:
            h.remove()
    spatial = [name for name, size, _ in fired if size > 1]
    features = [name for name, size, channels in fired if size > 1 and channels != n_classes]
    # Only skip the head when it comes last: a net whose inner maps happen
    # to have n_classes channels keeps them.
    if features and spatial and spatial[-1] not in features:
        return features[-1]
    if spatial:
        return spatial[-1]
    if fired:
        return fired[-1][0]
    raise ValueError(
        f"grad_cam found no convolutional layer with a 4-D output in "
        f"{type(body).__name__}; pass layer=<name>, the name of a module whose "
        f"output is a feature map (N, C, H, W), one of "
        f"{[n for n, _ in body.named_modules() if n]}."
    )


def _get_layer(body, layer):
    if not isinstance(layer, str):
        raise TypeError(
            f"layer must be None or the name of a module of the net, got {layer!r}."
        )
    name = layer.removeprefix("body.")
    modules = dict(body.named_modules())
    if not name or name not in modules:
        raise ValueError(
            f"layer {layer!r} is not a module of {type(body).__name__}; its modules "
            f"are {[n for n in modules if n]}."
        )
    return name, modules[name]


def _grad_cam_pass(layer_module, layer_name):
    def one_pass(module, xb, choose):
        store = {}

        def hook(mod, args, out):
            if not (isinstance(out, torch.Tensor) and out.ndim == 4):
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
                raise ValueError(
                    f"grad_cam needs a layer whose output is a feature map "
                    f"(N, C, H, W); layer {layer_name!r} returns {shape}."
                )
            # A leaf of its own: the backward pass stops here, and the copy
            # handed on protects it from in-place ops (ReLU(inplace=True)).
            leaf = out.detach().float().requires_grad_(True)
            store.setdefault("acts", []).append(leaf)
            return leaf.to(out.dtype).clone()

        handle = layer_module.register_forward_hook(hook)
        try:
            logits = module(xb)
        finally:
            handle.remove()
        acts = store.get("acts", [])
        if len(acts) != 1:
            raise ValueError(
                f"layer {layer_name!r} runs {len(acts)} times in one forward pass, so "
                "its output is not one feature map; choose a module that runs once "
                "(e.g. a whole block rather than a shared activation)."
            )
        act = acts[0]
        (grad,) = torch.autograd.grad(_class_score(logits, choose(logits)), act)
        weights = grad.mean(dim=(2, 3), keepdim=True)  # alpha_k: pooled gradients
        cam = F.relu((weights * act).sum(dim=1, keepdim=True)).detach()
        cam = F.interpolate(cam, size=xb.shape[-2:], mode="bilinear", align_corners=False)
        return cam[:, 0].clamp_min_(0.0), logits

    return one_pass


def grad_cam(estimator, X, *, target=None, layer=None, batch_size=_BATCH_SIZE):
    """Grad-CAM heatmaps: where the net's last feature maps support a class.

    For each image, the feature maps ``A_k`` of a convolutional layer are
    weighted by the average gradient of the class score (the logit) with
    respect to them, summed, passed through a ReLU, upsampled bilinearly to
    the image size and divided by their maximum (Selvaraju et al., 2017).
    High values mark the regions whose features raised the score of the
    class; the map is as coarse as the layer (3x3 to 12x12 cells for 48x48
    faces with the default layers).

    Parameters
    ----------
    estimator : CNNClassifier or Pipeline
        A fitted :class:`skfer.neural.CNNClassifier` of any architecture,
        or a fitted Pipeline whose last step is one: then ``X`` goes through
        the preceding steps' ``transform`` first and the maps have the size
        of the images those steps produce (e.g. the 48x48 grey crops of
        ``FaceCropper -> Grayscale -> Resize(48)``), not of the raw photos.
    X : images
        What the estimator's ``predict`` takes: ``(n_samples, H, W[, C])``
        or flat ``(n_samples, H * W * C)``, at the size seen by ``fit``.
    target : None, label or array-like of shape (n_samples,), default=None
        The class to explain: None explains the predicted class of each
        image (as ``predict`` gives it); one label of ``classes_`` explains
        that class for every image; an array gives one label per image.
    layer : str or None, default=None
        Name of the module of the architecture (as in
        ``estimator.net_.module_.body.named_modules()``) whose output
        ``(N, C, h, w)`` is used. None: the last module that is or holds a
        convolution and whose output is still a spatial map larger than
        1x1 (found by a forward pass, so it works for any net; inputs so
        small that the last stage is 1x1 fall back to an earlier, larger
        map). For 48x48 faces that is
        ``'features'`` for ``'simple'`` and ``'vgg'`` (the last block, after
        its ReLU and pooling), ``'stages'`` for ``'resnet'`` (the last
        residual stage) and ``'blocks'`` for ``'mini_xception'`` (its last
        separable-convolution block, 3x3), not its head: that 3x3
        convolution to one map per class mixes each cell with its
        neighbours, so its own maps are shifted and blurred versions of
        where the evidence is (on the pretrained model's smiling astronaut
        they sat on the forehead; the features' map sits on the mouth).
    batch_size : int, default=64
        Images per forward/backward pass.

    Returns
    -------
    heatmaps : ndarray of shape (n_samples, H, W), float32
        Values in [0, 1], each map divided by its maximum (a map with no
        positive evidence is all zeros). ``H, W`` is the size of the images
        the net reads.

    Raises
    ------
    NotFittedError
        When the estimator is not fitted.
    TypeError
        For an estimator that is not a ``CNNClassifier`` (an
        ``RNNClassifier`` has no convolutional map: use :func:`saliency`).
    ValueError
        For images of another shape than at fit, an unknown ``target``
        label or ``layer`` name.

    See Also
    --------
    saliency : Pixel-level gradient maps, for CNN and RNN classifiers.
    overlay : Blend a map over its image.
    plot_explanation : Image, map and overlay side by side.

    Notes
    -----
    The net is run in evaluation mode and float32 on its own device (no
    mixed precision). When the estimator has ``test_time_flip=True`` its
    prediction averages the image and its mirror; the map is then the
    average of both passes' maps (the mirror's flipped back). Forward hooks
    are removed and each submodule's train/eval mode restored afterwards;
    gradients are taken with :func:`torch.autograd.grad`, so nothing is
    accumulated in the parameters' ``.grad``.

    Examples
    --------
    >>> from skfer.datasets import make_faces
    >>> from skfer.explain import grad_cam
    >>> from skfer.neural import CNNClassifier
    >>> faces = make_faces(40, image_size=24, classes=["happy", "sad"],
    ...                    random_state=0)
    >>> clf = CNNClassifier(architecture="simple", module__channels=(4, 8),
    ...                     module__hidden=(16,), max_epochs=2,
    ...                     random_state=0).fit(faces.images, faces.target)
    >>> maps = grad_cam(clf, faces.images[:3])
    >>> maps.shape, maps.dtype, bool(maps.min() >= 0), bool(maps.max() <= 1)
    ((3, 24, 24), dtype('float32'), True, True)
    >>> grad_cam(clf, faces.images[:3], target=1).shape   # explain class 1
    (3, 24, 24)
    """
    final, pre = _final_step(estimator, "grad_cam")
    maps, _ = _grad_cam(final, _net_input(final, pre, X), target, layer, batch_size)
    return maps


def _grad_cam(final, X_t, target, layer, batch_size):
    from .neural import CNNClassifier

    if not isinstance(final, CNNClassifier):
        raise TypeError(
            f"grad_cam needs a convolutional net (a CNNClassifier, or a Pipeline "
            f"ending in one) whose feature maps keep the image layout; a "
            f"{type(final).__name__} has none. Use skfer.explain.saliency, which "
            "works for every skfer.neural classifier."
        )
    body = final.net_.module_.body
    state = {}

    def one_pass(module, xb, choose):
        if "pass" not in state:
            name = layer
            if name is None:
                # probe with the body's input: the standardised image
                seen = {}

                def grab(mod, args):
                    seen["x"] = args[0][:1].detach()

                h = body.register_forward_pre_hook(grab)
                try:
                    with torch.no_grad():
                        module(xb[:1])
                finally:
                    h.remove()
                name = _find_layer(body, seen["x"], len(final.classes_))
            name, sub = _get_layer(body, name)
            state["pass"] = _grad_cam_pass(sub, name)
        return state["pass"](module, xb, choose)

    return _run(final, X_t, target, batch_size, one_pass)


# --------------------------------------------------------------------------
# saliency
# --------------------------------------------------------------------------


def _saliency_pass(module, xb, choose):
    store = {}
    body = module.body

    def hook(mod, args):
        # The standardised image the architecture reads, as a leaf of its own.
        leaf = args[0].detach().float().requires_grad_(True)
        store["x"] = leaf
        return (leaf.to(args[0].dtype).clone(), *args[1:])

    handle = body.register_forward_pre_hook(hook)
    try:
        logits = module(xb)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(_class_score(logits, choose(logits)), store["x"])
    return grad.abs().amax(dim=-3), logits  # max over the channels


def saliency(estimator, X, *, target=None, batch_size=_BATCH_SIZE):
    """Gradient saliency maps: how strongly each pixel moves the class score.

    The absolute gradient of the class score (the logit) with respect to the
    image the architecture reads (after the estimator's scaling and
    standardisation), its maximum over the colour channels, divided by its
    maximum per image (Simonyan et al., 2014). Pixel-sharp but noisy; it
    works for every :mod:`skfer.neural` classifier, convolutional or
    recurrent.

    Parameters
    ----------
    estimator : CNNClassifier, RNNClassifier, SequenceClassifier or Pipeline
        A fitted :mod:`skfer.neural` classifier, or a fitted Pipeline
        ending in one (then ``X`` goes through the preceding steps first and
        the maps have the size of the images those steps produce).
    X : images
        What the estimator's ``predict`` takes.
    target : None, label or array-like of shape (n_samples,), default=None
        The class to explain: None for each image's predicted class, one
        label of ``classes_`` for all images, or one label per image.
    batch_size : int, default=64
        Images per forward/backward pass.

    Returns
    -------
    maps : ndarray of shape (n_samples, H, W), float32
        Values in [0, 1]. For a :class:`~skfer.neural.SequenceClassifier`,
        ``(n_samples, T, H, W)``: one map per frame, normalised over the
        whole sequence.

    Raises
    ------
    NotFittedError
        When the estimator is not fitted.
    TypeError
        For an estimator that is not a :mod:`skfer.neural` classifier.
    ValueError
        For images of another shape than at fit or an unknown ``target``.

    See Also
    --------
    grad_cam : Smoother, region-level maps for convolutional nets.

    Notes
    -----
    Run as :func:`grad_cam` is: evaluation mode, float32, the net's device,
    mirror averaging under ``test_time_flip=True``, nothing left on the net.

    Examples
    --------
    >>> from skfer.datasets import make_faces
    >>> from skfer.explain import saliency
    >>> from skfer.neural import RNNClassifier
    >>> faces = make_faces(40, image_size=16, classes=["happy", "sad"],
    ...                    random_state=0)
    >>> clf = RNNClassifier(hidden_sizes=(8,), max_epochs=2,
    ...                     random_state=0).fit(faces.images, faces.target)
    >>> maps = saliency(clf, faces.images[:3])
    >>> maps.shape, float(maps.max())
    ((3, 16, 16), 1.0)
    """
    final, pre = _final_step(estimator, "saliency")
    maps, _ = _run(final, _net_input(final, pre, X), target, batch_size, _saliency_pass)
    return maps


# --------------------------------------------------------------------------
# pictures
# --------------------------------------------------------------------------

_CV2_COLORMAPS = (
    "autumn", "bone", "cividis", "cool", "deepgreen", "hot", "hsv", "inferno",
    "jet", "magma", "ocean", "parula", "pink", "plasma", "rainbow", "spring",
    "summer", "turbo", "twilight", "twilight_shifted", "viridis", "winter",
)


def _colorize(heat, cmap):
    """``(H, W)`` floats in [0, 1] -> RGB uint8 through ``cmap``."""
    if callable(cmap):
        rgba = np.asarray(cmap(heat), dtype=np.float64)
        if rgba.shape[:2] != heat.shape or rgba.ndim != 3 or rgba.shape[-1] not in (3, 4):
            raise ValueError(
                "a callable cmap must map an (H, W) array of floats in [0, 1] to "
                f"(H, W, 3) or (H, W, 4) colours in [0, 1], got shape {rgba.shape}."
            )
        return np.clip(np.rint(rgba[..., :3] * 255.0), 0, 255).astype(np.uint8)
    import cv2

    if not isinstance(cmap, str) or cmap.lower() not in _CV2_COLORMAPS:
        raise ValueError(
            f"cmap must be one of {list(_CV2_COLORMAPS)} (OpenCV colour maps) or a "
            f"callable such as a matplotlib colormap, got {cmap!r}."
        )
    code = getattr(cv2, f"COLORMAP_{cmap.upper()}")
    levels = np.clip(np.rint(heat * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(levels, code), cv2.COLOR_BGR2RGB)


def overlay(image, heatmap, *, alpha=0.4, cmap="jet"):
    """Blend a heatmap over an image: an RGB ``uint8`` picture.

    The heatmap is coloured with ``cmap``, resized bilinearly to the image
    when their sizes differ (so a map computed on a 48x48 crop can be laid
    over the crop at any size), and blended as
    ``(1 - alpha) * image + alpha * colours``.

    Parameters
    ----------
    image : ndarray of shape (H, W[, C]) or (n, H, W[, C])
        Grey, RGB or RGBA (alpha dropped); ``uint8``, or float in [0, 1]
        (values above 1 are read as [0, 255]).
    heatmap : ndarray of shape (h, w) or (n, h, w)
        Values in [0, 1] (clipped), as :func:`grad_cam` and :func:`saliency`
        return. A 3-D ``heatmap`` means a batch: ``image`` then holds ``n``
        images.
    alpha : float, default=0.4
        Weight of the colours, in [0, 1].
    cmap : str or callable, default='jet'
        An OpenCV colour map name (``'jet'``, ``'viridis'``, ``'inferno'``,
        ``'magma'``, ``'plasma'``, ``'turbo'``, ``'hot'``...: no matplotlib
        needed) or a callable mapping an ``(h, w)`` float array to RGB(A)
        floats in [0, 1], such as a matplotlib colormap.

    Returns
    -------
    picture : ndarray of shape (H, W, 3) or (n, H, W, 3), uint8
        RGB; write it with e.g. ``skimage.io.imsave`` (or
        ``cv2.imwrite(path, picture[..., ::-1])``, OpenCV being BGR).

    See Also
    --------
    grad_cam, saliency : Compute the heatmaps.

    Examples
    --------
    >>> import numpy as np
    >>> from skfer.explain import overlay
    >>> face = np.full((48, 48), 128, dtype=np.uint8)
    >>> heat = np.zeros((6, 6))
    >>> heat[4:, 2:4] = 1.0                  # the mouth region
    >>> pic = overlay(face, heat)
    >>> pic.shape, pic.dtype
    ((48, 48, 3), dtype('uint8'))
    >>> pic[44, 24].tolist(), pic[4, 4].tolist()   # hot (red) vs cold (blue)
    ([128, 77, 77], [77, 77, 128])
    """
    if not isinstance(alpha, numbers.Real) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}.")
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim == 3:
        images = image if isinstance(image, (list, tuple)) else np.asarray(image)
        if len(images) != len(heat):
            raise ValueError(
                f"a batch of {len(heat)} heatmaps needs as many images, got {len(images)}."
            )
        if len(heat) == 0:
            return np.zeros((0, *heat.shape[1:], 3), dtype=np.uint8)
        return np.stack(
            [overlay(im, h, alpha=alpha, cmap=cmap) for im, h in zip(images, heat, strict=True)]
        )
    if heat.ndim != 2 or 0 in heat.shape:
        raise ValueError(
            f"heatmap must be (h, w) or a batch (n, h, w), got shape {heat.shape}."
        )
    if not np.all(np.isfinite(heat)):
        raise ValueError("heatmap holds NaN or infinite values.")
    img = to_rgb_uint8(image)
    if heat.shape != img.shape[:2]:
        import cv2

        heat = cv2.resize(
            heat.astype(np.float32), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR
        )
    colours = _colorize(np.clip(heat, 0.0, 1.0), cmap)
    mixed = (1.0 - float(alpha)) * img + float(alpha) * colours
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def plot_explanation(
    estimator,
    X,
    *,
    method="grad_cam",
    target=None,
    layer=None,
    alpha=0.4,
    cmap="jet",
    max_images=8,
    batch_size=_BATCH_SIZE,
):
    """Figure with, per image, the image, the heatmap and their overlay.

    Each row is titled with the predicted label and its probability (and
    the explained class when ``target`` is given). Needs matplotlib
    (``pip install 'skfer[plot]'``).

    Parameters
    ----------
    estimator : skfer.neural classifier or Pipeline
        Fitted, as for :func:`grad_cam` (``method='grad_cam'``) or
        :func:`saliency`. With a Pipeline, the images shown are the
        preprocessed ones the net reads (the maps' size).
    X : images
        What the estimator's ``predict`` takes.
    method : {'grad_cam', 'saliency'}, default='grad_cam'
        Which map to draw.
    target : None, label or array-like, default=None
        The class to explain (None: the predicted one); see :func:`grad_cam`.
    layer : str or None, default=None
        Grad-CAM layer (``method='grad_cam'`` only); see :func:`grad_cam`.
    alpha : float, default=0.4
        Weight of the colours in the overlay.
    cmap : str or callable, default='jet'
        Colour map of the heatmap and overlay (see :func:`overlay`).
    max_images : int, default=8
        Draw at most the first ``max_images`` images.
    batch_size : int, default=64
        Images per forward/backward pass.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skfer.datasets import make_faces
    >>> from skfer.explain import plot_explanation
    >>> from skfer.neural import CNNClassifier
    >>> faces = make_faces(40, image_size=24, classes=["happy", "sad"],
    ...                    random_state=0)
    >>> clf = CNNClassifier(architecture="simple", module__channels=(4, 8),
    ...                     module__hidden=(16,), max_epochs=2,
    ...                     random_state=0).fit(faces.images, faces.target)
    >>> fig = plot_explanation(clf, faces.images[:2])
    >>> len(fig.axes)
    6
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plot_explanation needs matplotlib, which is optional: install it "
            "with pip install 'skfer[plot]' (or pip install matplotlib)."
        ) from exc
    if method not in ("grad_cam", "saliency"):
        raise ValueError(f"method must be 'grad_cam' or 'saliency', got {method!r}.")
    if layer is not None and method != "grad_cam":
        raise ValueError("layer is a Grad-CAM parameter; it needs method='grad_cam'.")
    if not isinstance(max_images, numbers.Integral) or max_images < 1:
        raise ValueError(f"max_images must be an int >= 1, got {max_images!r}.")
    final, pre = _final_step(estimator, "plot_explanation")
    X_t = _net_input(final, pre, X)[: int(max_images)]
    if target is not None and np.ndim(target) == 1:
        target = np.asarray(target)[: len(X_t)]
    if method == "grad_cam":
        heat, proba = _grad_cam(final, X_t, target, layer, batch_size)
    else:
        heat, proba = _run(final, X_t, target, batch_size, _saliency_pass)
    images = X_t.numpy()  # (n, C, H, W), or (n, T, C, H, W) for sequences
    if images.ndim == 5:  # sequences: show the last frame
        images, heat = images[:, -1], heat[:, -1]
    shown = np.moveaxis(images, 1, -1)
    shown = shown[..., 0] if shown.shape[-1] == 1 else shown
    n = len(shown)
    fig, axes = plt.subplots(n, 3, figsize=(6.6, 2.3 * n), squeeze=False)
    label_of = final.classes_
    wanted = _target_indices(final, target, n)
    for i in range(n):
        k = int(np.argmax(proba[i]))
        title = f"predicted {label_of[k]} ({proba[i, k]:.2f})"
        if wanted[i] >= 0:
            title += f"\nexplaining {label_of[wanted[i]]}"
        img = to_rgb_uint8(_display_range(shown[i], final))
        axes[i, 0].imshow(img)
        axes[i, 0].set_title(title, fontsize=8)
        axes[i, 1].imshow(_colorize(np.clip(heat[i], 0.0, 1.0), cmap))
        kind = "grad-CAM" if method == "grad_cam" else "saliency"
        if not heat[i].any():
            kind += "\n(empty: no positive evidence)"
        axes[i, 1].set_title(kind, fontsize=8)
        axes[i, 2].imshow(overlay(img, heat[i], alpha=alpha, cmap=cmap))
        axes[i, 2].set_title("overlay", fontsize=8)
        for ax in axes[i]:
            ax.set_axis_off()
    fig.tight_layout()
    return fig


def _display_range(image, final):
    """An image of the net's input as something :func:`to_rgb_uint8` reads."""
    if image.dtype == np.uint8:
        return image
    scale = final.net_.module_.scale
    return np.clip(np.asarray(image, dtype=np.float64) * scale, 0.0, 1.0)
