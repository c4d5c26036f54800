"""Training speed per architecture on FER2013-sized data: images/s, seconds per epoch, GPU memory and load.

Each architecture (``CNNClassifier`` with ``'simple'``, ``'vgg'``,
``'resnet'``, ``'mini_xception'``; ``'rnn'`` is ``RNNClassifier`` with its
default LSTM(128) -> LSTM(64)) trains for ``--epochs`` epochs on synthetic
data of FER2013's size: 28,709 random 48x48 ``uint8`` grey images, 7
classes (random pixels and labels: the loss does not matter, the speed
does). Training runs as ``fit`` runs it by default on the chosen device,
with the default augmentation (flip, rotation, shift, zoom, done on whole
batches on the device), but without a validation split or early stopping,
so that every epoch sees all images.

Printed per architecture:

* ``epoch s``: mean seconds per full epoch, from skorch's history
  (``net_.history[:, 'dur']``), leaving out the first epoch (warm-up:
  cuDNN autotuning, allocator growth, and ``torch.compile`` with
  ``--compile``), whose time is printed apart as ``first s``;
* ``images/s``: training images per second over those epochs;
* ``peak MiB``: ``torch.cuda.max_memory_allocated`` during the fit;
* ``GPU %``: mean of ``torch.cuda.utilization()`` sampled every 0.1 s
  during the epochs after the first (it needs the ``pynvml`` module, from
  the ``nvidia-ml-py`` package; 'n/a' without it);
* ``bf16``/``ch-last``: whether mixed precision and ``channels_last`` were on
  (``'auto'`` turns both on for CNNs on CUDA).

The target of issue #6 is a full epoch of ``'vgg'`` in under 2 s on one
H100.

Run::

    python benchmarks/bench_gpu_epoch.py                        # CUDA if available
    python benchmarks/bench_gpu_epoch.py --architectures vgg --compile
    python benchmarks/bench_gpu_epoch.py --batch-size 256 --compile-mode max-autotune
    # a quick check of the script on a CPU
    OMP_NUM_THREADS=1 python benchmarks/bench_gpu_epoch.py --device cpu --n-images 512 --epochs 2
"""

from __future__ import annotations

import argparse
import platform
import threading
import time

import numpy as np
import torch
from skorch.callbacks import Callback

ARCHITECTURES = ("simple", "vgg", "resnet", "mini_xception", "rnn")
FER2013_TRAIN = 28_709


class UtilisationSampler(Callback):
    """Samples ``torch.cuda.utilization`` in a thread from the second epoch on."""

    def __init__(self, device, interval=0.1):
        self.device = device
        self.interval = interval

    def initialize(self):
        self.samples_ = []
        self._stop = None
        self._thread = None
        return self

    def _poll(self):
        while not self._stop.wait(self.interval):
            self.samples_.append(torch.cuda.utilization(self.device))

    def on_epoch_begin(self, net, **kwargs):
        # net.history already holds the new epoch: start with the second one
        if len(net.history) >= 2 and self._thread is None:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()

    def on_train_end(self, net, **kwargs):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __getstate__(self):  # skfer deep-copies callbacks at fit; threads do not copy
        state = dict(self.__dict__)
        state.update(_stop=None, _thread=None)
        return state


def utilisation_available(device):
    if torch.device(device).type != "cuda":
        return False
    try:
        torch.cuda.utilization(device)
    except Exception:  # pynvml missing, or NVML cannot see the device
        return False
    return True


