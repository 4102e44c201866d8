// The job page's live log: the job's stored and new events over SSE (the API's
// /api/v1/jobs/{id}/events, resumed by the browser with Last-Event-ID), one terminal per host,
// ANSI colours rendered by ansi_up (which escapes the text). At the end the results are reloaded.
import { AnsiUp } from "/assets/vendor/ansi_up.js";

const log = document.getElementById("log");
const status = document.getElementById("log-state");
const ansi = new AnsiUp();
ansi.use_classes = true;
const terms = new Map();

function term(host) {
  let pre = terms.get(host);
  if (!pre) {
    const h = document.createElement("h3");
    h.textContent = host || "job";
    pre = document.createElement("pre");
    pre.className = "term";
    pre.dataset.host = host;
    log.append(h, pre);
    terms.set(host, pre);
  }
  return pre;
}

// line is one event as `chaos capitain logs` prints it: time, type, what it says.
function line(e) {
  const d = e.data || {};
  const parts = [d.phase, d.role, d.op, d.message].filter(Boolean);
  if (d.changes > 0) parts.push(d.changes + " changes");
  if (d.generation > 0) parts.push("generation " + d.generation);
  if (d.host && d.host.status) parts.push(d.host.status);
  let text = ansi.ansi_to_html(parts.join(" "));
  if (d.error) text += ' <span class="ansi-red-fg">error: ' + ansi.ansi_to_html(d.error) + "</span>";
  const t = new Date(e.time).toLocaleTimeString();
  return '<span class="ansi-bright-black-fg">' + t + "</span> " + ansi.ansi_to_html(e.type.padEnd(14)) + " " + text + "\n";
}

const src = new EventSource(log.dataset.events);
src.onopen = () => { status.textContent = "Live."; };
const onEvent = (ev) => {
  const e = JSON.parse(ev.data);
  term(e.host).insertAdjacentHTML("beforeend", line(e));
};
// The event types of docs/events.md (SSE delivers named events to their listeners only).
for (const t of ["run.start", "host.phase", "host.connected", "probed", "plan", "recovered", "op.start", "op.end", "undo",
  "role.replanned", "generation", "host.done", "result", "access.confirm", "access.watchdog", "message", "error", "fleet.host", "run.done"]) {
  src.addEventListener(t, onEvent);
}
src.addEventListener("end", (ev) => {
  src.close();
  const j = JSON.parse(ev.data);
  status.textContent = "Done: " + j.state + ".";
  const st = document.getElementById("job-state");
  st.textContent = j.state;
  st.className = "state j-" + j.state;
  if (window.htmx) {
    htmx.ajax("GET", location.pathname + location.search, { target: "#results", select: "#results", swap: "outerHTML" });
  }
});
src.onerror = () => { if (src.readyState === EventSource.CONNECTING) status.textContent = "Reconnecting…"; };
