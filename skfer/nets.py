"""Torch network architectures for facial expression recognition.

Every architecture here is a plain :class:`torch.nn.Module` class that takes
a float tensor ``(N, C, H, W)`` and returns logits ``(N, n_classes)``. The
skfer estimators (:class:`skfer.neural.CNNClassifier` and friends) build them
inside ``fit`` from a name or a class, passing ``n_classes`` and
``in_channels`` (and ``input_shape`` where the class takes it) from the
data; every other constructor argument can be set and grid-searched on the
estimator as ``module__<name>``.

All convolutional nets accept any image size ``H, W >= 1``: pooling rounds
up (``ceil_mode=True``) and the dense heads sit behind adaptive pooling, so
48x48 (FER2013, CK+48), 64x64, 96x96 or even 1xN inputs all work. They are
designed for, and their defaults tuned on, 48x48 faces.

======================  =========================================  ==========
name                    class                                      parameters
======================  =========================================  ==========
``'simple'``            :class:`SimpleCNN`                         ~1.2 M
``'vgg'``               :class:`VGGNet`                            ~10 M
``'resnet'``            :class:`ResNet18`                          ~11 M
``'mini_xception'``     :class:`MiniXception`                      ~57 k
======================  =========================================  ==========

(parameter counts for 48x48 grey input and 7 classes)

Built with ``n_classes=None``, each convolutional net is a feature extractor:
``forward`` returns the ``(N, feature_dim)`` features its head would read.
:class:`SequenceNet` uses this to encode video frames.

Two recurrent architectures complete the set: :class:`RowRNN` reads an
image as a sequence of rows (or columns) and :class:`SequenceNet` reads a
sequence of frames ``(N, T, C, H, W)``, encoding each with one of the
convolutional nets.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "ARCHITECTURES",
    "MiniXception",
    "ResNet18",
    "RowRNN",
    "SequenceNet",
    "SimpleCNN",
    "VGGNet",
    "accepts_argument",
    "count_parameters",
    "get_architecture",
]


def _as_tuple(value, name):
    """``int`` -> ``(int,)``; sequences of positive ints -> tuple."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{name} must be an int or a sequence of ints, got {value!r}.")
    value = tuple(value)
    if not value or any(
        not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in value
    ):
        raise ValueError(f"{name} must hold positive ints, got {value!r}.")
    return value


def _check_dropout(dropout):
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    return float(dropout)


def _check_n_classes(n_classes):
    if n_classes is not None and (
        not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 1
    ):
        raise ValueError(f"n_classes must be a positive int or None, got {n_classes!r}.")
    return n_classes


