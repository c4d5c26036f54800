// skfer serve: the page. Photos go to POST /api/v1/predict (one request per
// photo, a few at a time), Grad-CAM pictures come from POST /api/v1/explain,
// the webcam's frames go over the WebSocket /api/v1/stream, one at a time and
// at most a chosen number per second. Everything is drawn here, on canvases.
"use strict";

const state = {
  models: [],          // GET /api/v1/models
  photos: [],          // {file, card, lines, status}
  queue: [],           // photos waiting for a request
  running: 0,          // requests in flight
};
const MAX_PARALLEL = 3;   // photo requests at once
const DISPLAY_SIDE = 640; // longest side of a drawn photo, CSS pixels
const FRAME_SIDE = 640;   // longest side of a webcam frame sent

const $ = (selector, root = document) => root.querySelector(selector);

function modelName() {
  return $("#model").value;
}

function coloursOf(name) {
  const entry = state.models.find((m) => m.name === name);
  return (entry && entry.colours) || {};
}

function colourOf(emotion, name) {
  return coloursOf(name)[emotion] || "#00c8c8";
}

function inkOf(hex) {
  const n = parseInt(hex.slice(1), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return 0.299 * r + 0.587 * g + 0.114 * b > 128 ? "#000" : "#fff";
}

async function loadModels() {
  const select = $("#model");
  try {
    const reply = await fetch("/api/v1/models");
    const body = await reply.json();
    state.models = body.models;
    select.replaceChildren();
    for (const m of body.models) {
      const option = document.createElement("option");
      option.value = m.name;
      option.textContent = m.source === "file" ? `${m.name} (your model file)` : m.name;
      option.selected = m.name === body.default;
      select.append(option);
    }
    select.dataset.ready = "true";
  } catch (err) {
    $("#photos-status").textContent = `Cannot list the models: ${err}`;
  }
}

// ------------------------------------------------------------------ drawing
function probabilityOf(line) {
  return line.probabilities ? line.probabilities[String(line.emotion)] : null;
}

function labelOf(line) {
  const p = probabilityOf(line);
  return p == null ? String(line.emotion) : `${line.emotion} ${p.toFixed(2)}`;
}

// Boxes and labels over `ctx`, with boxes in image pixels times `scale`.
function drawBoxes(ctx, lines, scale, model) {
  const thick = Math.max(2, Math.round(ctx.canvas.width / 320));
  ctx.lineWidth = thick;
  ctx.textBaseline = "top";
  for (const line of lines) {
    if (!line.box) continue;
    const [x, y, w, h] = line.box.map((v) => v * scale);
    const colour = colourOf(String(line.emotion), model);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, w, h);
    const size = Math.max(12, Math.min(24, Math.round(w / 6)));
    ctx.font = `bold ${size}px sans-serif`;
    const text = labelOf(line);
    const tw = ctx.measureText(text).width + 2 * thick;
    const th = size + 2 * thick;
    let top = y - th;
    if (top < 0) top = y;
    const left = Math.max(0, Math.min(x, ctx.canvas.width - tw));
    ctx.fillStyle = colour;
    ctx.fillRect(left, top, tw, th);
    ctx.fillStyle = inkOf(colour);
    ctx.fillText(text, left + thick, top + thick);
  }
}

// The list of faces: a label and a bar chart of the probabilities per face.
function fillFaces(list, lines, model) {
  list.replaceChildren();
  lines.forEach((line, i) => {
    if (!line.box) return;
    const item = document.createElement("li");
    item.className = "face";
    item.dataset.emotion = String(line.emotion);
    item.dataset.box = line.box.join(",");
    const head = document.createElement("div");
    head.className = "face-label";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colourOf(String(line.emotion), model);
    head.append(swatch, `face ${i}: ${labelOf(line)}`);
    item.append(head);
    if (line.probabilities) {
      const chart = document.createElement("div");
      chart.className = "bars";
      for (const [name, p] of Object.entries(line.probabilities)) {
        const row = document.createElement("div");
        row.className = "bar";
        row.dataset.class = name;
        const label = document.createElement("span");
        label.className = "bar-name";
        label.textContent = name;
        const track = document.createElement("span");
        track.className = "bar-track";
        const fill = document.createElement("span");
        fill.className = "bar-fill";
        fill.style.width = `${(100 * p).toFixed(1)}%`;
        fill.style.background = colourOf(name, model);
        track.append(fill);
        const value = document.createElement("span");
        value.className = "bar-value";
        value.textContent = p.toFixed(2);
        row.append(label, track, value);
        chart.append(row);
      }
      item.append(chart);
    }
    list.append(item);
  });
}

