"""
Classical versus deep, on the same folds
========================================

A fair comparison scores every model on exactly the same folds, with the
folds split by subject so that no person is in both the training and the
test part, and reports the spread over the folds next to the mean, with
macro-F1 next to accuracy. :func:`skfer.evaluation.compare` does all of
this. Here two classical baselines from :func:`skfer.baselines.make_baseline`
(HOG features + SVM, and PCA + LDA "fisherfaces") meet a small
:class:`skfer.neural.CNNClassifier`.

The faces are synthetic (:func:`skfer.datasets.make_faces`) and the CNN is
tiny and trained for 15 epochs so the example runs in well under a minute on
one CPU thread: the ranking here says nothing about real faces. On CK+48 the
default ``CNNClassifier()`` and ``hog_svm`` score 0.903 and 0.890 (see
:doc:`/honest_evaluation`).
"""

# %%
# Data: synthetic faces, their subjects, and emotion names as labels
# ------------------------------------------------------------------
# :func:`skfer.map_labels` turns the integer ``target`` into the canonical
# emotion names, so tables and confusion matrices read ``'happy'``, not 3.
import matplotlib.pyplot as plt

from skfer import map_labels
from skfer.baselines import make_baseline
from skfer.datasets import make_faces
from skfer.evaluation import compare
from skfer.neural import CNNClassifier

faces = make_faces(n_samples=350, random_state=0)
labels = map_labels(faces.target, faces.target_names)

# %%
# The models
# ----------
# Every model takes the same ``X``: the baselines start with
# ``Grayscale -> Resize(48)``, and the CNN takes the 48x48 grey images as they
# are. Model specs such as ``"hog_svm"`` or ``"cnn:simple"`` (see
# :func:`skfer.models.make_model`) would do too; here the CNN is made smaller
# than ``"cnn:simple"`` to keep the example fast.
models = {
    "hog_svm": make_baseline("hog_svm", random_state=0),
    "pca_lda": make_baseline("pca_lda", random_state=0),
    "cnn (simple, tiny)": CNNClassifier(
        architecture="simple",
        module__channels=(16, 32),
        max_epochs=15,
        lr=3e-3,
        augment=False,
        random_state=0,
    ),
}

# %%
# Every model on the same subject-independent folds
# -------------------------------------------------
# With ``groups``, ``cv=5`` means ``GroupKFold(5)`` on the subjects. The folds
# are computed once and shared by all models, so the per-fold scores are
# paired. The scores are those that
# :func:`sklearn.model_selection.cross_validate` gives on the same folds.
results = compare(models, faces.images, labels, groups=faces.groups, cv=5)
print(results.to_markdown())

# %%
# Scores with their spread over the folds
# ---------------------------------------
# Accuracy and macro-F1 per model, the standard deviation over the five
# subject folds as error bars, and the majority-class rate as a dashed line.
results.plot("scores")
plt.show()

# %%
# Which expressions are confused
# ------------------------------
# Confusion matrices summed over the folds and normalised per true class: the
# diagonal is each class's recall.
results.plot("confusion")
plt.show()

# %%
# How the CNN trained
# -------------------
# The deep model's skorch history on each fold (thin lines) and their mean.
results.plot("learning_curves")
plt.show()