def count_parameters(module):
    """Number of trainable parameters of ``module``.

    Examples
    --------
    >>> from skfer.nets import MiniXception, count_parameters
    >>> count_parameters(MiniXception(n_classes=7, in_channels=1)) < 100_000
    True
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class _Head(nn.Sequential):
    """Dropout -> [Linear -> ReLU -> Dropout]* -> Linear (or Identity)."""

    def __init__(self, in_features, hidden, n_classes, dropout):
        layers = []
        for width in hidden:
            layers += [nn.Dropout(dropout), nn.Linear(in_features, width), nn.ReLU(inplace=True)]
            in_features = width
        if n_classes is not None:
            layers += [nn.Dropout(dropout), nn.Linear(in_features, n_classes)]
        super().__init__(*layers)
        self.out_features = n_classes if n_classes is not None else in_features


class SimpleCNN(nn.Module):
    """The textbook FER CNN: conv 32 -> pool -> conv 64 -> pool -> dense 128 -> dense 64.

    Parameters
    ----------
    n_classes : int or None, default=7
        Number of outputs (logits). ``None``: no output layer, ``forward``
        returns the 64 features of the last dense layer.
    in_channels : int, default=1
        1 for grey, 3 for RGB images.
    channels : tuple of int, default=(32, 64)
        Output channels of the convolutions; each is followed by ReLU and a
        2x2 max-pool.
    hidden : tuple of int, default=(128, 64)
        Widths of the dense layers (ReLU, dropout before each).
    dropout : float, default=0.25
        Dropout rate before each dense layer.
    kernel_size : int, default=3
        Size of the (same-padded) convolution kernels.
    input_shape : tuple (H, W) or None, default=None
        Given: the feature map is flattened as it is (the textbook layout,
        which fixes the input size). ``None``: an adaptive average pool to
        ``pool_size`` x ``pool_size`` comes first, and any size works.
    pool_size : int, default=6
        Side of the adaptive pool when ``input_shape`` is None.

    Examples
    --------
    >>> import torch
    >>> from skfer.nets import SimpleCNN
    >>> net = SimpleCNN(n_classes=7, in_channels=1, input_shape=(48, 48))
    >>> net(torch.zeros(2, 1, 48, 48)).shape
    torch.Size([2, 7])
    """

    def __init__(
        self,
        n_classes=7,
        in_channels=1,
        *,
        channels=(32, 64),
        hidden=(128, 64),
        dropout=0.25,
        kernel_size=3,
        input_shape=None,
        pool_size=6,
    ):
        super().__init__()
        n_classes = _check_n_classes(n_classes)
        channels = _as_tuple(channels, "channels")
        hidden = _as_tuple(hidden, "hidden") if hidden else ()
        dropout = _check_dropout(dropout)
        layers = []
        c_in = in_channels
        for c in channels:
            layers += [
                nn.Conv2d(c_in, c, kernel_size, padding=kernel_size // 2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            c_in = c
        self.features = nn.Sequential(*layers)
        if input_shape is not None:
            h, w = int(input_shape[0]), int(input_shape[1])
            for _ in channels:
                h, w = -(-h // 2), -(-w // 2)
            self.pool = nn.Identity()
            flat = c_in * h * w
        else:
            self.pool = nn.AdaptiveAvgPool2d(pool_size)
            flat = c_in * pool_size * pool_size
        self.head = _Head(flat, hidden, n_classes, dropout)
        self.feature_dim = self.head.out_features

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.head(torch.flatten(x, 1))


def _conv_bn_relu(c_in, c_out, stride=1):
    return [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class VGGNet(nn.Module):
    """VGG-style net for 48x48 faces: four blocks of two 3x3 convs with batch norm.

    The layout of the VGG variants that reach about 73% on FER2013
    (Khaireddin & Chen, 2021): blocks of ``[conv3x3 -> BN -> ReLU] x 2 ->
    max-pool`` with 64, 128, 256 and 512 channels (48 -> 24 -> 12 -> 6 -> 3),
    then dense layers with dropout.

    Parameters
    ----------
    n_classes : int or None, default=7
        Number of outputs; ``None``: return the features before the output layer.
    in_channels : int, default=1
        1 for grey, 3 for RGB images.
    channels : tuple of int, default=(64, 128, 256, 512)
        Channels of each block (each block halves the size).
    convs_per_block : int, default=2
        Number of 3x3 conv layers per block.
    hidden : tuple of int, default=(1024, 512)
        Widths of the dense layers.
    dropout : float, default=0.5
        Dropout rate before each dense layer.
    pool_size : int, default=3
        The last feature map is adaptively average-pooled to this side (3 is
        the identity for 48x48 input) and flattened.

    Examples
    --------
    >>> import torch
    >>> from skfer.nets import VGGNet
    >>> net = VGGNet(n_classes=7, channels=(8, 8, 16, 16), hidden=(32,))
    >>> net(torch.zeros(2, 1, 48, 48)).shape
    torch.Size([2, 7])
    """

    def __init__(
        self,
        n_classes=7,
        in_channels=1,
        *,
        channels=(64, 128, 256, 512),
        convs_per_block=2,
        hidden=(1024, 512),
        dropout=0.5,
        pool_size=3,
    ):
        super().__init__()
        n_classes = _check_n_classes(n_classes)
        channels = _as_tuple(channels, "channels")
        hidden = _as_tuple(hidden, "hidden") if hidden else ()
        dropout = _check_dropout(dropout)
        layers = []
        c_in = in_channels
        for c in channels:
            for i in range(int(convs_per_block)):
                layers += _conv_bn_relu(c_in if i == 0 else c, c)
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.head = _Head(c_in * pool_size * pool_size, hidden, n_classes, dropout)
        self.feature_dim = self.head.out_features

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.head(torch.flatten(x, 1))


class _BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 adapted to 48x48 inputs: 3x3 stem, no early max-pool.

    Four stages of two basic residual blocks (64, 128, 256, 512 channels; the
    last three halve the size: 48 -> 48, 24, 12, 6), global average pooling,
    dropout and a linear output layer. The ImageNet stem (7x7 stride 2 and a
    max-pool) would shrink a 48x48 face to 12x12 before the first block.

    Parameters
    ----------
    n_classes : int or None, default=7
        Number of outputs; ``None``: return the pooled features.
    in_channels : int, default=1
        1 for grey, 3 for RGB images.
    channels : tuple of int, default=(64, 128, 256, 512)
        Channels of each stage.
    blocks : tuple of int, default=(2, 2, 2, 2)
        Basic blocks per stage (``(2, 2, 2, 2)`` is ResNet-18,
        ``(3, 4, 6, 3)`` ResNet-34).
    dropout : float, default=0.2
        Dropout before the output layer.

    Examples
    --------
    >>> import torch
    >>> from skfer.nets import ResNet18
    >>> net = ResNet18(n_classes=7, channels=(8, 8, 16, 16), blocks=(1, 1, 1, 1))
    >>> net(torch.zeros(2, 1, 48, 48)).shape
    torch.Size([2, 7])
    """

    def __init__(
        self,
        n_classes=7,
        in_channels=1,
        *,
        channels=(64, 128, 256, 512),
        blocks=(2, 2, 2, 2),
        dropout=0.2,
    ):
        super().__init__()
        n_classes = _check_n_classes(n_classes)
        channels = _as_tuple(channels, "channels")
        blocks = _as_tuple(blocks, "blocks")
        if len(blocks) != len(channels):
            raise ValueError(
                f"blocks {blocks} and channels {channels} must have the same length."
            )
        dropout = _check_dropout(dropout)
        self.stem = nn.Sequential(*_conv_bn_relu(in_channels, channels[0]))
        stages = []
        c_in = channels[0]
        for i, (c, n) in enumerate(zip(channels, blocks, strict=True)):
            stride = 1 if i == 0 else 2
            stage = [_BasicBlock(c_in, c, stride)]
            stage += [_BasicBlock(c, c, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*stage))
            c_in = c
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = _Head(c_in, (), n_classes, dropout)
        self.feature_dim = self.head.out_features

    def forward(self, x):
        x = self.pool(self.stages(self.stem(x)))
        return self.head(torch.flatten(x, 1))


