// The masks tab: a face's crop with its mask now (the XSeg stage's, or the landmark hull), polygons
// drawn on it with the mouse, saved as the face's LabelMe file where the XSeg stage reads them.
// Uses app.js's $, api, say, videoChoices and fileUrl. Points are kept in the label file's image pixels (the
// crop's, for a file the editor starts), so shapes it did not touch go back exactly as they came.
"use strict";

(() => {
  const CANVAS_PX = 512;
  const CLOSE_PX = 8;  // a click this near the first point closes the polygon
  const FACE_CLASS = "face";
  const masks = { video: null, face: null, shapes: [], drawing: [], dirty: false, crop: null, overlay: null };

  async function loadVideos() {
    if ((await videoChoices($("mask-video"))).length) await loadFaces($("mask-video").value);
  }

  async function loadFaces(video) {
    masks.video = video;
    const { faces, labels } = await api(`api/masks/${encodeURIComponent(video)}`);
    const list = $("mask-faces");
    list.innerHTML = "";
    for (const face of faces) {
      const item = document.createElement("li");
      item.dataset.face = face.id;
      item.dataset.why = face.why;
      item.classList.toggle("labelled", face.labelled);
      item.classList.toggle("open", masks.face?.face === face.id);
      item.title = face.note;
      item.innerHTML = `<img loading="lazy" alt=""><span><b></b><br><span class="why"></span></span>`;
      item.querySelector("img").src = fileUrl(face.crop);
      item.querySelector("b").textContent = face.id;
      item.querySelector(".why").textContent = face.why + (face.note ? `: ${face.note}` : "");
      item.addEventListener("click", () => openFace(face.id).catch((error) => say(error.message, true)));
      list.appendChild(item);
    }
    const outlined = faces.filter((f) => f.labelled).length;
    $("mask-counts").textContent = `${faces.length} faces, ${outlined} outlined; outlines are saved in ${labels}/`;
  }

  function loaded(src) {
    const image = new Image();
    image.src = src;
    return image.decode().then(() => image);
  }

  async function openFace(id) {
    if (masks.dirty && !confirm(`${masks.face.face}: the outlines are not saved. Leave them?`)) return;
    const path = `api/masks/${encodeURIComponent(masks.video)}/${encodeURIComponent(id)}`;
    const face = await api(path);
    const [crop, mask] = await Promise.all([
      loaded(fileUrl(face.crop)),
      loaded(`${path}/mask.png?token=${encodeURIComponent(token)}&t=${Date.now()}`),
    ]);
    Object.assign(masks, { face, shapes: face.shapes, drawing: [], dirty: false, crop, overlay: tint(mask) });
    const canvas = $("mask-canvas");
    const zoom = CANVAS_PX / Math.max(face.width, face.height);
    canvas.width = Math.round(face.width * zoom);
    canvas.height = Math.round(face.height * zoom);
    canvas.dataset.face = id;
    canvas.dataset.mask = face.mask;
    for (const item of $("mask-faces").children) item.classList.toggle("open", item.dataset.face === id);
    describe();
    drawShapeList();
    draw();
  }

  // The mask as an overlay: what it leaves out in translucent red (as the contact sheets show it).
  function tint(mask) {
    const canvas = document.createElement("canvas");
    canvas.width = mask.naturalWidth;
    canvas.height = mask.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(mask, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      const left = 255 - pixels.data[i];
      pixels.data.set([229, 57, 53, left * 0.55], i);
    }
    context.putImageData(pixels, 0, 0);
    return canvas;
  }

  function describe() {
    const face = masks.face;
    const lines = [`${face.face}: the mask shown is ${face.mask === "xseg" ? "the XSeg stage's" : "the landmark hull"}.`,
      face.exists ? `Outlines from ${face.file}.` : `No outline yet: saving writes ${face.file}.`];
    if (face.frame_file) {
      lines.push(`Its frame's file ${face.frame_file} outlines it too (dashed, read-only); ` +
        "a face's own file wins over its frame's.");
    }
    if (face.png) lines.push(`${face.png} is its mask already (a PNG wins): remove it to outline here.`);
    $("mask-info").textContent = lines.join(" ") + (masks.dirty ? " (not saved)" : "");
  }

  // ---------------------------------------------------------------------------------- drawing

  // A shape's corners (a LabelMe rectangle is two of them).
  function corners(shape) {
    if (shape.shape_type !== "rectangle") return shape.points;
    const [[x0, y0], [x1, y1]] = shape.points;
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
  }

  function trace(context, points, scale) {
    context.beginPath();
    points.forEach(([x, y], i) => (i ? context.lineTo(x * scale, y * scale) : context.moveTo(x * scale, y * scale)));
  }

  function draw() {
    const canvas = $("mask-canvas");
    const context = canvas.getContext("2d");
    const face = masks.face;
    context.imageSmoothingEnabled = false;  // crop pixels stay pixels: the points are in them
    context.drawImage(masks.crop, 0, 0, canvas.width, canvas.height);
    if ($("mask-overlay").checked) context.drawImage(masks.overlay, 0, 0, canvas.width, canvas.height);
    const scale = canvas.width / face.image[0];  // the label file's pixels
    context.lineWidth = 2;
    context.setLineDash([6, 4]);
    context.strokeStyle = "#ffd54f";
    for (const shape of face.frame_shapes) {  // in crop pixels
      trace(context, shape.points, canvas.width / face.width);
      context.closePath();
      context.stroke();
    }
    context.setLineDash([]);
    for (const shape of masks.shapes) {
      const adds = shape.label.trim().toLowerCase() === FACE_CLASS;
      trace(context, corners(shape), scale);
      context.closePath();
      context.fillStyle = adds ? "rgba(67, 160, 71, 0.35)" : "rgba(30, 136, 229, 0.45)";
      context.strokeStyle = adds ? "#43a047" : "#1e88e5";
      context.fill();
      context.stroke();
    }
    if (masks.drawing.length) {
      context.strokeStyle = "#fff";
      trace(context, masks.drawing, scale);
      context.stroke();
      const [x, y] = masks.drawing[0];
      context.strokeRect(x * scale - CLOSE_PX / 2, y * scale - CLOSE_PX / 2, CLOSE_PX, CLOSE_PX);
    }
  }

  function drawShapeList() {
    const list = $("mask-shapes");
    list.innerHTML = "";
    masks.shapes.forEach((shape, index) => {
      const item = document.createElement("li");
      item.dataset.label = shape.label;
      const adds = shape.label.trim().toLowerCase() === FACE_CLASS;
      item.textContent = `${shape.label} (${adds ? "adds" : "takes away"}), ${corners(shape).length} points `;
      const remove = document.createElement("button");
      remove.className = "delete";
      remove.textContent = "Delete";
      remove.addEventListener("click", () => {
        masks.shapes.splice(index, 1);
        changed();
      });
      item.appendChild(remove);
      list.appendChild(item);
    });
  }

  function changed() {
    masks.dirty = true;
    describe();
    drawShapeList();
    draw();
  }

  function chosenClass() {
    return ($("mask-class").value || $("mask-other").value).trim();
  }

  function closePolygon() {
    if (masks.drawing.length < 3) return say("A polygon needs at least 3 points.", true);
    const label = chosenClass();
    if (!label) return say("Name the class first (another class...).", true);
    masks.shapes.push({ label, points: masks.drawing, group_id: null, shape_type: "polygon", flags: {} });
    masks.drawing = [];
    changed();
  }

  $("mask-canvas").addEventListener("click", (event) => {
    if (!masks.face) return;
    const canvas = $("mask-canvas");
    const box = canvas.getBoundingClientRect();
    const [width, height] = masks.face.image;
    const at = (offset, size, full) => Math.round(Math.min(Math.max(offset / size, 0), 1) * full * 100) / 100;
    const point = [at(event.clientX - box.left, box.width, width), at(event.clientY - box.top, box.height, height)];
    const first = masks.drawing[0];
    const scale = box.width / width;
    if (masks.drawing.length >= 3 && Math.hypot((point[0] - first[0]) * scale, (point[1] - first[1]) * scale) < CLOSE_PX) {
      closePolygon();
    } else {
      masks.drawing.push(point);
      draw();
    }
  });

  document.addEventListener("keydown", (event) => {
    if ($("masks").hidden || !masks.face || ["INPUT", "SELECT"].includes(event.target.tagName)) return;
    if (event.key === "Enter") closePolygon();
    else if (event.key === "Escape") masks.drawing = [];
    else if (event.key === "Backspace") masks.drawing.pop();
    else return;
    event.preventDefault();
    draw();
  });

  async function save() {
    if (!masks.face) return say("Choose a face first.", true);
    if (masks.drawing.length) return say("Close the polygon being drawn first (or Escape to drop it).", true);
    try {
      const { written, revision } = await api(
        `api/masks/${encodeURIComponent(masks.video)}/${encodeURIComponent(masks.face.face)}`,
        { method: "POST", body: JSON.stringify({ shapes: masks.shapes, revision: masks.face.revision }) });
      Object.assign(masks.face, { revision, exists: true });
      masks.dirty = false;
      describe();
      say(`${masks.face.face}: saved to ${written}. The XSeg stage learns from it on the next run ` +
        "(\"What a rerun redoes\" on the Faces tab).");
      await loadFaces(masks.video);
    } catch (error) {
      say(error.message, true);
    }
  }

  $("mask-close-polygon").addEventListener("click", closePolygon);
  $("mask-save").addEventListener("click", save);
  $("mask-overlay").addEventListener("change", () => masks.face && draw());
  $("mask-class").addEventListener("change", () => { $("mask-other").hidden = $("mask-class").value !== ""; });
  $("mask-video").addEventListener("change", () => loadFaces($("mask-video").value).catch((e) => say(e.message, true)));
  $("tab-masks").addEventListener("click", () => {
    if (!masks.video) loadVideos().catch((error) => say(error.message, true));
  });
})();
