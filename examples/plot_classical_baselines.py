"""
Classical FER baselines, compared honestly
==========================================

Five classical facial-expression pipelines from :func:`skfer.baselines.make_baseline`
are scored on the same subject-independent folds (no synthetic subject is in
both training and test folds), on synthetic faces from
:func:`skfer.datasets.make_faces` so the example needs no data. Swap in
``skfer.datasets.load_ckplus(path)`` for real faces.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.model_selection import GroupKFold, cross_val_score

from skfer.baselines import BASELINES, make_baseline
from skfer.datasets import make_faces

faces = make_faces(n_samples=350, random_state=0)
cv = GroupKFold(n_splits=5)
scores = {
    name: cross_val_score(
        make_baseline(name, random_state=0), faces.images, faces.target,
        groups=faces.groups, cv=cv,
    )
    for name in BASELINES
}

# %%
# Mean accuracy with its spread over the folds; the dashed line is chance.
names = sorted(scores, key=lambda n: scores[n].mean())
fig, ax = plt.subplots(figsize=(6, 3))
ax.barh(names, [scores[n].mean() for n in names], xerr=[scores[n].std() for n in names])
ax.axvline(1 / len(faces.target_names), color="k", linestyle="--", label="chance")
ax.set_xlabel("accuracy (subject-independent 5-fold CV)")
ax.set_xlim(0, 1)
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
