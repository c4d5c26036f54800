"""Tests of the torch architectures in skfer.nets."""

import pytest
import torch
from torch import nn

from skfer.nets import (
    ARCHITECTURES,
    MiniXception,
    ResNet18,
    RowRNN,
    SequenceNet,
    SimpleCNN,
    VGGNet,
    count_parameters,
    get_architecture,
)

# Small widths so that every test runs in milliseconds.
TINY = {
    "simple": {"channels": (4, 8), "hidden": (16, 8)},
    "vgg": {"channels": (4, 8, 8, 16), "hidden": (16,)},
    "resnet": {"channels": (4, 8, 8, 16), "blocks": (1, 1, 1, 1)},
    "mini_xception": {"base_channels": 4, "channels": (8, 8, 16, 16)},
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
@pytest.mark.parametrize("size", [(48, 48), (64, 40), (7, 9), (1, 1), (1, 12)])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_conv_nets_any_size(name, size, in_channels):
    net = ARCHITECTURES[name](n_classes=5, in_channels=in_channels, **TINY[name]).eval()
    out = net(torch.randn(3, in_channels, *size))
    assert out.shape == (3, 5)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_feature_extractor_mode(name):
    net = ARCHITECTURES[name](n_classes=None, in_channels=1, **TINY[name]).eval()
    out = net(torch.randn(2, 1, 20, 20))
    assert out.shape == (2, net.feature_dim)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_backward_reaches_every_parameter(name):
    net = ARCHITECTURES[name](n_classes=3, in_channels=1, **TINY[name]).train()
    loss = nn.functional.cross_entropy(net(torch.randn(4, 1, 16, 16)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname


def test_default_sizes_48x48():
    """The documented layouts and parameter budgets at 48x48 grey, 7 classes."""
    x = torch.zeros(2, 1, 48, 48)
    mx = MiniXception(n_classes=7, in_channels=1)
    assert count_parameters(mx) < 100_000
    simple = SimpleCNN(n_classes=7, input_shape=(48, 48))
    convs = [m for m in simple.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64]
    dense = [m for m in simple.modules() if isinstance(m, nn.Linear)]
    assert [d.out_features for d in dense] == [128, 64, 7]
    assert dense[0].in_features == 64 * 12 * 12  # textbook flatten of 48 / 4
    vgg = VGGNet()
    vgg_convs = [m.out_channels for m in vgg.modules() if isinstance(m, nn.Conv2d)]
    assert vgg_convs == [64, 64, 128, 128, 256, 256, 512, 512]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in vgg.modules()) == 8
    res = ResNet18()
    assert res.stem[0].kernel_size == (3, 3) and res.stem[0].stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in res.modules())
    blocks = [m for m in res.modules() if type(m).__name__ == "_BasicBlock"]
    assert len(blocks) == 8  # ResNet-18
    for net in (mx, simple, vgg.eval(), res.eval()):
        assert net.eval()(x).shape == (2, 7)


def test_simple_without_input_shape_uses_adaptive_pool():
    net = SimpleCNN(n_classes=2, **TINY["simple"]).eval()
    assert net(torch.zeros(1, 1, 30, 50)).shape == (1, 2)
    fixed = SimpleCNN(n_classes=2, input_shape=(30, 50), **TINY["simple"]).eval()
    assert fixed(torch.zeros(1, 1, 30, 50)).shape == (1, 2)


def test_get_architecture():
    assert get_architecture("vgg") is VGGNet
    assert get_architecture(ResNet18) is ResNet18
    with pytest.raises(ValueError, match="Unknown architecture 'alexnet'.*mini_xception"):
        get_architecture("alexnet")
    with pytest.raises(TypeError, match="class, not an instance"):
        get_architecture(VGGNet())
    with pytest.raises(TypeError, match="torch.nn.Module subclass"):
        get_architecture(42)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dropout": 1.5}, "dropout must be in"),
        ({"channels": ()}, "channels must hold positive ints"),
        ({"channels": "abc"}, "channels must be an int or a sequence"),
        ({"n_classes": 0}, "n_classes must be a positive int"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SimpleCNN(**kwargs)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_row_rnn_shapes(cell, bidirectional):
    net = RowRNN(
        n_classes=4, in_channels=3, input_shape=(6, 5), hidden_sizes=(8, 6),
        cell=cell, bidirectional=bidirectional,
    )
    assert net(torch.randn(2, 3, 6, 5)).shape == (2, 4)
    layers = net.rnn.layers
    assert [layer.hidden_size for layer in layers] == [8, 6]
    assert layers[0].input_size == 5 * 3  # a row of W * C values per step
    assert all(layer.bidirectional == bidirectional for layer in layers)


def test_row_rnn_directions_read_rows_and_columns():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 6, 5)
    td = RowRNN(n_classes=3, input_shape=(6, 5), hidden_sizes=(8,)).eval()
    bu = RowRNN(n_classes=3, input_shape=(6, 5), hidden_sizes=(8,), direction="bottom_up").eval()
    bu.load_state_dict(td.state_dict())
    # bottom-up reading of an image is top-down reading of its vertical mirror
    torch.testing.assert_close(bu(x), td(x.flip(2)))
    assert not torch.allclose(bu(x), td(x))
    lr = RowRNN(n_classes=3, input_shape=(6, 5), hidden_sizes=(8,), direction="left_right")
    assert lr.rnn.layers[0].input_size == 6  # a column of H values per step
    rl = RowRNN(n_classes=3, input_shape=(6, 5), hidden_sizes=(8,), direction="right_left").eval()
    rl.load_state_dict(lr.state_dict())
    torch.testing.assert_close(rl.eval()(x), lr.eval()(x.flip(3)))
    with pytest.raises(ValueError, match="direction must be one of"):
        RowRNN(input_shape=(6, 5), direction="diagonal")
    with pytest.raises(ValueError, match="cell must be one of"):
        RowRNN(input_shape=(6, 5), cell="rnn")


def test_row_rnn_default_is_lstm_128_64():
    net = RowRNN(n_classes=7, input_shape=(48, 48))
    assert [type(m).__name__ for m in net.rnn.layers] == ["LSTM", "LSTM"]
    assert [m.hidden_size for m in net.rnn.layers] == [128, 64]


@pytest.mark.parametrize("encoder", sorted(ARCHITECTURES))
def test_sequence_net_encoders(encoder):
    net = SequenceNet(
        n_classes=3, in_channels=1, encoder=encoder, encoder_kwargs=TINY[encoder],
        input_shape=(16, 16), hidden_sizes=(8,), cell="gru",
    ).eval()
    assert net(torch.randn(2, 4, 1, 16, 16)).shape == (2, 3)


def test_sequence_net_uses_frame_order():
    torch.manual_seed(0)
    net = SequenceNet(n_classes=2, encoder_kwargs=TINY["simple"], hidden_sizes=(8,)).eval()
    x = torch.randn(1, 5, 1, 12, 12)
    assert not torch.allclose(net(x), net(x.flip(1)))


def test_sequence_net_rejects_encoder_without_feature_dim():
    class NoFeatures(nn.Module):
        def __init__(self, n_classes=None, in_channels=1):
            super().__init__()
            self.lin = nn.LazyLinear(4)

    with pytest.raises(TypeError, match="feature_dim"):
        SequenceNet(encoder=NoFeatures)


@pytest.mark.gpu
def test_gpu_marked_tests_run_only_with_cuda():
    """conftest's hook skips tests marked gpu without a CUDA device, so this
    one runs (and passes) only where CUDA is."""
    assert torch.cuda.is_available()
    net = SimpleCNN(n_classes=3, **TINY["simple"]).cuda().eval()
    assert net(torch.randn(2, 1, 12, 12, device="cuda")).shape == (2, 3)