// ------------------------------------------------------------------- photos
function addPhotos(files) {
  const images = [...files].filter((f) => f.type.startsWith("image/") || f.type === "");
  for (const file of images) {
    const card = $("#photo-template").content.firstElementChild.cloneNode(true);
    $(".name", card).textContent = file.name;
    card.dataset.file = file.name;
    $("#results").append(card);
    const photo = { file, card, lines: null, status: "pending", model: modelName() };
    state.photos.push(photo);
    state.queue.push(photo);
    const toggle = $(".gradcam-toggle", card);
    toggle.addEventListener("change", () => showGradCam(photo, toggle.checked));
  }
  $("#clear").disabled = state.photos.length === 0;
  pump();
}

function pump() {
  while (state.running < MAX_PARALLEL && state.queue.length > 0) {
    const photo = state.queue.shift();
    state.running += 1;
    predictPhoto(photo).finally(() => {
      state.running -= 1;
      updateStatus();
      pump();
    });
  }
  updateStatus();
}

function updateStatus() {
  const done = state.photos.filter((p) => p.status !== "pending").length;
  $("#photos-status").textContent = state.photos.length
    ? `${done} of ${state.photos.length} photos done` : "";
  $("#download").disabled = !state.photos.some((p) => p.lines);
}

async function predictPhoto(photo) {
  const { file, card } = photo;
  const message = $(".message", card);
  const form = new FormData();
  form.append("images", file, file.name);
  let body;
  try {
    const reply = await fetch(`/api/v1/predict?model=${encodeURIComponent(photo.model)}`,
                              { method: "POST", body: form });
    body = await reply.json();
    if (!reply.ok) throw new Error(body.detail || `HTTP ${reply.status}`);
  } catch (err) {
    photo.status = "error";
    card.dataset.status = "error";
    message.textContent = `Error: ${err.message}`;
    message.classList.add("error");
    return;
  }
  photo.lines = body.results;
  await drawPhoto(photo);
  const faces = photo.lines.filter((l) => l.box);
  message.textContent = faces.length
    ? `${faces.length} face${faces.length > 1 ? "s" : ""} (model ${body.model})`
    : "No face found.";
  fillFaces($(".faces", card), photo.lines, photo.model);
  $(".gradcam-label", card).hidden = faces.length === 0;
  photo.status = "done";
  card.dataset.status = "done";
  card.dataset.faces = String(faces.length);
}

