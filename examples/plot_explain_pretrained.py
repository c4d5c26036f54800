"""
Why did the model say so? Grad-CAM and saliency on the pretrained model
=======================================================================

:mod:`skfer.explain` shows which parts of a face drove a decision.
:func:`~skfer.explain.grad_cam` weights the feature maps of the net's last
convolutional layer by the gradient of a class score (coarse, but robust);
:func:`~skfer.explain.saliency` is the gradient of the score with respect
to each input pixel (fine-grained, noisier). Both work on any
:class:`~skfer.neural.CNNClassifier` and on Pipelines ending with one, such
as the pretrained model that ships with skfer (:mod:`skfer.pretrained`).

The photo is scikit-image's astronaut, bundled with scikit-image: nothing is
downloaded.
"""

# %%
# The pretrained model on a photo
# -------------------------------
# ``load()`` returns a Pipeline from photos to expressions: face detection and
# crop, grey, 48x48, then the net. Explanations are computed on what the net
# reads, the 48x48 crop.
from skimage import data

from skfer import pretrained
from skfer.explain import grad_cam, plot_explanation, saliency

model = pretrained.load()
photo = data.astronaut()
proba = model.predict_proba([photo])[0]
for name, p in sorted(zip(model.classes_, proba, strict=True), key=lambda t: -t[1])[:3]:
    print(f"{name:>9s} {p:.3f}")

# %%
# Grad-CAM of the predicted class
# -------------------------------
# Each row: the crop the net reads, the heatmap (1 = most support for the
# class), and the two overlaid.
fig = plot_explanation(model, [photo])

# %%
# The same face, explained for other classes
# ------------------------------------------
# ``target`` asks "what in this face speaks for *that* expression?". For
# 'happy' the evidence sits on the mouth and cheeks; a class the model
# rejects draws on other parts, or on almost nothing.
fig = plot_explanation(model, [photo] * 3, target=["happy", "surprise", "sad"])

# %%
# Gradient saliency
# -----------------
# Pixel-level: which pixels, changed slightly, would change the 'happy'
# score most.
fig = plot_explanation(model, [photo], method="saliency")

# %%
# The maps as arrays
# ------------------
# Both functions return one map per image, the size of the net's input, in
# [0, 1]. Here: the share of the Grad-CAM mass in the lower half of the crop,
# where the mouth is.
cam = grad_cam(model, [photo])[0]
sal = saliency(model, [photo])[0]
print("maps:", cam.shape, sal.shape)
print(f"Grad-CAM mass in the lower half: {cam[24:].sum() / cam.sum():.2f}")
print(f"saliency mass in the lower half: {sal[24:].sum() / sal.sum():.2f}")