class _SeparableConv(nn.Sequential):
    def __init__(self, c_in, c_out):
        super().__init__(
            nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )


class _XceptionModule(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=2, bias=False), nn.BatchNorm2d(c_out)
        )
        self.body = nn.Sequential(
            _SeparableConv(c_in, c_out),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            _SeparableConv(c_out, c_out),
            nn.BatchNorm2d(c_out),
            nn.MaxPool2d(3, stride=2, padding=1),
        )

    def forward(self, x):
        return self.body(x) + self.residual(x)


class MiniXception(nn.Module):
    """mini-Xception (Arriaga et al., 2017): depthwise-separable, under 100k parameters.

    Two 3x3 convolutions, then four modules of ``[separable conv -> BN ->
    ReLU -> separable conv -> BN -> max-pool]`` with a strided 1x1 residual
    (16, 32, 64, 128 channels; 48 -> 24 -> 12 -> 6 -> 3), then a 3x3
    convolution to the classes and global average pooling. About 57k
    parameters for 7 classes: the fast choice on CPU (~66% on FER2013 in
    the paper).

    Parameters
    ----------
    n_classes : int or None, default=7
        Number of outputs; ``None``: return the globally pooled features
        of the last module.
    in_channels : int, default=1
        1 for grey, 3 for RGB images.
    base_channels : int, default=8
        Channels of the two plain convolutions at the start.
    channels : tuple of int, default=(16, 32, 64, 128)
        Channels of the separable modules (each halves the size).
    dropout : float, default=0.0
        Dropout before the output convolution.

    Examples
    --------
    >>> import torch
    >>> from skfer.nets import MiniXception
    >>> MiniXception(n_classes=7)(torch.zeros(2, 1, 48, 48)).shape
    torch.Size([2, 7])
    """

    def __init__(
        self,
        n_classes=7,
        in_channels=1,
        *,
        base_channels=8,
        channels=(16, 32, 64, 128),
        dropout=0.0,
    ):
        super().__init__()
        n_classes = _check_n_classes(n_classes)
        channels = _as_tuple(channels, "channels")
        (base_channels,) = _as_tuple(base_channels, "base_channels")
        dropout = _check_dropout(dropout)
        self.stem = nn.Sequential(
            *_conv_bn_relu(in_channels, base_channels),
            *_conv_bn_relu(base_channels, base_channels),
        )
        modules = []
        c_in = base_channels
        for c in channels:
            modules.append(_XceptionModule(c_in, c))
            c_in = c
        self.blocks = nn.Sequential(*modules)
        self.dropout = nn.Dropout(dropout)
        if n_classes is None:
            self.classifier = None
            self.feature_dim = c_in
        else:
            self.classifier = nn.Conv2d(c_in, n_classes, 3, padding=1)
            self.feature_dim = n_classes
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        if self.classifier is not None:
            x = self.classifier(self.dropout(x))
        return torch.flatten(self.pool(x), 1)