async function drawPhoto(photo) {
  const canvas = $(".photo-canvas", photo.card);
  const ctx = canvas.getContext("2d");
  let bitmap;
  try {
    bitmap = await createImageBitmap(photo.file); // EXIF orientation applied, as the server does
  } catch (err) {
    canvas.hidden = true; // a format the browser cannot show (the server read it)
    return;
  }
  const scale = Math.min(1, DISPLAY_SIDE / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  drawBoxes(ctx, photo.lines, scale, photo.model);
}

async function showGradCam(photo, on) {
  const img = $(".gradcam", photo.card);
  if (!on) {
    img.hidden = true;
    return;
  }
  if (!img.dataset.loaded) {
    const form = new FormData();
    form.append("image", photo.file, photo.file.name);
    try {
      const reply = await fetch(`/api/v1/explain?model=${encodeURIComponent(photo.model)}`,
                                { method: "POST", body: form });
      if (!reply.ok) throw new Error((await reply.json()).detail || `HTTP ${reply.status}`);
      img.src = URL.createObjectURL(await reply.blob());
      img.dataset.loaded = "true";
    } catch (err) {
      $(".message", photo.card).textContent = `Grad-CAM: ${err.message}`;
      return;
    }
  }
  img.hidden = false;
}

function downloadJson() {
  const lines = state.photos.filter((p) => p.lines).flatMap((p) => p.lines);
  const text = lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
  const url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = "skfer_faces.jsonl";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function clearPhotos() {
  state.queue = [];
  state.photos = [];
  $("#results").replaceChildren();
  $("#clear").disabled = true;
  updateStatus();
}

// ------------------------------------------------------------------- webcam
const cam = { stream: null, socket: null, timer: null, inFlight: false, lastSent: 0,
              replies: [], frame: null };

async function startWebcam() {
  const status = $("#cam-status");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    status.textContent = "This browser gives no camera here (it needs http://127.0.0.1 or https).";
    return;
  }
  try {
    cam.stream = await navigator.mediaDevices.getUserMedia(
      { video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (err) {
    status.textContent = `No camera: ${err.message}`;
    return;
  }
  const video = $("#video");
  video.srcObject = cam.stream;
  await video.play().catch(() => {});
  const smooth = Math.max(1, Math.min(50, Number($("#cam-smooth").value) || 5));
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${proto}//${location.host}/api/v1/stream?model=${encodeURIComponent(modelName())}&smooth=${smooth}`;
  cam.socket = new WebSocket(url);
  cam.socket.binaryType = "arraybuffer";
  cam.socket.onopen = () => {
    status.textContent = "Streaming.";
    cam.timer = setInterval(sendFrame, 15);
  };
  cam.socket.onmessage = (event) => onReply(JSON.parse(event.data));
  cam.socket.onclose = () => {
    status.textContent = cam.stream ? "The connection closed." : "Stopped.";
    stopWebcam(false);
  };
  cam.model = modelName();
  $("#cam-start").disabled = true;
  $("#cam-stop").disabled = false;
}

function sendFrame() {
  const video = $("#video");
  const rate = Math.max(1, Math.min(30, Number($("#cam-rate").value) || 8));
  const now = performance.now();
  if (cam.inFlight || !cam.socket || cam.socket.readyState !== WebSocket.OPEN
      || now - cam.lastSent < 1000 / rate || video.videoWidth === 0) return;
  const scale = Math.min(1, FRAME_SIDE / Math.max(video.videoWidth, video.videoHeight));
  if (!cam.frame) cam.frame = document.createElement("canvas");
  cam.frame.width = Math.round(video.videoWidth * scale);
  cam.frame.height = Math.round(video.videoHeight * scale);
  cam.frame.getContext("2d").drawImage(video, 0, 0, cam.frame.width, cam.frame.height);
  cam.inFlight = true;
  cam.lastSent = now;
  cam.frame.toBlob((blob) => {
    if (blob && cam.socket && cam.socket.readyState === WebSocket.OPEN) {
      cam.socket.send(blob);
    } else {
      cam.inFlight = false;
    }
  }, "image/jpeg", 0.85);
}

function onReply(reply) {
  cam.inFlight = false;
  const now = performance.now();
  cam.replies.push(now);
  while (cam.replies.length && now - cam.replies[0] > 2000) cam.replies.shift();
  const span = cam.replies.length > 1 ? (now - cam.replies[0]) / 1000 : 0;
  $("#fps").textContent = span > 0 ? ((cam.replies.length - 1) / span).toFixed(1) : "0.0";
  if (reply.error) {
    $("#cam-status").textContent = `Error: ${reply.error}`;
    return;
  }
  const video = $("#video");
  const overlay = $("#overlay");
  overlay.width = video.clientWidth;
  overlay.height = video.clientHeight;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const scale = overlay.width / reply.width;
  drawBoxes(ctx, reply.faces, scale, cam.model);
  fillFaces($("#live-faces"), reply.faces, cam.model);
  const list = $("#live-faces");
  list.dataset.frame = String(reply.frame);
  list.dataset.width = String(reply.width);
  list.dataset.height = String(reply.height);
}

function stopWebcam(closeSocket = true) {
  clearInterval(cam.timer);
  cam.timer = null;
  if (cam.stream) cam.stream.getTracks().forEach((t) => t.stop());
  cam.stream = null;
  if (closeSocket && cam.socket) cam.socket.close();
  cam.socket = null;
  cam.inFlight = false;
  $("#cam-start").disabled = false;
  $("#cam-stop").disabled = true;
}

// -------------------------------------------------------------------- setup
function setMode(mode) {
  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
  }
  $("#photos-mode").hidden = mode !== "photos";
  $("#webcam-mode").hidden = mode !== "webcam";
  if (mode !== "webcam" && cam.stream) stopWebcam();
}

function setup() {
  loadModels();
  const input = $("#file-input");
  input.addEventListener("change", () => {
    addPhotos(input.files);
    input.value = "";
  });
  const drop = $("#drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    addPhotos(e.dataTransfer.files);
  });
  // A photo dropped outside the drop zone must not replace the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  $("#download").addEventListener("click", downloadJson);
  $("#clear").addEventListener("click", clearPhotos);
  $("#cam-start").addEventListener("click", startWebcam);
  $("#cam-stop").addEventListener("click", () => stopWebcam());
  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.addEventListener("click", () => setMode(tab.dataset.mode));
  }
}

document.addEventListener("DOMContentLoaded", setup);
