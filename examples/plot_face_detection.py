"""
Face detection and cropping on a photo
======================================

Expression classifiers are trained on tight, aligned, grey 48x48 face crops
(FER2013, CK+48), so a photo has to be brought to that form first.
:func:`skfer.preprocessing.detect_faces` finds faces with the Haar cascade
that ships inside the OpenCV wheel, and :class:`skfer.preprocessing.FaceCropper`
does the same inside a scikit-learn Pipeline, one crop per image.

The photo is scikit-image's astronaut (Eileen Collins), bundled with
scikit-image, so nothing is downloaded.
"""

# %%
# Detect
# ------
# One ``(x, y, w, h)`` box per face, in the photo's pixel coordinates,
# largest first.
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle
from skimage import data
from sklearn.pipeline import make_pipeline

from skfer.preprocessing import FaceCropper, Grayscale, Resize, detect_faces

photo = data.astronaut()  # (512, 512, 3) uint8, RGB
boxes = detect_faces(photo)
print(photo.shape, "->", boxes)

# %%
# Crop, grey, resize
# ------------------
# ``FaceCropper`` keeps the largest face of each image with a 20% margin
# (``margin=0.2``) and records the box it used in ``boxes_``. ``Grayscale``
# and ``Resize`` then give the 48x48 grey input of a FER model.
to_fer = make_pipeline(FaceCropper(), Grayscale(), Resize(size=48))
crops = to_fer.fit_transform([photo])
cropper = to_fer[0]
print("crop:", crops.shape, crops.dtype, "found:", cropper.found_, "box:", cropper.boxes_)

# %%
# Show the detection and the crop
# -------------------------------
fig, (ax_photo, ax_crop) = plt.subplots(
    1, 2, figsize=(7, 3.5), gridspec_kw={"width_ratios": [2, 1]}
)
ax_photo.imshow(photo)
for x, y, w, h in boxes:
    ax_photo.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="lime", linewidth=2))
    ax_photo.text(x, y - 6, "detect_faces", color="lime", fontsize=8)
# The crop is a square around the chosen box, enlarged by the margin.
x, y, w, h = cropper.boxes_[0]
side = max(w, h) * (1 + 2 * cropper.margin)
ax_photo.add_patch(
    Rectangle((x + w / 2 - side / 2, y + h / 2 - side / 2), side, side,
              fill=False, edgecolor="magenta", linewidth=1.5, linestyle="--")
)
ax_photo.set_title("photo: face box, crop with margin (dashed)")
ax_photo.axis("off")
ax_crop.imshow(crops[0], cmap="gray", vmin=0, vmax=255)
ax_crop.set_title("48x48 grey crop")
ax_crop.axis("off")
fig.tight_layout()
plt.show()

# %%
# Parameters worth knowing
# ------------------------
# ``detect_faces(image, min_size=0.06, scale_factor=1.1, min_neighbors=3)``:
# raise ``min_neighbors`` for fewer false faces, lower ``min_size`` to find
# smaller faces (more slowly). ``FaceCropper(on_missing='center')`` falls back
# to a centre crop when no face is found (``found_`` tells which images);
# ``on_missing='raise'`` makes that an error instead.
