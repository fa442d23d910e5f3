// The frames tab: the frames extraction doubts, a frame drawn with its faces' boxes and 68 landmarks,
// and the faces placed by hand there (a point dragged, or a box drawn where a face was missed), saved
// as the video's manual faces file. Uses app.js's $, api, say, videoChoices and fileUrl. Points are kept in frame
// pixels, as the file holds them.
"use strict";

(() => {
  const CANVAS_PX = 512;
  const GRAB_PX = 7;  // a press this near a landmark picks it up
  const COLOURS = { kept: "#43a047", left: "#9e9e9e", manual: "#1e88e5" };
  const view = { video: null, frame: null, image: null, faces: [], zoom: 1, drag: null, boxing: false, dirty: false };

  async function loadVideos() {
    if ((await videoChoices($("frames-video"))).length) await loadDoubts($("frames-video").value);
  }

  async function loadDoubts(video) {
    view.video = video;
    const { doubts, manual, manual_file } = await api(`api/frames/${encodeURIComponent(video)}`);
    const list = $("frames-doubts");
    list.innerHTML = "";
    for (const doubt of doubts) {
      const item = document.createElement("li");
      item.dataset.frame = doubt.frame;
      const figure = doubt.value === null ? "" : ` (${doubt.value.toFixed(2)}, limit ${doubt.limit.toFixed(2)})`;
      item.textContent = `frame ${doubt.frame}: ${doubt.doubt}${figure}`;
      item.addEventListener("click", () => openFrame(doubt.frame).catch((error) => say(error.message, true)));
      list.appendChild(item);
    }
    const frames = new Set(doubts.map((d) => d.frame)).size;
    $("frames-counts").textContent = `${frames} frames to check; faces placed by hand on ${manual.length} ` +
      `frames, saved in ${manual_file}`;
  }

  async function openFrame(number) {
    if (view.dirty && !confirm(`frame ${view.frame}: the faces placed are not saved. Leave them?`)) return;
    const asked = (view.asked = (view.asked || 0) + 1);
    const frame = await api(`api/frames/${encodeURIComponent(view.video)}/${number}`);
    const image = new Image();
    image.src = fileUrl(frame.image);
    await image.decode();
    if (asked !== view.asked) return;  // a later request (another frame opened meanwhile) wins
    const manual = frame.manual.map((face) => ({
      kind: "manual", box: face.box || null, points: face.landmarks || null }));
    // A found face that a manual one replaces is not drawn: what the next extraction keeps is shown.
    const replaced = (face) => manual.some((m) => overlaps(m, face.box, frame.replaces_iou));
    const found = frame.faces.filter((face) => !replaced(face)).map((face) => ({
      kind: face.kept ? "kept" : "left", box: face.box, points: face.landmarks, id: face.face_id }));
    Object.assign(view, { frame: number, image, faces: [...found, ...manual], dirty: false, boxing: false });
    view.zoom = CANVAS_PX / Math.max(image.width, image.height);
    const canvas = $("frames-canvas");
    canvas.width = Math.round(image.width * view.zoom);
    canvas.height = Math.round(image.height * view.zoom);
    $("frames-number").value = number;
    for (const item of $("frames-doubts").children) item.classList.toggle("open", Number(item.dataset.frame) === number);
    describe(frame);
    draw();
  }

  function boxOf(face) {
    if (face.box) return face.box;
    const xs = face.points.map((p) => p[0]), ys = face.points.map((p) => p[1]);
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  }

  function overlaps(face, box, least) {
    const [a0, b0, a1, b1] = boxOf(face);
    const width = Math.max(0, Math.min(a1, box[2]) - Math.max(a0, box[0]));
    const height = Math.max(0, Math.min(b1, box[3]) - Math.max(b0, box[1]));
    const inter = width * height;
    const union = (a1 - a0) * (b1 - b0) + (box[2] - box[0]) * (box[3] - box[1]) - inter;
    return union > 0 && inter / union >= least;
  }

  function describe(frame) {
    const doubts = [...$("frames-doubts").children].filter((li) => Number(li.dataset.frame) === view.frame);
    const words = doubts.map((li) => li.textContent.replace(/^frame \d+: /, "")).join("; ");
    $("frames-info").textContent = `frame ${view.frame}: ${frame.faces.length} faces found, ` +
      `${frame.manual.length} placed by hand` + (words ? `; to check: ${words}` : "");
  }

  function draw() {
    const context = $("frames-canvas").getContext("2d");
    const z = view.zoom;
    context.drawImage(view.image, 0, 0, view.image.width * z, view.image.height * z);
    for (const face of view.faces) {
      context.strokeStyle = context.fillStyle = COLOURS[face.kind];
      context.lineWidth = 2;
      if (face.box) {
        const [x0, y0, x1, y1] = face.box;
        context.strokeRect(x0 * z, y0 * z, (x1 - x0) * z, (y1 - y0) * z);
      }
      for (const [x, y] of face.points || []) {
        context.beginPath();
        context.arc(x * z, y * z, 2.5, 0, 2 * Math.PI);
        context.fill();
      }
    }
    if (view.drag?.box) {
      const [x0, y0, x1, y1] = view.drag.box;
      context.strokeStyle = COLOURS.manual;
      context.setLineDash([6, 4]);
      context.strokeRect(x0 * z, y0 * z, (x1 - x0) * z, (y1 - y0) * z);
      context.setLineDash([]);
    }
  }

  function framePoint(event) {
    const rect = $("frames-canvas").getBoundingClientRect();
    return [(event.clientX - rect.left) / view.zoom, (event.clientY - rect.top) / view.zoom];
  }

  function nearest([x, y]) {
    let best = null;
    view.faces.forEach((face, f) => (face.points || []).forEach(([px, py], p) => {
      const distance = Math.hypot(px - x, py - y) * view.zoom;
      if (distance <= GRAB_PX && (!best || distance < best.distance)) best = { face: f, point: p, distance };
    }));
    return best;
  }

  const canvas = $("frames-canvas");
  canvas.addEventListener("mousedown", (event) => {
    if (!view.image) return;
    const at = framePoint(event);
    if (view.boxing) {
      view.drag = { start: at, box: [...at, ...at] };
      return;
    }
    const grabbed = nearest(at);
    if (grabbed) view.drag = grabbed;
  });
  canvas.addEventListener("mousemove", (event) => {
    if (!view.drag) return;
    const [x, y] = framePoint(event);
    if (view.drag.box) {
      const [sx, sy] = view.drag.start;
      view.drag.box = [Math.min(sx, x), Math.min(sy, y), Math.max(sx, x), Math.max(sy, y)];
    } else {
      const face = view.faces[view.drag.face];
      face.points = face.points.map((p, i) => (i === view.drag.point ? [x, y] : p));
    }
    draw();
  });
  window.addEventListener("mouseup", () => {
    if (!view.drag) return;
    if (view.drag.box) {
      const [x0, y0, x1, y1] = view.drag.box;
      if (x1 - x0 > 4 && y1 - y0 > 4) {
        view.faces.push({ kind: "manual", box: view.drag.box, points: null });
        view.dirty = true;
      }
      view.boxing = false;
      $("frames-box").classList.remove("active");
    } else {
      // A moved point makes the face a manual one, placed as it is now (its box is the points').
      const face = view.faces[view.drag.face];
      Object.assign(face, { kind: "manual", box: null });
      view.dirty = true;
    }
    view.drag = null;
    draw();
  });

  async function save(faces) {
    const body = faces.map((face) => (face.points ? { landmarks: face.points } : { box: face.box }));
    const { written } = await api(`api/frames/${encodeURIComponent(view.video)}/${view.frame}`, {
      method: "POST", body: JSON.stringify({ faces: body }) });
    view.dirty = false;
    say(`Saved ${written}: the next run extracts ${view.video} again.`);
    await loadDoubts(view.video);
    await openFrame(view.frame);
  }

  $("frames-save").addEventListener("click", () =>
    save(view.faces.filter((face) => face.kind === "manual")).catch((error) => say(error.message, true)));
  $("frames-clear").addEventListener("click", () => save([]).catch((error) => say(error.message, true)));
  $("frames-box").addEventListener("click", () => {
    view.boxing = !view.boxing;
    $("frames-box").classList.toggle("active", view.boxing);
  });
  $("frames-open").addEventListener("click", () =>
    openFrame(Number($("frames-number").value)).catch((error) => say(error.message, true)));
  $("frames-video").addEventListener("change", () =>
    loadDoubts($("frames-video").value).catch((error) => say(error.message, true)));
  $("tab-frames").addEventListener("click", () => {
    if (!view.video) loadVideos().catch((error) => say(error.message, true));
  });
})();
