"""Server-rendered pages of the dashboard (plain HTML + a little JavaScript, plotly.js served locally)."""

from __future__ import annotations

import html
import json
from typing import Any

DEFAULT_SCENARIO = """\
name: dashboard example - drone wave on the synthetic city
grid:
  case: synthetic-city
waves:
  - weapon: drone
    launched: 35
    interception:
      observed: {shot_down: 30, launched: 35}
    targets:
      - {class: substation, weight: 3}
      - {class: plant, weight: 2}
"""

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222}
nav{background:#1d3557;padding:.6rem 1.5rem}nav a{color:#fff;margin-right:1.4rem;text-decoration:none;font-weight:600}
main{max-width:1200px;margin:0 auto;padding:1rem 1.5rem}
button{background:#1d3557;color:#fff;border:0;border-radius:4px;padding:.45rem 1rem;cursor:pointer}
button:disabled{background:#999}
table{border-collapse:collapse;font-size:.88rem}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}
.cols{display:flex;gap:1.5rem;align-items:flex-start}.sites{max-height:420px;overflow:auto;min-width:260px;border:1px solid #ddd;padding:.5rem}
.error{color:#b00020;white-space:pre-wrap}.muted{color:#666}.card{display:inline-block;background:#f4f4f4;border-radius:6px;padding:.5rem 1rem;margin:.2rem}
.card b{font-size:1.3rem;display:block}textarea{width:100%;font-family:monospace}progress{width:300px}
"""


def _page(title: str, body: str, scripts: str = "") -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} - gridshield</title><style>{_CSS}</style>"
        "<script src='/static/plotly.js'></script></head><body>"
        "<nav><a href='/'>gridshield</a><a href='/'>Cases</a><a href='/runs'>Risk runs</a>"
        "<a href='/schedule'>Outage schedule</a><a href='/docs'>API</a></nav>"
        f"<main>{body}</main><script>{_JS_COMMON}{scripts}</script></body></html>"
    )


_JS_COMMON = """
async function api(path, opts){
  const r = await fetch(path, opts);
  let data = null; try { data = await r.json(); } catch(e) {}
  if(!r.ok){ throw new Error((data && data.detail) ? (typeof data.detail === 'string' ? data.detail : JSON.stringify(data.detail)) : r.statusText); }
  return data;
}
function esc(s){ return String(s).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c])); }
function fmt(v){ return (typeof v === 'number') ? v.toLocaleString(undefined,{maximumFractionDigits:1}) : esc(v); }
"""


def index_page(cases: list[dict[str, str]]) -> str:
    """Choose a built-in case or upload a grid model file."""
    builtin = [c for c in cases if c["source"] == "builtin"]
    uploaded = [c for c in cases if c["source"] == "upload"]
    matpower = [c for c in cases if c["source"] == "matpower"]
    links = "".join(f"<li><a id='case-{html.escape(c['name'])}' href='/case/{html.escape(c['name'])}'>"
                    f"{html.escape(c['name'])}</a> <span class='muted'>{c['source']}</span></li>"
                    for c in builtin + uploaded)
    options = "".join(f"<option>{html.escape(c['name'])}</option>" for c in matpower)
    body = f"""
<h1>Choose a grid</h1>
<ul>{links}</ul>
<p>MATPOWER case: <select id='mp'>{options}</select> <button onclick="location='/case/'+document.getElementById('mp').value">Open</button></p>
<h2>Upload a grid model</h2>
<p class='muted'>MATPOWER .m, pandapower .json, CGMES .zip, PSS/E .raw, UCTE .uct, PowerFactory .dgs, IIDM .xiidm, IEEE-CDF .txt</p>
<form id='up'><input type='file' id='file' accept='.m,.json,.zip,.xml,.raw,.rawx,.uct,.dgs,.xiidm,.iidm,.jiidm,.txt'>
<label><input type='checkbox' id='approx'> accept documented approximations</label>
<button type='submit'>Upload</button></form>
<p id='upmsg' class='muted'></p>
"""
    js = """
document.getElementById('up').onsubmit = async (e) => {
  e.preventDefault();
  const f = document.getElementById('file').files[0]; if(!f) return;
  const fd = new FormData(); fd.append('file', f);
  if (document.getElementById('approx').checked) fd.append('approximate', 'true');
  const msg = document.getElementById('upmsg'); msg.textContent = 'uploading...';
  try { const r = await api('/api/cases/upload', {method:'POST', body: fd}); location = '/case/' + r.case; }
  catch(err){ msg.className='error'; msg.textContent = err.message; }
};
"""
    return _page("cases", body, js)


def case_page(case: str, info: dict[str, Any]) -> str:
    """Select sites or assets to damage and see the impact (map + tables)."""
    s = info["summary"]
    sites = "".join(f"<label><input type='checkbox' class='site' value='site:{html.escape(x)}'> {html.escape(x)}</label><br>"
                    for x in info["sites"]) or "<span class='muted'>this case defines no sites; type asset ids</span>"
    body = f"""
<h1>{html.escape(case)}</h1>
<p class='muted'>{s['buses']} buses, {s['branches']} branches, {s['generators']} generators, {s['loads']} loads,
{s['load_mw']:,.0f} MW of load.</p>
<div class='cols'>
 <div><h3>Damage</h3><div class='sites'>{sites}</div>
  <p>Other asset ids (comma separated):<br><input id='ids' size='32' placeholder='branch:12, gen:3'></p>
  <p><label><input type='checkbox' id='cascade'> cascading trips</label></p>
  <button id='assess'>Assess impact</button> <button id='reset'>Intact grid</button>
  <p id='err' class='error'></p></div>
 <div style='flex:1'><div id='summary'></div><div id='map' style='height:560px'></div></div>
</div>
<div id='tables'></div>
"""
    js = f"""
const CASE = {json.dumps(case)};
async function showIntact(){{ const fig = await api('/api/cases/' + encodeURIComponent(CASE) + '/map'); Plotly.react('map', fig.data, fig.layout);
  document.getElementById('summary').innerHTML=''; document.getElementById('tables').innerHTML=''; }}
function table(title, obj, cols){{
  let h = '<h3>' + esc(title) + '</h3><table><tr><th></th>' + cols.map(c => '<th>' + esc(c) + '</th>').join('') + '</tr>';
  for(const [k, v] of Object.entries(obj)) h += '<tr><td>' + esc(k) + '</td>' + cols.map(c => '<td>' + fmt(v[c] ?? '') + '</td>').join('') + '</tr>';
  return h + '</table>';
}}
document.getElementById('assess').onclick = async () => {{
  const ids = [...document.querySelectorAll('.site:checked')].map(x => x.value)
    .concat(document.getElementById('ids').value.split(',').map(x => x.trim()).filter(x => x));
  const err = document.getElementById('err'); err.textContent = '';
  const btn = document.getElementById('assess'); btn.disabled = true;
  try {{
    const r = await api('/api/impact', {{method:'POST', headers:{{'Content-Type':'application/json'}},
      body: JSON.stringify({{case: CASE, damage: ids, cascade: document.getElementById('cascade').checked}})}});
    const m = r.impact;
    document.getElementById('summary').innerHTML =
      '<span class="card" id="lost"><b>' + fmt(m.lost_mw) + ' MW</b>lost of ' + fmt(m.demand_mw) + '</span>' +
      '<span class="card"><b>' + fmt(m.customers_affected) + '</b>customers affected</span>' +
      '<span class="card"><b>' + (m.critical_lost || []).length + '</b>critical loads not fully served</span>';
    Plotly.react('map', r.figure.data, r.figure.layout);
    document.getElementById('tables').innerHTML = table('By priority class', m.by_priority || {{}}, ['demand_mw','lost_mw'])
      + table('By group / district', m.by_group || {{}}, ['demand_mw','lost_mw','customers_off']);
    document.getElementById('map').dataset.state = 'damaged';
  }} catch(e) {{ err.textContent = e.message; }}
  btn.disabled = false;
}};
document.getElementById('reset').onclick = showIntact;
showIntact();
"""
    return _page(case, body, js)


def runs_page(runs: list[dict[str, Any]]) -> str:
    """Start a Monte Carlo run, watch its progress, browse stored runs and their reports."""
    rows = "".join(
        f"<tr><td>{html.escape(str(r.get('run_id', '')))}</td><td>{html.escape(str(r.get('scenario_name', r.get('name', ''))))}</td>"
        f"<td>{html.escape(str(r.get('status', '')))}</td><td>{r.get('samples_done', '')}</td>"
        f"<td><a href='/runs/{html.escape(str(r.get('run_id', '')))}/report'>report</a></td></tr>"
        for r in runs
    )
    body = f"""
<h1>Monte Carlo risk runs</h1>
<h3>Start a run</h3>
<textarea id='scenario' rows='12'>{html.escape(DEFAULT_SCENARIO)}</textarea>
<p>samples <input id='samples' type='number' value='100' min='1' max='20000'> seed <input id='seed' type='number' value='1'>
<button id='start'>Start run</button></p>
<p id='err' class='error'></p>
<div id='job'></div>
<h3>Stored runs</h3>
<table id='runs'><tr><th>run</th><th>scenario</th><th>status</th><th>samples</th><th></th></tr>{rows}</table>
"""
    js = """
async function poll(id){
  const j = await api('/api/jobs/' + id);
  const el = document.getElementById('job');
  let h = '<p>job ' + esc(j.id) + ': <b id="jobstatus">' + esc(j.status) + '</b> <progress max="' + (j.total||1) + '" value="' + j.done + '"></progress> ' + j.done + ' / ' + j.total + '</p>';
  if(j.status === 'failed') h += '<p class="error">' + esc(j.error) + '</p>';
  if(j.status === 'done'){ const s = j.result.lost_mw || {};
    h += '<p><span class="card"><b>' + fmt(s.mean) + ' MW</b>expected load lost</span><span class="card"><b>' + fmt(s.p90) + ' MW</b>P90</span><span class="card"><b>' + fmt(s.cvar95) + ' MW</b>CVaR95</span></p>';
    if(j.result.run_id) h += '<p><a href="/runs/' + esc(j.result.run_id) + '/report">open the report</a></p>'; }
  el.innerHTML = h;
  if(j.status === 'queued' || j.status === 'running') setTimeout(() => poll(id), 700);
}
document.getElementById('start').onclick = async () => {
  const err = document.getElementById('err'); err.textContent = '';
  try {
    const j = await api('/api/runs', {method:'POST', headers:{'Content-Type':'application/json'}, body: JSON.stringify({
      scenario: document.getElementById('scenario').value, samples: +document.getElementById('samples').value,
      seed: +document.getElementById('seed').value})});
    poll(j.id);
  } catch(e){ err.textContent = e.message; }
};
"""
    return _page("runs", body, js)


def schedule_page() -> str:
    """Build and download a rotating outage schedule."""
    evening = [300, 250, 200, 200, 200, 300, 500, 700, 700, 600, 500, 500, 500, 500, 500, 600, 800, 1000, 1100, 1100,
               1000, 800, 600, 400]
    body = f"""
<h1>Rotating outage schedule</h1>
<p>Case (its load groups are the queues): <input id='case' value='synthetic-city'>
 block hours <input id='block' type='number' value='4' min='1' max='12' style='width:4em'>
 start <input id='start' value='2026-12-01T00:00'></p>
<p>Deficit per hour, MW (comma separated, up to 168 values):<br>
<textarea id='deficit' rows='3'>{", ".join(str(v) for v in evening)}</textarea></p>
<button id='build'>Build schedule</button>
<p id='err' class='error'></p>
<div id='dl'></div><div id='tt'></div>
"""
    js = """
function link(name, text, type){ const u = URL.createObjectURL(new Blob([text], {type})); return '<a download="' + esc(name) + '" href="' + u + '">' + esc(name) + '</a> '; }
document.getElementById('build').onclick = async () => {
  const err = document.getElementById('err'); err.textContent = '';
  try {
    const r = await api('/api/schedule', {method:'POST', headers:{'Content-Type':'application/json'}, body: JSON.stringify({
      case: document.getElementById('case').value, block_hours: +document.getElementById('block').value,
      start: document.getElementById('start').value,
      deficit_mw: document.getElementById('deficit').value.split(',').map(Number)})});
    let d = '<p>Download: ' + link('schedule.csv', r.csv, 'text/csv') + link('schedule.json', JSON.stringify(r.schedule, null, 2), 'application/json');
    for(const [g, t] of Object.entries(r.ics)) d += link(g + '.ics', t, 'text/calendar');
    document.getElementById('dl').innerHTML = d + '</p>';
    const fr = document.createElement('iframe'); fr.style.width='100%'; fr.style.height='700px'; fr.srcdoc = r.html;
    const tt = document.getElementById('tt'); tt.innerHTML=''; tt.appendChild(fr);
  } catch(e){ err.textContent = e.message; }
};
"""
    return _page("schedule", body, js)


__all__ = ["DEFAULT_SCENARIO", "case_page", "index_page", "runs_page", "schedule_page"]
