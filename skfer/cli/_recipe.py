"""``skfer recipe``: reproduce a model shipped in :mod:`skfer.pretrained`.

The recipes themselves (training stages, BatchNorm recalibration, model
cards) are :mod:`skfer.pretrained.train`; this command checks the options,
runs one and prints the card.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._common import UsageError, check_writable, error

_DESCRIPTION = """\
Reproduce a shipped pretrained model (the recipes of skfer.pretrained.train).
--dataset fer2013: the FER2013 mini-Xception, stage 1 (--out DIR), then stage 2
(--init DIR --out DIR2, a warm restart that ends with a BatchNorm
recalibration). --dataset ferplus: fine-tune the shipped FER2013 model on FER+
(reference majority protocol), on the annotators' vote distributions (--labels
votes) or the majority labels (--labels majority). Each run writes
model.skfer and card.json to --out (FER+: a checkpoint per epoch too) and
prints the card.
"""

_EPILOG = """\
examples:
  skfer recipe --data fer2013.csv.gz --out stage1
  skfer recipe --data fer2013.csv.gz --init stage1 --budget 7500 --out stage2
  skfer recipe --dataset ferplus --ferplus fer2013new.csv --data fer2013.csv.gz \\
      --labels votes --budget 3500 --threads 2 --out ferplus_votes
"""


def format_parser(subparsers):
    """Register ``skfer recipe`` on argparse ``subparsers``."""
    p = subparsers.add_parser(
        "recipe", help="reproduce a shipped pretrained model (FER2013, FER+)",
        description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=("fer2013", "ferplus"), default="fer2013",
                   help="fer2013: the FER2013 recipe (two stages); ferplus: fine-tune --init "
                        "(default: the shipped FER2013 model) on FER+ (needs --ferplus)")
    p.add_argument("--ferplus", default=None, metavar="CSV",
                   help="--dataset ferplus: the FER+ labels, fer2013new.csv")
    p.add_argument("--labels", choices=("votes", "majority"), default=None,
                   help="--dataset ferplus: train on the vote distributions (soft targets, "
                        "the default) or on the majority labels alone")
    p.add_argument("--n-train", type=int, default=None, metavar="N",
                   help="use only the first N Training images (smoke runs)")
    p.add_argument("--data", required=True,
                   help="FER2013 csv, csv.gz, tar.gz or image folders")
    p.add_argument("--out", required=True, help="folder to write the model to")
    p.add_argument("--budget", type=float, default=3500, help="training seconds at most")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-epochs", type=int, default=None,
                   help="epochs of the stage (default: the recipe's)")
    p.add_argument("--init", default=None,
                   help="fer2013: run the second stage (FINETUNE) from the model saved in "
                        "this folder (the first stage's --out); ferplus: the FER2013 model "
                        "folder to fine-tune (default: the shipped one)")
    p.add_argument("--no-recalibrate-bn", action="store_true",
                   help="second stage: keep the BatchNorm statistics gathered on augmented "
                        "batches (by default they are re-estimated on the clean training "
                        "images, see recalibrate_batchnorm)")
    p.add_argument("--recalibrate", default=None, metavar="DIR",
                   help="train nothing: recalibrate the BatchNorm statistics of the model "
                        "saved in DIR (a stage trained with --no-recalibrate-bn) and write "
                        "it with its card to --out")
    p.set_defaults(func=main)
    return p


def _check(args):
    from ..pretrained import MODEL_FILE

    for flag, folder in (("--init", args.init), ("--recalibrate", args.recalibrate)):
        if folder is not None and not Path(folder, MODEL_FILE).is_file():
            raise UsageError(f"{flag} {folder}: no saved model there (expected {MODEL_FILE}, "
                             "as the first stage's --out holds).")
    if args.recalibrate is not None and not Path(args.recalibrate, "card.json").is_file():
        raise UsageError(f"--recalibrate {args.recalibrate}: no card.json there; give a "
                         "folder written by this command.")
    if not Path(args.data).exists():
        raise UsageError(f"--data {args.data}: no such file or folder.")
    if args.n_train is not None and args.n_train < 1:
        raise UsageError(f"--n-train must be at least 1, got {args.n_train}.")
    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}.")
    if args.dataset == "ferplus":
        if args.ferplus is None:
            raise UsageError("--dataset ferplus needs --ferplus CSV, the FER+ labels "
                             "(fer2013new.csv).")
        if not Path(args.ferplus).is_file():
            raise UsageError(f"--ferplus {args.ferplus}: no such file.")
        if args.recalibrate is not None:
            raise UsageError("--recalibrate is for the FER2013 stages; a FER+ run "
                             "recalibrates its BatchNorm statistics itself (unless "
                             "--no-recalibrate-bn).")
    elif args.labels is not None or args.ferplus is not None:
        raise UsageError("--labels and --ferplus are options of --dataset ferplus.")
    check_writable(args.out, "--out", folder=True)


def main(args):
    """Run ``skfer recipe`` from parsed arguments; returns the exit status."""
    try:
        _check(args)
    except UsageError as exc:
        return error("recipe", exc)
    import torch

    from ..pretrained import train

    torch.set_num_threads(args.threads)
    common = dict(budget=args.budget, max_epochs=args.max_epochs, threads=args.threads,
                  n_train=args.n_train, recalibrate_bn=not args.no_recalibrate_bn)
    if args.recalibrate is not None:
        card = train.recalibrate_saved(args.recalibrate, args.data, args.out)
    elif args.dataset == "ferplus":
        card = train.train_ferplus(args.data, args.ferplus, args.out, init=args.init,
                                   labels=args.labels or "votes", **common)
    else:
        card = train.train_fer2013(args.data, args.out, init=args.init, **common)
    print(json.dumps(card, indent=1))
    return 0
