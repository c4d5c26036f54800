"""
Grid search over CNN architectures
==================================

:class:`skfer.neural.CNNClassifier` is a scikit-learn estimator, so
:class:`~sklearn.model_selection.GridSearchCV` can choose its architecture
and learning rate like any other hyperparameter. The folds come from
:class:`~sklearn.model_selection.GroupKFold` on subject ids, so no subject's
faces are in both the training and the validation part of a fold: the
search then picks what generalises to new people, not what memorises
faces.

The data are synthetic faces from :func:`skfer.datasets.make_faces` at 32x32
pixels and the nets train for only 10 epochs, so the whole search runs in
about a minute on one CPU thread. On real faces use 48x48 images and the
default ``max_epochs``.
"""

# %%
# Synthetic faces with subject ids
# --------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold

from skfer.datasets import make_faces
from skfer.neural import CNNClassifier

faces = make_faces(n_samples=350, image_size=32, random_state=0)
print(faces.images.shape, "subjects:", len(np.unique(faces.groups)))

# %%
# The search
# ----------
# Two architectures (the textbook ``'simple'`` CNN and the depthwise-separable
# ``'mini_xception'``) times two learning rates, each scored on the same three
# subject-independent folds. Parameters of the architecture itself can be
# searched too, as ``module__<name>`` (``module__dropout``, for example).
search = GridSearchCV(
    CNNClassifier(max_epochs=10, augment=False, random_state=0),
    param_grid={"architecture": ["simple", "mini_xception"], "lr": [1e-3, 3e-3]},
    cv=GroupKFold(n_splits=3),
    scoring="accuracy",
)
search.fit(faces.images, faces.target, groups=faces.groups)
print("best:", search.best_params_, f"accuracy {search.best_score_:.3f}")

# %%
# ``cv_results_`` as a table
# --------------------------
results = search.cv_results_
print(f"{'architecture':15s} {'lr':>6s} {'accuracy':>15s} {'fit s':>6s} rank")
for i, params in enumerate(results["params"]):
    print(
        f"{params['architecture']:15s} {params['lr']:6.0e} "
        f"{results['mean_test_score'][i]:.3f} ± {results['std_test_score'][i]:.3f} "
        f"{results['mean_fit_time'][i]:6.1f} {results['rank_test_score'][i]:4d}"
    )

# %%
# ... and as a bar plot
# ---------------------
# Mean validation accuracy over the folds, with the spread (one standard
# deviation) as error bars; the dashed line is chance.
labels = [f"{p['architecture']}\nlr={p['lr']:g}" for p in results["params"]]
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(labels, results["mean_test_score"], yerr=results["std_test_score"],
       capsize=4, color=["C0", "C0", "C1", "C1"])
ax.axhline(1 / len(faces.target_names), color="k", linestyle="--", label="chance")
ax.set_ylabel("accuracy (3 subject folds)")
ax.set_ylim(0, 1)
ax.legend(loc="upper left")
fig.tight_layout()
plt.show()

# %%
# The refitted best model
# -----------------------
# ``GridSearchCV`` refits the best setting on all the data; its
# ``best_estimator_`` is a fitted ``CNNClassifier`` and its skorch history
# says how training went.
best = search.best_estimator_
print(best.architecture, "trained for", len(best.net_.history), "epochs")