#: Convolutional architectures by name, as accepted by ``architecture=``.
ARCHITECTURES = {
    "simple": SimpleCNN,
    "vgg": VGGNet,
    "resnet": ResNet18,
    "mini_xception": MiniXception,
}


def get_architecture(architecture):
    """Return the module class for an architecture name or class.

    Parameters
    ----------
    architecture : str or type
        A key of :data:`ARCHITECTURES` (``'simple'``, ``'vgg'``,
        ``'resnet'``, ``'mini_xception'``) or a :class:`torch.nn.Module`
        subclass (not an instance).

    Returns
    -------
    cls : type

    Examples
    --------
    >>> from skfer.nets import get_architecture
    >>> get_architecture("vgg").__name__
    'VGGNet'
    """
    if isinstance(architecture, str):
        try:
            return ARCHITECTURES[architecture]
        except KeyError:
            raise ValueError(
                f"Unknown architecture {architecture!r}; use one of "
                f"{sorted(ARCHITECTURES)} or pass a torch.nn.Module subclass."
            ) from None
    if isinstance(architecture, type) and issubclass(architecture, nn.Module):
        return architecture
    if isinstance(architecture, nn.Module):
        raise TypeError(
            f"architecture must be a torch.nn.Module class, not an instance "
            f"({type(architecture).__name__}(...)): the estimator builds a fresh "
            "net in every fit. Pass the class and set its arguments as "
            "module__<name>=value."
        )
    raise TypeError(
        "architecture must be a name "
        f"{sorted(ARCHITECTURES)} or a torch.nn.Module subclass, got {architecture!r}."
    )


def accepts_argument(cls, name):
    """Whether ``cls(...)`` takes a keyword argument ``name``.

    True when ``name`` is a parameter of ``cls``'s signature or when the
    signature has ``**kwargs``. The deep estimators ask it of an
    architecture class before passing it arguments derived from the data,
    such as ``input_shape=(H, W)``.

    Parameters
    ----------
    cls : callable
        An architecture class (or any callable).
    name : str
        The keyword argument.

    Returns
    -------
    accepted : bool

    Examples
    --------
    >>> from skfer.nets import MiniXception, SimpleCNN, accepts_argument
    >>> accepts_argument(SimpleCNN, "input_shape"), accepts_argument(MiniXception, "input_shape")
    (True, False)
    """
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
_DIRECTIONS = ("top_down", "bottom_up", "left_right", "right_left")


class _StackedRNN(nn.Module):
    """Recurrent layers of possibly different widths; returns the last state."""

    def __init__(self, input_size, hidden_sizes, cell, bidirectional, dropout):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}.")
        hidden_sizes = _as_tuple(hidden_sizes, "hidden_sizes")
        self.layers = nn.ModuleList()
        n_dirs = 2 if bidirectional else 1
        for h in hidden_sizes:
            self.layers.append(
                _CELLS[cell](input_size, h, batch_first=True, bidirectional=bool(bidirectional))
            )
            input_size = h * n_dirs
        self.dropout = nn.Dropout(_check_dropout(dropout))
        self.out_features = input_size

    def forward(self, x):
        """``x``: (N, T, F) -> (N, out_features), the final state(s) of the last layer."""
        for i, layer in enumerate(self.layers):
            if i:
                x = self.dropout(x)
            x, state = layer(x)
        h_n = state[0] if isinstance(state, tuple) else state  # (dirs, N, H)
        return torch.cat(list(h_n), dim=1)


