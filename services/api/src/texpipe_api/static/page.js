// The page to try texpipe: send dropped files as a document, follow its compile job with the
// long-poll, show the PDF (a blob: URL in the browser's own viewer) and the diagnostics;
// clicking one shows that line of the dropped source, which never leaves this page otherwise.
// Plain script, no build step: every text from the api or a file goes in through textContent.
"use strict";

const TOKEN_KEY = "texpipe.token";
const WAIT_S = 25; // the long-poll's wait (the api allows up to 60 s)
const CONTEXT_LINES = 3; // source lines shown around a diagnostic's line
// As the CLI: hidden files and folders stay home, except the latexmkrc the api reads.
const SENT_HIDDEN = new Set([".latexmkrc"]);

const $ = (id) => document.getElementById(id);
let sources = new Map(); // project path -> text of each dropped text file
let pdfUrl = null;
let run = 0; // one per drop: an older job's poll stops when a newer drop starts

function token() {
  return $("token").value.trim();
}

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

function setState(state, summary = "") {
  $("state").textContent = state;
  $("state").dataset.state = state;
  $("summary").textContent = summary;
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const problem = await response.json();
      detail = `${problem.code}: ${problem.detail}`;
    } catch (_) {
      // not problem+json: keep the status text
    }
    throw new Error(`${response.status} ${detail}`);
  }
  return response;
}

function hidden(path) {
  return path.split("/").some((part) => part.startsWith(".") && !SENT_HIDDEN.has(part));
}

// DataTransfer items must be read during the drop event itself: take the entries now.
function droppedEntries(dataTransfer) {
  const items = [...dataTransfer.items].filter((item) => item.kind === "file");
  return items.map((item) => ({
    entry: item.webkitGetAsEntry ? item.webkitGetAsEntry() : null,
    file: item.getAsFile(),
  }));
}

function readAll(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(directory, prefix, out) {
  const reader = directory.createReader();
  for (let batch = await readAll(reader); batch.length; batch = await readAll(reader)) {
    for (const entry of batch) {
      const path = prefix + entry.name;
      if (hidden(path)) continue;
      if (entry.isDirectory) {
        await walk(entry, `${path}/`, out);
      } else {
        out.push([path, await new Promise((ok, fail) => entry.file(ok, fail))]);
      }
    }
  }
}

// One dropped folder: its contents, relative to it (as `texpipe compile FOLDER` sends).
// Anything else: each dropped file (or folder) under its own name.
async function filesFromDrop(dropped) {
  const out = [];
  if (dropped.length === 1 && dropped[0].entry && dropped[0].entry.isDirectory) {
    await walk(dropped[0].entry, "", out);
    return out;
  }
  for (const { entry, file } of dropped) {
    if (entry && entry.isDirectory) {
      await walk(entry, `${entry.name}/`, out);
    } else if (file && !hidden(file.name)) {
      out.push([file.name, file]);
    }
  }
  return out;
}

// <input webkitdirectory>: paths start with the chosen folder's name; drop it.
function filesFromFolderInput(files) {
  return [...files]
    .map((file) => [file.webkitRelativePath.split("/").slice(1).join("/"), file])
    .filter(([path]) => path && !hidden(path));
}

function base64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

// As the api takes a file: UTF-8 text as a string, anything else as {"base64": ...}.
async function encode(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    if (!text.includes("\0")) return text;
  } catch (_) {
    // not UTF-8: binary
  }
  return { base64: base64(bytes) };
}

function reset() {
  showMessage("");
  $("diagnostics").replaceChildren();
  $("diag-count").textContent = "";
  $("source").replaceChildren();
  $("log").textContent = "";
  $("pdf").hidden = true;
  $("no-pdf").hidden = false;
  if (pdfUrl) URL.revokeObjectURL(pdfUrl);
  pdfUrl = null;
  $("pdf").removeAttribute("src");
}

async function submit(files) {
  const mine = ++run;
  reset();
  if (!token()) {
    showMessage("Enter a tenant token first.");
    return;
  }
  if (!files.length) {
    showMessage("Nothing to send: no files (hidden files are skipped).");
    return;
  }
  setState("uploading", `${files.length} file(s)`);
  try {
    const body = { files: {}, compile: true };
    sources = new Map();
    for (const [path, file] of files) {
      body.files[path] = await encode(file);
      if (typeof body.files[path] === "string") sources.set(path, body.files[path]);
    }
    const created = await (
      await api("/v1/documents", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      })
    ).json();
    setState("queued", `${created.main} · ${created.engine} · document ${created.id}`);
    await follow(created, mine);
  } catch (error) {
    if (mine === run) {
      setState("error");
      showMessage(String(error.message || error));
    }
  }
}

