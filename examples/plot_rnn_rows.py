"""
An LSTM reading faces row by row
================================

:class:`skfer.neural.RNNClassifier` reads each image as a sequence: every
row of a 48x48 face is one time step of 48 values, a recurrent layer (LSTM by
default) reads the 48 steps from the top down, and a dense layer classifies
its final state. It is the recurrent baseline of the FER literature, cheaper
than a CNN and weaker on real faces.

The estimator trains a skorch net inside ``fit`` and keeps it as ``net_``,
so ``net_.history`` holds one row per epoch: the training loss and, on the
internal validation split (``validation_fraction=0.1``), the validation loss
and accuracy. This example trains on synthetic faces from
:func:`skfer.datasets.make_faces` and plots that learning curve.
"""

# %%
# Train on some subjects, test on the others
# ------------------------------------------
# Subjects are split with :class:`~sklearn.model_selection.GroupShuffleSplit`,
# so the test faces belong to people the net never saw.
import matplotlib.pyplot as plt
from sklearn.model_selection import GroupShuffleSplit

from skfer.datasets import make_faces
from skfer.neural import RNNClassifier

faces = make_faces(n_samples=420, random_state=0)
train, test = next(
    GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=0).split(
        faces.images, faces.target, groups=faces.groups
    )
)

rnn = RNNClassifier(
    hidden_sizes=(64,),  # one LSTM layer; the default is LSTM(128) -> LSTM(64)
    cell="lstm",
    direction="top_down",
    lr=1e-2,
    max_epochs=30,
    augment=False,
    random_state=0,
)
rnn.fit(faces.images[train], faces.target[train])
print(f"accuracy on unseen subjects: {rnn.score(faces.images[test], faces.target[test]):.3f}")

# %%
# The learning curve from ``net_.history``
# ----------------------------------------
# skorch's history can be sliced by key: ``history[:, 'train_loss']`` is the
# list of per-epoch training losses.
history = rnn.net_.history
epochs = history[:, "epoch"]

fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3))
ax_loss.plot(epochs, history[:, "train_loss"], label="train")
ax_loss.plot(epochs, history[:, "valid_loss"], label="validation")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("loss")
ax_loss.legend()
ax_acc.plot(epochs, history[:, "valid_acc"], color="C1")
ax_acc.axhline(1 / len(faces.target_names), color="k", linestyle="--", label="chance")
ax_acc.set_xlabel("epoch")
ax_acc.set_ylabel("validation accuracy")
ax_acc.set_ylim(0, 1)
ax_acc.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
# A word of caution
# -----------------
# The internal validation split is drawn from the training *images*
# (stratified by class), so the same subjects appear on both sides of it: the
# validation accuracy above measures how well the net knows these people. The
# score that matters is the one on held-out subjects, printed earlier. Early
# stopping (``early_stopping=True``, the default) restores the weights of the
# epoch with the lowest validation loss.