class RowRNN(nn.Module):
    """Recurrent net that reads an image row by row (a time step per row).

    The classic layout is LSTM(128) -> LSTM(64) -> Dense: each row of
    ``W * C`` pixels is one time step, the final state of the last layer
    feeds a linear output layer.

    Parameters
    ----------
    n_classes : int, default=7
        Number of outputs (logits).
    in_channels : int, default=1
        1 for grey, 3 for RGB.
    input_shape : tuple (H, W)
        Image size; sets the step width (``W * C``, or ``H * C`` for
        column directions). Required.
    hidden_sizes : int or tuple of int, default=(128, 64)
        Width of each stacked recurrent layer (its length is the number
        of layers).
    cell : {'lstm', 'gru'}, default='lstm'
        Recurrent cell.
    bidirectional : bool, default=False
        Read each sequence both ways (the state widths double).
    direction : {'top_down', 'bottom_up', 'left_right', 'right_left'}, default='top_down'
        Reading order: rows from the top or bottom, or columns from the
        left or right.
    dropout : float, default=0.0
        Dropout between recurrent layers and before the output layer.

    Examples
    --------
    >>> import torch
    >>> from skfer.nets import RowRNN
    >>> net = RowRNN(n_classes=3, input_shape=(8, 10), hidden_sizes=(16, 8))
    >>> net(torch.zeros(4, 1, 8, 10)).shape
    torch.Size([4, 3])
    """

    def __init__(
        self,
        n_classes=7,
        in_channels=1,
        *,
        input_shape,
        hidden_sizes=(128, 64),
        cell="lstm",
        bidirectional=False,
        direction="top_down",
        dropout=0.0,
    ):
        super().__init__()
        n_classes = _check_n_classes(n_classes)
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}.")
        self.direction = direction
        h, w = int(input_shape[0]), int(input_shape[1])
        step = (w if direction in ("top_down", "bottom_up") else h) * in_channels
        self.rnn = _StackedRNN(step, hidden_sizes, cell, bidirectional, dropout)
        self.head = _Head(self.rnn.out_features, (), n_classes, dropout)
        self.feature_dim = self.head.out_features

    def forward(self, x):
        n = x.shape[0]
        if self.direction in ("top_down", "bottom_up"):
            seq = x.permute(0, 2, 3, 1).reshape(n, x.shape[2], -1)  # (N, H, W*C)
        else:
            seq = x.permute(0, 3, 2, 1).reshape(n, x.shape[3], -1)  # (N, W, H*C)
        if self.direction in ("bottom_up", "right_left"):
            seq = seq.flip(1)
        return self.head(self.rnn(seq))


class SequenceNet(nn.Module):
    """CNN frame encoder followed by recurrent layers, for frame sequences.

    Each frame of ``(N, T, C, H, W)`` is encoded by a convolutional net
    built with ``n_classes=None`` (a feature extractor), then the ``T``
    feature vectors are read by stacked LSTM or GRU layers whose final
    state feeds a linear output layer.

    Parameters
    ----------
    n_classes : int, default=7
        Number of outputs (logits).
    in_channels : int, default=1
        1 for grey, 3 for RGB frames.
    encoder : str or type, default='simple'
        Frame encoder: a name of :data:`ARCHITECTURES` or a module class
        that accepts ``n_classes=None`` and exposes ``feature_dim``.
    encoder_kwargs : dict or None, default=None
        Extra arguments of the encoder (e.g. ``{'channels': (16, 32)}``).
        ``None``: for ``'simple'``, ``channels=(32, 64), hidden=(128,)``.
    input_shape : tuple (H, W) or None, default=None
        Frame size, passed to encoders that take it.
    hidden_sizes : int or tuple of int, default=(64,)
        Widths of the stacked recurrent layers.
    cell : {'lstm', 'gru'}, default='lstm'
        Recurrent cell.
    bidirectional : bool, default=False
        Read the frames both ways.
    dropout : float, default=0.0
        Dropout between recurrent layers and before the output layer.

    Examples
    --------
    >>> import torch
    >>> from skfer.nets import SequenceNet
    >>> net = SequenceNet(n_classes=3, encoder_kwargs={"channels": (4, 8), "hidden": (16,)})
    >>> net(torch.zeros(2, 5, 1, 16, 16)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        n_classes=7,
        in_channels=1,
        *,
        encoder="simple",
        encoder_kwargs=None,
        input_shape=None,
        hidden_sizes=(64,),
        cell="lstm",
        bidirectional=False,
        dropout=0.0,
    ):
        super().__init__()
        n_classes = _check_n_classes(n_classes)
        enc_cls = get_architecture(encoder)
        kwargs = dict(encoder_kwargs or {})
        if encoder_kwargs is None and enc_cls is SimpleCNN:
            kwargs = {"channels": (32, 64), "hidden": (128,)}
        if input_shape is not None and accepts_argument(enc_cls, "input_shape"):
            kwargs.setdefault("input_shape", tuple(input_shape))
        self.encoder = enc_cls(n_classes=None, in_channels=in_channels, **kwargs)
        feat = getattr(self.encoder, "feature_dim", None)
        if feat is None:
            raise TypeError(
                f"encoder {enc_cls.__name__} must expose `feature_dim` (the width "
                "of its output when built with n_classes=None)."
            )
        self.rnn = _StackedRNN(feat, hidden_sizes, cell, bidirectional, dropout)
        self.head = _Head(self.rnn.out_features, (), n_classes, dropout)
        self.feature_dim = self.head.out_features

    def forward(self, x):
        n, t = x.shape[:2]
        feats = self.encoder(x.reshape(n * t, *x.shape[2:])).reshape(n, t, -1)
        return self.head(self.rnn(feats))