async function follow(created, mine) {
  let job;
  do {
    job = await (await api(`/v1/jobs/${created.job_id}?wait=${WAIT_S}`)).json();
    if (mine !== run) return;
    const took = job.duration_ms == null ? "" : ` · ${job.duration_ms} ms`;
    setState(job.state, `${created.main} · ${job.engine}${took} · job ${job.id}`);
  } while (job.finished_at == null);
  showDiagnostics(job);
  if (job.error) showMessage(`${job.error.code}: ${job.error.message}`);
  const tasks = [];
  if (job.state === "applied") tasks.push(showPdf(created.id, mine));
  if (job.log_available) tasks.push(showLog(job.id, mine));
  await Promise.all(tasks);
}

async function showPdf(documentId, mine) {
  const blob = await (await api(`/v1/documents/${documentId}/pdf?download=1`)).blob();
  if (mine !== run) return;
  pdfUrl = URL.createObjectURL(new Blob([blob], { type: "application/pdf" }));
  $("pdf").src = pdfUrl;
  $("pdf").hidden = false;
  $("no-pdf").hidden = true;
}

async function showLog(jobId, mine) {
  const text = await (await api(`/v1/jobs/${jobId}/log`)).text();
  if (mine === run) $("log").textContent = text;
}

function fileLine(file, line) {
  if (!file) return "";
  return line == null ? file : `${file}:${line}`;
}

function showDiagnostics(job) {
  const items = job.diagnostics ? job.diagnostics.items : [];
  const list = $("diagnostics");
  if (!items.length && job.error) {
    items.push({ severity: "error", file: job.error.file, line: job.error.line,
                 message: job.error.message });
  }
  for (const diagnostic of items) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `diagnostic ${diagnostic.severity}`;
    const where = document.createElement("span");
    where.className = "where";
    where.textContent = fileLine(diagnostic.file, diagnostic.line) || "(no file)";
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = `${diagnostic.severity}: ${diagnostic.message}`;
    button.append(where, text);
    button.addEventListener("click", () => showSource(diagnostic.file, diagnostic.line));
    const item = document.createElement("li");
    item.append(button);
    list.append(item);
  }
  const omitted = job.diagnostics ? job.diagnostics.omitted : 0;
  $("diag-count").textContent = `(${items.length}${omitted ? ` + ${omitted} omitted` : ""})`;
}

function showSource(file, line) {
  const pane = $("source");
  pane.replaceChildren();
  const path = (file || "").replace(/^\.\//, "");
  const text = sources.get(path);
  const title = document.createElement("p");
  title.className = "file";
  title.textContent = fileLine(path, line);
  pane.append(title);
  if (text === undefined || line == null) {
    const note = document.createElement("p");
    note.textContent = text === undefined
      ? "Not one of the dropped text files (a TeX Live file, or no file named)."
      : "The diagnostic names no line.";
    pane.append(note);
    return;
  }
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop(); // the final newline
  const listing = document.createElement("ol");
  const first = Math.max(1, line - CONTEXT_LINES);
  listing.start = first;
  for (let n = first; n <= Math.min(lines.length, line + CONTEXT_LINES); n++) {
    const row = document.createElement("li");
    row.textContent = lines[n - 1];
    if (n === line) {
      row.className = "hit";
      row.setAttribute("aria-current", "true");
    }
    listing.append(row);
  }
  pane.append(listing);
}

function setUp() {
  const input = $("token");
  input.value = sessionStorage.getItem(TOKEN_KEY) || "";
  input.addEventListener("input", () => sessionStorage.setItem(TOKEN_KEY, token()));

  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const dropped = droppedEntries(event.dataTransfer);
    setState("reading", "the dropped files");
    filesFromDrop(dropped).then(submit, (error) => showMessage(String(error)));
  });
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      $("pick-file").click();
    }
  });
  $("pick-file").addEventListener("change", (event) => {
    submit([...event.target.files].map((file) => [file.name, file]));
    event.target.value = "";
  });
  $("pick-folder").addEventListener("change", (event) => {
    submit(filesFromFolderInput(event.target.files));
    event.target.value = "";
  });
}

setUp();
