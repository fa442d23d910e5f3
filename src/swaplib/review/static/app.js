// The review page: plain JS over the app's JSON API. Every request carries the token the page was
// opened with, in a header (the server refuses any change without it).
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const state = { faces: [], chosen: new Set(), lastClicked: null, video: null };

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "X-Swaplib-Token": token, "Content-Type": "application/json", ...(options.headers || {}) },
  });
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status}`);
  return body;
}

function say(text, error = false) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

// The videos with a face set, as the options of a tab's video chooser; returns them.
async function videoChoices(select) {
  const { videos } = await api("api/videos");
  select.innerHTML = "";
  for (const video of videos) select.add(new Option(video.name, video.name));
  return videos;
}

function fileUrl(relative) {
  return `files/${relative.split("/").map(encodeURIComponent).join("/")}?token=${encodeURIComponent(token)}`;
}

// ------------------------------------------------------------------------------------ views

function show(view) {
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== view;
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === view);
  if (view === "training") loadModels();
  if (view === "merge" && !merge.declarations) loadMerge().catch((error) => say(error.message, true));
}

for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => show(tab.dataset.view));

// ------------------------------------------------------------------------------------ faces

async function loadVideos() {
  const { videos, running } = await api("api/videos");
  $("running").hidden = !running;
  const select = $("video");
  select.innerHTML = "";
  for (const video of videos) {
    const option = document.createElement("option");
    option.value = video.name;
    option.textContent = `${video.name} (${video.selected} of ${video.faces} kept)`;
    select.appendChild(option);
  }
  if (!videos.length) say("No face sets yet: run the workflow first (make run, or swaplib swap).");
  else await loadFaces(select.value);
}

async function loadFaces(video) {
  state.video = video;
  const { faces, sheet } = await api(`api/videos/${encodeURIComponent(video)}/faces`);
  state.faces = faces;
  state.sheet = sheet;
  const reasons = [...new Set(faces.map((f) => f.reason).filter(Boolean))].sort();
  const filter = $("filter");
  for (const option of [...filter.options]) if (option.dataset.reason) option.remove();
  for (const reason of reasons) {
    const option = document.createElement("option");
    option.value = `reason:${reason}`;
    option.dataset.reason = reason;
    option.textContent = `left out: ${reason}`;
    filter.appendChild(option);
  }
  drawGrid();
}

function visible(face) {
  const filter = $("filter").value;
  const minBlur = Number($("min-blur").value) || 0;
  if (minBlur && (face.scores.blur ?? 0) < minBlur) return false;
  if (filter === "kept") return face.selected;
  if (filter === "left") return !face.selected;
  if (filter.startsWith("reason:")) return face.reason === filter.slice(7);
  return true;
}

function drawGrid() {
  const grid = $("grid");
  grid.innerHTML = "";
  const shown = state.faces.filter(visible);
  for (const face of shown) {
    const tile = document.createElement("div");
    tile.className = "face" + (face.selected ? "" : " left-out") + (state.chosen.has(face.id) ? " chosen" : "");
    tile.dataset.face = face.id;
    const s = face.scores;
    tile.title = `blur ${s.blur} · yaw ${s.yaw} · pitch ${s.pitch} · ${s.face_px} px` +
      (s.identity != null ? ` · identity ${s.identity}` : "") + (face.note ? ` · note: ${face.note}` : "");
    tile.innerHTML = `<img loading="lazy" alt="${face.id}" src="${fileUrl(face.file)}">
      <div class="id">${face.id}${face.selected ? ` #${face.rank}` : ""}</div>
      <div class="why">${face.reason}</div>
      <div class="decided">${decidedText(face)}</div>`;
    tile.addEventListener("click", (event) => choose(face.id, event.shiftKey, shown));
    grid.appendChild(tile);
  }
  const kept = state.faces.filter((f) => f.selected).length;
  $("counts").textContent = `${shown.length} shown of ${state.faces.length} faces; ${kept} kept for training. ` +
    `Decisions go to ${state.sheet}.`;
}

// What the sheet says of a face; "(next run)" where the face set does not show it yet.
function decidedText(face) {
  const sheet = face.decided && face.decided !== face.curation ? `${face.decided} (next run)` : face.decided;
  return [sheet, face.label ? "to label" : ""].filter(Boolean).join(", ");
}

function choose(id, run, shown) {
  if (run && state.lastClicked) {
    const ids = shown.map((f) => f.id);
    const [a, b] = [ids.indexOf(state.lastClicked), ids.indexOf(id)].sort((x, y) => x - y);
    for (const other of ids.slice(a, b + 1)) state.chosen.add(other);
  } else if (state.chosen.has(id)) state.chosen.delete(id);
  else state.chosen.add(id);
  state.lastClicked = id;
  drawGrid();
}

async function decide(action) {
  if (!state.chosen.size) return say("Click the faces first.", true);
  const faces = [...state.chosen];
  try {
    const { written } = await api(`api/videos/${encodeURIComponent(state.video)}/curation`, {
      method: "POST", body: JSON.stringify({ faces, action, note: $("note").value }),
    });
    say(`${faces.length} face(s): ${action}, written to ${written}. The next run takes it ("What a rerun redoes").`);
    state.chosen.clear();
    await loadFaces(state.video);
  } catch (error) {
    say(error.message, true);
  }
}

for (const button of document.querySelectorAll("[data-action]")) {
  button.addEventListener("click", () => decide(button.dataset.action));
}
const KEYS = { e: "exclude", i: "include", r: "reference", l: "label" };
document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT" || $("faces").hidden) return;
  const action = KEYS[event.key.toLowerCase()];
  if (action) decide(action);
});
$("video").addEventListener("change", () => { state.chosen.clear(); loadFaces($("video").value); });
$("filter").addEventListener("change", drawGrid);
$("min-blur").addEventListener("input", drawGrid);

$("dry-run").addEventListener("click", async () => {
  $("dry-run-result").textContent = "asking Snakemake (a dry run: nothing runs)...";
  try {
    const { jobs, running, text } = await api("api/dry-run");
    const rules = Object.entries(jobs).map(([rule, n]) => `${rule}: ${n}`).join("\n");
    $("dry-run-result").textContent = running ? text :
      (rules ? `A rerun would run these jobs:\n${rules}` : "Nothing to redo: the results are up to date.");
    $("dry-run-result").dataset.jobs = JSON.stringify(jobs);
  } catch (error) {
    $("dry-run-result").textContent = error.message;
  }
});

// ------------------------------------------------------------------------------------ merge

// The merger: the controls are built from the merge settings' declarations (swaplib.config.merge),
// so a new setting appears here without page code; each change redraws the frame with the merge
// stage's own code on the server.
const merge = { declarations: null, pairs: [], pair: null, current: {}, changes: {}, drawing: 0 };

async function loadMerge() {
  const { declarations, pairs, render } = await api("api/merge");
  merge.declarations = declarations;
  merge.pairs = pairs.filter((p) => p.ready);
  const select = $("pair");
  select.innerHTML = "";
  for (const p of merge.pairs) {
    const option = document.createElement("option");
    option.value = p.pair;
    option.textContent = `${p.pair} (${p.destination})`;
    select.appendChild(option);
  }
  if (!merge.pairs.length) return say("No pair has frames and a model yet: run the workflow first.");
  await choosePair(select.value);
  if (render.state === "running") followRender();
}

async function choosePair(name) {
  merge.pair = merge.pairs.find((p) => p.pair === name);
  merge.changes = {};
  const slider = $("frame");
  slider.min = merge.pair.first;
  slider.max = merge.pair.last;
  slider.value = merge.pair.first;
  await chooseFrame(merge.pair.first);
}

async function chooseFrame(frame) {
  $("frame-number").textContent = frame;
  const { settings, frame_file } = await api(`api/pairs/${encodeURIComponent(merge.pair.pair)}/settings/${frame}`);
  merge.current = settings;
  buildControls();
  if (frame_file) $("destination-frame").src = fileUrl(frame_file);
  redraw();
}

function control(d, value) {
  const schema = d.schema;
  if (schema.enum) {
    const select = document.createElement("select");
    for (const choice of schema.enum) select.add(new Option(choice, choice, false, choice === value));
    return select;
  }
  if (schema.type === "boolean") {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = Boolean(value);
    return box;
  }
  const input = document.createElement("input");
  input.type = "range";
  input.min = schema.minimum ?? 0;
  input.max = schema.maximum ?? 100;
  input.step = schema.type === "integer" ? 1 : 0.01;
  input.value = value;
  return input;
}

function valueOf(d, input) {
  if (d.schema.type === "boolean") return input.checked;
  if (d.schema.enum) return input.value;
  return d.schema.type === "integer" ? parseInt(input.value, 10) : parseFloat(input.value);
}

function buildControls() {
  const form = $("merge-settings");
  form.innerHTML = "";
  for (const d of merge.declarations.filter((d) => d.per_frame)) {
    const value = d.name in merge.changes ? merge.changes[d.name] : merge.current[d.name];
    const label = document.createElement("label");
    label.title = d.meaning;
    label.dataset.setting = d.name;
    const name = document.createElement("span");
    name.textContent = d.name;
    if (d.name in merge.changes) name.className = "changed";
    const input = control(d, value);
    const shown = document.createElement("output");
    shown.textContent = d.schema.enum || d.schema.type === "boolean" ? "" : value;
    input.addEventListener(input.type === "range" ? "input" : "change", () => {
      const chosen = valueOf(d, input);
      if (chosen === merge.current[d.name]) delete merge.changes[d.name];
      else merge.changes[d.name] = chosen;
      name.className = d.name in merge.changes ? "changed" : "";
      shown.textContent = input.type === "range" ? chosen : "";
      redraw();
    });
    label.append(name, input, shown);
    form.appendChild(label);
  }
}

async function redraw() {
  const ticket = ++merge.drawing;  // a newer change wins over a drawing still on its way
  const frame = $("frame").value;
  const url = `api/pairs/${encodeURIComponent(merge.pair.pair)}/frames/${frame}.png?changes=` +
    encodeURIComponent(JSON.stringify(merge.changes));
  try {
    const response = await fetch(url, { headers: { "X-Swaplib-Token": token } });
    if (!response.ok) throw new Error((await response.json()).error);
    const seconds = response.headers.get("X-Draw-Seconds");
    const blob = await response.blob();
    if (ticket !== merge.drawing) return;
    const image = $("merged-frame");
    if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);
    image.src = URL.createObjectURL(blob);
    image.dataset.frame = frame;
    image.dataset.changes = JSON.stringify(merge.changes);
    $("draw-time").textContent = `drawn in ${(1000 * seconds).toFixed(0)} ms`;
    showFrames();
  } catch (error) {
    say(error.message, true);
  }
}

function showFrames() {
  const show = $("show").value;
  $("merged-frame").hidden = show === "destination";
  $("destination-frame").hidden = show === "swap";
}

async function applyChanges() {
  const frame = parseInt($("frame").value, 10);
  const scope = $("scope").value;
  const first = scope === "all" ? merge.pair.first : scope === "from" ? frame : parseInt($("range-first").value, 10);
  const last = scope === "range" ? parseInt($("range-last").value, 10) : merge.pair.last;
  try {
    const { written } = await api(`api/pairs/${encodeURIComponent(merge.pair.pair)}/overrides`, {
      method: "POST", body: JSON.stringify({ first, last, changes: merge.changes }),
    });
    say(`Saved to ${written} for frames ${first}-${last}; "Render the video" makes it.`);
    merge.changes = {};
    await chooseFrame(frame);
  } catch (error) {
    say(error.message, true);
  }
}

async function followRender() {
  $("render-progress").hidden = false;
  for (;;) {
    const status = await api("api/job");
    $("render-log").textContent = (status.log || []).join("\n");
    if (status.total) $("render-progress").value = status.done / status.total;
    $("render-log").dataset.state = status.state;
    if (status.state !== "running") {
      $("render-log").dataset.rules = JSON.stringify(status.rules || []);
      if (status.state === "done") {
        const video = $("rendered");
        if (status.target.endsWith(".mp4")) {
          video.src = fileUrl(status.target) + `&t=${Date.now()}`;
          video.hidden = false;
        }
        say(`${status.what}: done.`);
      } else say(`${status.what}: ${status.state}; see its log below.`, true);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

$("pair").addEventListener("change", () => choosePair($("pair").value));
$("frame").addEventListener("input", () => chooseFrame(parseInt($("frame").value, 10)));
$("show").addEventListener("change", showFrames);
$("apply").addEventListener("click", applyChanges);
$("render").addEventListener("click", async () => {
  try {
    await api(`api/pairs/${encodeURIComponent(merge.pair.pair)}/render`, { method: "POST", body: "{}" });
    followRender();
  } catch (error) {
    say(error.message, true);
  }
});
document.addEventListener("keydown", (event) => {  // DFL's merger: , and . step through the frames
  if ($("merge").hidden || event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
  const step = { ",": -1, ".": 1 }[event.key];
  if (!step) return;
  const slider = $("frame");
  slider.value = Math.min(Math.max(parseInt(slider.value, 10) + step, slider.min), slider.max);
  chooseFrame(parseInt(slider.value, 10));
});

// ------------------------------------------------------------------------------------ training

async function loadModels() {
  const { models, pairs, running } = await api("api/models");
  $("running").hidden = !running;
  const box = $("models");
  box.innerHTML = models.length ? "" : "<p>No training yet.</p>";
  const stamp = Date.now();
  for (const m of models) {
    const div = document.createElement("div");
    div.className = "model";
    div.dataset.model = m.id;
    const losses = m.losses ? `${m.losses[0].toFixed(4)} / ${m.losses[1].toFixed(4)}` : "-";
    div.innerHTML = `<div><h2>${m.name}</h2><table class="figures">
        <tr><td>state</td><td class="state">${m.state}</td></tr>
        <tr><td>iteration</td><td>${m.iteration ?? "-"}${m.target ? ` of ${m.target}` : ""}</td></tr>
        <tr><td>loss src / dst</td><td>${losses}</td></tr>
        <tr><td>samples/s</td><td>${m.samples_per_s ?? "-"}</td></tr>
        <tr><td>time left</td><td>${m.time_left ?? "-"}</td></tr></table>
        <button class="stop" ${m.state === "training" ? "" : "disabled"}>Stop after this step</button>
        <div class="train-on">Train on <input class="more" type="number" min="1" value="1000" size="6"> iterations
          <button class="go">Train on</button></div></div>
      ${m.preview ? `<img alt="preview of ${m.name}" src="${fileUrl(m.preview)}&t=${stamp}">` : ""}
      ${m.plot ? `<img alt="loss of ${m.name}" src="${fileUrl(m.plot)}&t=${stamp}">` : ""}`;
    div.querySelector(".stop").addEventListener("click", async () => {
      try {
        const { written } = await api(`api/models/${encodeURIComponent(m.id)}/stop`, { method: "POST", body: "{}" });
        say(`${m.id}: stop requested (${written}); the training saves and ends after the step in flight.`);
        loadModels();
      } catch (error) {
        say(error.message, true);
      }
    });
    div.querySelector(".go").addEventListener("click", async () => {
      try {
        const more = parseInt(div.querySelector(".more").value, 10);
        const job = await api(`api/models/${encodeURIComponent(m.id)}/train-on`, {
          method: "POST", body: JSON.stringify({ more }),
        });
        say(`${job.what}: started.`);
        loadModels();
      } catch (error) {
        say(error.message, true);
      }
    });
    box.appendChild(div);
  }
  const body = $("pairs").querySelector("tbody");
  body.innerHTML = "";
  for (const p of pairs) {
    const row = body.insertRow();
    for (const value of [p.name, p.stage, p.verdict ?? "-"]) row.insertCell().textContent = value;
  }
}

setInterval(() => { if (!$("training").hidden) loadModels().catch((e) => say(e.message, true)); }, 5000);

show("faces");
loadVideos().catch((error) => say(error.message, true));