def make_data(n, size=48, n_classes=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    y = rng.integers(0, n_classes, n)
    return X, y


def _tristate(value):
    return {"auto": "auto", "on": True, "off": False}[value]


def build(name, args, callbacks):
    from skfer.neural import CNNClassifier, RNNClassifier

    compile_ = False
    if args.compile or args.compile_mode or args.compile_backend:
        compile_ = {k: v for k, v in (("mode", args.compile_mode),
                                      ("backend", args.compile_backend)) if v} or True
    common = dict(
        max_epochs=args.epochs, batch_size=args.batch_size, device=args.device,
        augment=args.augment, validation_fraction=None, early_stopping=False,
        mixed_precision=_tristate(args.mixed_precision),
        channels_last=_tristate(args.channels_last), compile=compile_,
        random_state=0, callbacks=callbacks,
    )
    if name == "rnn":
        return RNNClassifier(cell="lstm", **common)
    return CNNClassifier(architecture=name, **common)


def run_one(name, X, y, args, sample_util):
    from skfer.nets import count_parameters

    on_cuda = torch.device(args.device).type == "cuda"
    callbacks = [("gpu_util", UtilisationSampler(args.device))] if sample_util else None
    clf = build(name, args, callbacks)
    if on_cuda:
        torch.cuda.synchronize(args.device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(args.device)
    t = time.perf_counter()
    clf.fit(X, y)
    if on_cuda:
        torch.cuda.synchronize(args.device)
    wall = time.perf_counter() - t
    net = clf.net_
    durs = np.asarray(net.history[:, "dur"], dtype=float)
    steady = durs[1:]
    n_seen = int(np.sum(net.history[-1, "batches", :, "train_batch_size"]))  # per epoch
    row = {
        "name": name,
        "params": count_parameters(net.module_.body),
        "first": durs[0],
        "epoch": float(np.mean(steady)),
        "images_s": n_seen / float(np.mean(steady)),
        "wall": wall,
        "peak_mib": torch.cuda.max_memory_allocated(args.device) / 2**20 if on_cuda else None,
        "util": None,
        "bf16": bool(net.mixed_precision) and on_cuda,
        "channels_last": bool(net.channels_last),
    }
    if sample_util:
        samples = dict(net.callbacks_)["gpu_util"].samples_
        row["util"] = float(np.mean(samples)) if samples else None
    del clf, net
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="'cuda', 'cuda:<index>' or 'cpu' (default: cuda if available)")
    parser.add_argument("--architectures", nargs="+", default=list(ARCHITECTURES[:4]),
                        choices=ARCHITECTURES, metavar="ARCH",
                        help=f"any of {', '.join(ARCHITECTURES)} (default: the four CNNs)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per architecture, the first one not counted (>= 2)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--n-images", type=int, default=FER2013_TRAIN)
    parser.add_argument("--compile", action="store_true",
                        help="compile=True (torch.compile with its defaults)")
    parser.add_argument("--compile-mode", default=None,
                        help="torch.compile mode, e.g. max-autotune (implies --compile)")
    parser.add_argument("--compile-backend", default=None,
                        help="torch.compile backend, e.g. eager (implies --compile)")
    parser.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--cudnn-benchmark", action=argparse.BooleanOptionalAction,
                        default=True, help="torch.backends.cudnn.benchmark on CUDA")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch is a warm-up)")
    if args.threads:
        torch.set_num_threads(args.threads)
    on_cuda = torch.device(args.device).type == "cuda"
    if on_cuda:
        if not torch.cuda.is_available():
            parser.error(f"--device {args.device}: CUDA is not available here")
        torch.backends.cudnn.benchmark = args.cudnn_benchmark

    X, y = make_data(args.n_images)
    sample_util = utilisation_available(args.device)
    if on_cuda:
        where = f"{torch.cuda.get_device_name(args.device)} ({args.device})"
    else:
        where = f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s)"
    compile_desc = (
        "off" if not (args.compile or args.compile_mode or args.compile_backend)
        else f"on (mode={args.compile_mode or 'default'}, backend={args.compile_backend or 'inductor'})"
    )
    print(f"synthetic data shaped like FER2013 ({FER2013_TRAIN} training images): "
          f"{args.n_images} random images 48x48 grey uint8, 7 classes; "
          f"batch {args.batch_size}, {args.epochs} epochs (the first one is warm-up, not "
          f"counted), augmentation {'on' if args.augment else 'off'}, no validation split")
    print(f"device: {where}; torch {torch.__version__}; compile: {compile_desc}"
          + (f"; cudnn.benchmark: {'on' if args.cudnn_benchmark else 'off'}" if on_cuda else ""))
    header = (f"{'architecture':<14}{'params':>11}{'epoch s':>9}{'images/s':>10}"
              f"{'first s':>9}{'peak MiB':>10}{'GPU %':>7}{'bf16':>6}{'ch-last':>9}")
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.architectures:
        row = run_one(name, X, y, args, sample_util)
        rows.append(row)
        peak = "n/a" if row["peak_mib"] is None else f"{row['peak_mib']:.0f}"
        util = "n/a" if row["util"] is None else f"{row['util']:.0f}"
        print(f"{name:<14}{row['params']:>11,}{row['epoch']:>9.2f}{row['images_s']:>10.0f}"
              f"{row['first']:>9.2f}{peak:>10}{util:>7}{'yes' if row['bf16'] else 'no':>6}"
              f"{'yes' if row['channels_last'] else 'no':>9}", flush=True)
    if on_cuda and not sample_util:
        print("GPU %: n/a (torch.cuda.utilization needs pynvml: pip install nvidia-ml-py)")
    vgg = next((r for r in rows if r["name"] == "vgg"), None)
    if vgg is not None and on_cuda and args.n_images == FER2013_TRAIN:
        verdict = "met" if vgg["epoch"] < 2.0 else "not met"
        print(f"target (one H100): a full 'vgg' epoch under 2 s: {vgg['epoch']:.2f} s, {verdict} "
              f"on {torch.cuda.get_device_name(args.device)}")
    return rows


if __name__ == "__main__":
    main()
