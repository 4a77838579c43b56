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
main{max-width:1250px;margin:0 auto;padding:1rem 1.5rem}
button{background:#1d3557;color:#fff;border:0;border-radius:4px;padding:.45rem 1rem;cursor:pointer;font-size:.95rem}
button.secondary{background:#5c6f8a}button:disabled{background:#999}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
table{border-collapse:collapse;font-size:.88rem}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right}
.cols{display:flex;gap:1.5rem;align-items:flex-start}.sites{max-height:380px;overflow:auto;min-width:260px;border:1px solid #ddd;padding:.5rem;margin:0}
.error{color:#b00020;white-space:pre-wrap;font-weight:600}.muted{color:#666}.warn{color:#8a4b00}
.card{display:inline-block;background:#f4f4f4;border-radius:6px;padding:.5rem 1rem;margin:.2rem;vertical-align:top;max-width:420px}
.card b{font-size:1.3rem;display:block}.card small{color:#666;display:block}
textarea{width:100%;font-family:monospace}progress{width:300px}label{margin-right:.6rem}
fieldset{border:1px solid #ddd;border-radius:4px;margin:.4rem 0}legend{font-weight:600}
.st-dark{background:#262626;color:#fff;padding:0 .4rem;border-radius:3px}.st-partly{background:#f59e0b;padding:0 .4rem;border-radius:3px}
.st-supplied{background:#a6d8f0;padding:0 .4rem;border-radius:3px}
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
function fmt(v, digits){ return (typeof v === 'number') ? v.toLocaleString('en-GB',{maximumFractionDigits:(digits ?? 1)}) : esc(v ?? ''); }
function postJSON(path, body){ return api(path, {method:'POST', headers:{'Content-Type':'application/json'}, body: JSON.stringify(body)}); }
function clearAll(ids){ for(const id of ids){ const el = document.getElementById(id); if(!el) continue;
  if(el.classList.contains('js-plotly-plot')) Plotly.purge(el); el.innerHTML = ''; delete el.dataset.state; } }
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
<form id='mpform'><label for='mp'>MATPOWER case:</label> <select id='mp'>{options}</select> <button type='submit'>Open</button></form>
<h2>Upload a grid model</h2>
<p class='muted'>MATPOWER .m, pandapower .json, CGMES .zip, PSS/E .raw, UCTE .uct, PowerFactory .dgs, IIDM .xiidm, IEEE-CDF .txt</p>
<form id='up'><label for='file'>grid file:</label> <input type='file' id='file' accept='.m,.json,.zip,.xml,.raw,.rawx,.uct,.dgs,.xiidm,.iidm,.jiidm,.txt'>
<label><input type='checkbox' id='approx'> accept documented approximations</label>
<button type='submit'>Upload</button></form>
<p id='upmsg' class='muted' role='status' aria-live='polite'></p>
"""
    js = """
document.getElementById('mpform').onsubmit = (e) => { e.preventDefault(); location = '/case/' + encodeURIComponent(document.getElementById('mp').value); };
document.getElementById('up').onsubmit = async (e) => {
  e.preventDefault();
  const f = document.getElementById('file').files[0]; const msg = document.getElementById('upmsg');
  if(!f){ msg.className='error'; msg.textContent = 'choose a grid file first'; return; }
  const fd = new FormData(); fd.append('file', f);
  if (document.getElementById('approx').checked) fd.append('approximate', 'true');
  msg.className = 'muted'; msg.textContent = 'uploading...';
  try { const r = await api('/api/cases/upload', {method:'POST', body: fd}); location = '/case/' + r.case; }
  catch(err){ msg.className='error'; msg.textContent = err.message; }
};
"""
    return _page("cases", body, js)


def case_page(case: str, info: dict[str, Any]) -> str:
    """Select sites or assets to damage and see the impact (district map, cards, tables) and the
    72-hour board."""
    s = info["summary"]
    sites = "".join(f"<label><input type='checkbox' class='site' value='site:{html.escape(x)}'> {html.escape(x)}</label><br>"
                    for x in info["sites"]) or "<span class='muted'>this case defines no sites; type asset ids</span>"
    body = f"""
<h1>{html.escape(case)}</h1>
<p class='muted'>{s['buses']} buses, {s['branches']} branches, {s['generators']} generators, {s['loads']} loads,
{s['load_mw']:,.0f} MW of load.</p>
<div class='cols'>
 <form id='dmg' style='min-width:300px'>
  <fieldset class='sites'><legend>Sites to damage</legend>{sites}</fieldset>
  <p><label for='ids'>Other asset ids (comma separated):</label><br><input id='ids' size='32' placeholder='branch:12, gen:3'></p>
  <p><label><input type='checkbox' id='cascade'> cascading trips</label></p>
  <p><label><input type='checkbox' id='acmodel'> AC load delivery (voltages, reactive power)</label></p>
  <p><label for='temp'>outdoor °C</label><input id='temp' type='number' value='-10' min='-60' max='40' step='1' style='width:5em'></p>
  <p><button type='submit' id='assess'>Assess impact</button> <button type='button' class='secondary' id='reset'>Intact grid</button></p>
  <fieldset><legend>The next hours</legend>
   <label for='crews'>repair crews</label><input id='crews' type='number' value='6' min='1' max='200' style='width:4em'>
   <label for='hours'>hours</label><input id='hours' type='number' value='72' min='24' max='168' style='width:4em'><br>
   <label for='strike'>strike at (local)</label><input id='strike' type='datetime-local'>
   <p><button type='button' id='boardbtn'>Show the 72-hour board</button></p>
  </fieldset>
  <fieldset><legend>The next loss</legend>
   <p class='muted'>Which further loss would overload or collapse what is left standing (AC, every contingency solved).</p>
   <label><input type='checkbox' class='nlk' value='branches' checked> branches</label>
   <label><input type='checkbox' class='nlk' value='gens' checked> generators</label>
   <label><input type='checkbox' class='nlk' value='sites' checked> sites</label>
   <p><button type='button' id='nextbtn'>Which next loss hurts?</button></p>
  </fieldset>
  <details><summary>Districts GeoJSON (optional)</summary>
   <p class='muted'>Polygons with <code>properties.buses</code> or <code>properties.group</code>, points with
   <code>properties.site</code>; longitude/latitude, or km with <code>"gridshield": {{"units": "km"}}</code>.
   <a href='/api/cases/{html.escape(case)}/geojson'>This case's GeoJSON</a>.</p>
   <label for='geo'>GeoJSON file</label> <input type='file' id='geo' accept='.geojson,.json'> <button type='button' id='geobtn'>Use it</button>
  </details>
  <p id='err' class='error' role='alert' aria-live='assertive'></p><p id='busy' class='muted' role='status' aria-live='polite'></p>
 </form>
 <div style='flex:1'><div id='summary'></div><div id='map' style='height:640px'></div></div>
</div>
<div id='critical'></div>
<div id='board'></div>
<div id='nextloss'></div>
<div id='tables'></div>
"""
    js = f"""
const CASE = {json.dumps(case)};
const RESULTS = ['summary', 'map', 'critical', 'board', 'nextloss', 'tables'];
function damageIds(){{ return [...document.querySelectorAll('.site:checked')].map(x => x.value)
    .concat(document.getElementById('ids').value.split(',').map(x => x.trim()).filter(x => x)); }}
function fail(e){{ clearAll(RESULTS); document.getElementById('err').textContent = e.message; document.getElementById('busy').textContent = ''; }}
async function showIntact(){{
  document.getElementById('err').textContent = '';
  try {{ const fig = await api('/api/cases/' + encodeURIComponent(CASE) + '/map'); clearAll(RESULTS);
    Plotly.react('map', fig.data, fig.layout); document.getElementById('map').dataset.state = 'intact'; }}
  catch(e){{ fail(e); }}
}}
function stateTag(st){{ const c = st === 'dark' ? 'st-dark' : st === 'partly served' ? 'st-partly' : 'st-supplied';
  return '<span class="' + c + '">' + esc(st) + '</span>'; }}
function hours(h){{ return (h === null || h === undefined) ? '> horizon' : fmt(h, 0) + ' h'; }}
function render(r){{
  const m = r.impact, x = r.extra, pct = m.demand_mw > 0 ? 100 * m.lost_mw / m.demand_mw : 0;
  const crit = x.critical_lost || [];
  let cards = '<span class="card" id="lost"><b>' + fmt(m.lost_mw, 0) + ' MW lost</b>of ' + fmt(m.demand_mw, 0) + ' MW demand (' + fmt(pct) + ' %)</span>' +
    '<span class="card"><b>' + fmt(m.customers_affected, 0) + ' customers</b>without full supply, of ' + fmt(m.customers_total, 0) + '</span>' +
    '<span class="card" id="critcard"><b>' + crit.length + ' critical loads lost</b>' + (crit.length ? esc(crit.map(c => c.name).join(', ')) : 'none') + '</span>';
  const acFailed = (m.islands || []).some(i => i.status === 'ac-failed');
  cards += '<span class="card" id="modelcard"><b>' + esc(m.model.toUpperCase()) + ' load delivery</b>' +
    (m.model === 'ac' ? (acFailed ? 'AC failed on some islands: their DC answer is shown' : 'voltages and reactive power respected') : 'DC power flow (MW only)') + '</span>';
  if(x.heat) cards += '<span class="card"><b>' + fmt(x.heat.people_without_heat, 0) + ' people without heat</b>' + fmt(x.heat.districts_off, 0) +
    ' heat districts off at ' + fmt(x.heat.temperature_c) + ' °C' + (x.heat.first_hours_to_12c_h !== null ? '; first homes below 12 °C after ' + fmt(x.heat.first_hours_to_12c_h, 0) + ' h' : '') + '</span>';
  document.getElementById('summary').innerHTML = cards;
  Plotly.react('map', r.figure.data, r.figure.layout);
  document.getElementById('map').dataset.state = 'damaged';
  let c = '';
  if(crit.length){{ c = '<h3>Critical loads lost</h3><table id="critlist"><tr><th>critical load</th><th>district / bus</th><th class="n">demand (MW)</th></tr>' +
    crit.map(k => '<tr><td>' + esc(k.name) + '</td><td>' + esc(k.bus) + '</td><td class="n">' + fmt(k.mw) + '</td></tr>').join('') + '</table>'; }}
  document.getElementById('critical').innerHTML = c;
  let t = '';
  if((x.districts || []).length){{
    t += '<h3>Districts</h3><table id="districts"><tr><th>district</th><th>state</th><th class="n">served (MW)</th><th class="n">demand (MW)</th><th class="n">served</th><th class="n">customers without full supply</th><th>critical loads off</th><th>heat</th></tr>';
    for(const d of x.districts) t += '<tr data-district="' + esc(d.name) + '" data-state="' + esc(d.state) + '"><td>' + esc(d.name) + '</td><td>' + stateTag(d.state) +
      '</td><td class="n">' + fmt(d.served_mw) + '</td><td class="n">' + fmt(d.demand_mw) + '</td><td class="n">' + fmt(d.served_pct, 0) + ' %</td><td class="n">' + fmt(d.customers_off, 0) +
      '</td><td>' + esc(d.critical_off.join(', ') || '-') + '</td><td>' + (d.heat_off ? 'off; below 12 °C after ' + hours(d.hours_to_12c_h) : 'on') + '</td></tr>';
    t += '</table>';
  }}
  t += '<h3>By priority class</h3><table><tr><th>class</th><th class="n">demand (MW)</th><th class="n">lost (MW)</th><th class="n">customers off</th></tr>';
  for(const [k, v] of Object.entries(m.by_priority || {{}})) t += '<tr><td>' + esc(k) + '</td><td class="n">' + fmt(v.demand_mw) + '</td><td class="n">' + fmt(v.lost_mw) + '</td><td class="n">' + fmt(v.customers_off ?? '', 0) + '</td></tr>';
  document.getElementById('tables').innerHTML = t + '</table>';
}}
document.getElementById('dmg').onsubmit = async (e) => {{
  e.preventDefault();
  const btn = document.getElementById('assess'); btn.disabled = true; document.getElementById('err').textContent = '';
  document.getElementById('busy').textContent = 'assessing ...';
  try {{
    const r = await postJSON('/api/impact', {{case: CASE, damage: damageIds(), cascade: document.getElementById('cascade').checked,
      temperature_c: +document.getElementById('temp').value, model: document.getElementById('acmodel').checked ? 'ac' : 'dc'}});
    clearAll(['board']); render(r); document.getElementById('busy').textContent = '';
  }} catch(e) {{ fail(e); }}
  btn.disabled = false;
}};
document.getElementById('boardbtn').onclick = async () => {{
  const btn = document.getElementById('boardbtn'); btn.disabled = true; document.getElementById('err').textContent = '';
  document.getElementById('busy').textContent = 'planning repairs and outages ...';
  try {{
    const st = document.getElementById('strike').value;
    const r = await postJSON('/api/board', {{case: CASE, damage: damageIds(), crews: +document.getElementById('crews').value,
      hours: +document.getElementById('hours').value, temperature_c: +document.getElementById('temp').value, strike_time: st || null}});
    const el = document.getElementById('board'); el.style.height = '900px';
    Plotly.react(el, r.figure.data, r.figure.layout); el.dataset.state = 'board';
    if(r.critical_back.length){{
      document.getElementById('critical').innerHTML = '<h3>Critical loads lost and when each is back</h3><table id="critlist"><tr><th>critical load</th><th class="n">back after</th></tr>' +
        r.critical_back.map(k => '<tr><td>' + esc(k.name) + '</td><td class="n">' + hours(k.back_after_h) + '</td></tr>').join('') + '</table>';
    }}
    document.getElementById('busy').textContent = '';
  }} catch(e) {{ fail(e); }}
  btn.disabled = false;
}};
document.getElementById('nextbtn').onclick = async () => {{
  const btn = document.getElementById('nextbtn'); btn.disabled = true; document.getElementById('err').textContent = '';
  document.getElementById('busy').textContent = 'solving every next loss with AC power flow ...';
  try {{
    const r = await postJSON('/api/next-loss', {{case: CASE, damage: damageIds(),
      elements: [...document.querySelectorAll('.nlk:checked')].map(x => x.value)}});
    const s = r.summary, pct = v => v === null ? '' : fmt(v, 1), pu = v => v === null ? '' : fmt(v, 3);
    let h = '<h3>The next loss, after this strike</h3><p class="muted">' + esc(r.describe) + '. ' + fmt(s.contingencies, 0) +
      ' contingencies solved in ' + fmt(s.time_total_s, 2) + ' s: ' + fmt(s.secure, 0) + ' secure, ' + fmt(s.thermal, 0) +
      ' overload a branch, ' + fmt(s.voltage, 0) + ' break a voltage limit, ' + fmt(s.not_converged, 0) + ' collapse (no AC solution), ' +
      fmt(s.islanding, 0) + ' cut off load (up to ' + fmt(s.islanded_mw_max, 0) + ' MW).</p>';
    if(r.worst.length){{
      h += '<table id="worst"><tr><th>next loss</th><th>outcome</th><th class="n">max loading (%)</th><th>on branch</th><th class="n">V min (p.u.)</th><th>at bus</th><th class="n">V max (p.u.)</th><th>at bus</th><th class="n">load cut off (MW)</th></tr>' +
        r.worst.map(w => '<tr data-status="' + esc(w.status) + '" data-cut="' + w.islanded_mw + '"><td>' + esc(w.contingency) + '</td><td>' + esc(w.outcome) + '</td><td class="n">' + pct(w.max_loading_pct) +
          '</td><td>' + esc(w.max_loading_branch) + '</td><td class="n">' + pu(w.vm_min_pu) + '</td><td>' + esc(w.vm_min_bus) + '</td><td class="n">' + pu(w.vm_max_pu) +
          '</td><td>' + esc(w.vm_max_bus) + '</td><td class="n">' + fmt(w.islanded_mw, 1) + '</td></tr>').join('') + '</table>';
    }} else h += '<p>Every next loss studied is secure and cuts off no load.</p>';
    document.getElementById('nextloss').innerHTML = h; document.getElementById('nextloss').dataset.state = 'done';
    document.getElementById('busy').textContent = '';
  }} catch(e) {{ fail(e); }}
  btn.disabled = false;
}};
document.getElementById('geobtn').onclick = async () => {{
  const f = document.getElementById('geo').files[0]; if(!f){{ fail(new Error('choose a GeoJSON file first')); return; }}
  const fd = new FormData(); fd.append('file', f);
  try {{ await api('/api/cases/' + encodeURIComponent(CASE) + '/geojson', {{method:'POST', body: fd}}); showIntact(); }}
  catch(e){{ fail(e); }}
}};
document.getElementById('reset').onclick = showIntact;
showIntact();
"""
    return _page(case, body, js)


def _runs_rows(runs: list[dict[str, Any]]) -> str:
    return "".join(
        f"<tr><td>{html.escape(str(r.get('run_id', '')))}</td><td>{html.escape(str(r.get('scenario_name', r.get('name', ''))))}</td>"
        f"<td>{html.escape(str(r.get('status', '')))}</td><td class='n'>{r.get('samples_done', '')}</td>"
        f"<td><a href='/runs/{html.escape(str(r.get('run_id', '')))}/report'>briefing</a></td></tr>"
        for r in runs
    )


def runs_page(runs: list[dict[str, Any]]) -> str:
    """Start a Monte Carlo run, watch its progress, browse stored runs and their reports."""
    body = f"""
<h1>Monte Carlo risk runs</h1>
<form id='runform'>
<h3><label for='scenario'>Threat scenario (YAML)</label></h3>
<textarea id='scenario' rows='12'>{html.escape(DEFAULT_SCENARIO)}</textarea>
<p><label for='samples'>samples</label><input id='samples' type='number' value='100' min='1' max='20000'>
 <label for='seed'>seed</label><input id='seed' type='number' value='1' min='0'>
 <label for='sampling'>sampling</label><select id='sampling'><option value='plain'>plain</option><option value='tail'>tail (the tail converges sooner)</option></select>
 <button type='submit' id='start'>Start run</button></p>
</form>
<p id='err' class='error' role='alert' aria-live='assertive'></p>
<div id='job' role='status' aria-live='polite'></div>
<h3>Stored runs</h3>
<table id='runs'><thead><tr><th>run</th><th>scenario</th><th>status</th><th class='n'>samples</th><th></th></tr></thead>
<tbody id='runrows'>{_runs_rows(runs)}</tbody></table>
<p id='norun' class='muted'>{'' if runs else 'No stored runs yet: start one above.'}</p>
"""
    js = """
function ci(s){ return (s && s.ci95) ? ' (95 % CI ' + fmt(s.ci95[0], 0) + '-' + fmt(s.ci95[1], 0) + ' MW)' : ''; }
async function refreshRuns(){
  const runs = await api('/api/runs');
  document.getElementById('runrows').innerHTML = runs.map(r => '<tr><td>' + esc(r.run_id) + '</td><td>' + esc(r.scenario_name ?? r.name ?? '') +
    '</td><td>' + esc(r.status ?? '') + '</td><td class="n">' + fmt(r.samples_done ?? '', 0) + '</td><td><a href="/runs/' + esc(r.run_id) + '/report">briefing</a></td></tr>').join('');
  document.getElementById('norun').textContent = runs.length ? '' : 'No stored runs yet: start one above.';
  document.getElementById('runs').dataset.count = runs.length;
}
async function poll(id){
  let j;
  try { j = await api('/api/jobs/' + id); } catch(e) { document.getElementById('err').textContent = e.message; return; }
  const el = document.getElementById('job');
  let h = '<p>job ' + esc(j.id) + ': <b id="jobstatus">' + esc(j.status) + '</b> <progress max="' + (j.total||1) + '" value="' + j.done + '"></progress> ' + fmt(j.done, 0) + ' / ' + fmt(j.total, 0) + ' samples</p>';
  if(j.status === 'failed') h += '<p class="error">' + esc(j.error) + '</p>';
  if(j.status === 'done'){ const s = j.result.lost_mw || {}, n = j.result.samples;
    h += '<p><span class="card"><b>' + fmt(s.mean, 0) + ' MW</b>expected load lost per wave<small>mean of ' + fmt(n, 0) + ' sampled waves' + ci(s) + '</small></span>' +
      '<span class="card"><b>' + fmt(s.p90, 0) + ' MW</b>load lost in 1 wave of 10 (P90)<small>' + fmt(n, 0) + ' sampled waves</small></span>' +
      '<span class="card"><b>' + fmt(s.cvar95, 0) + ' MW</b>mean of the worst 5 % (CVaR95)<small>' + fmt(n, 0) + ' sampled waves</small></span>' +
      '<span class="card"><b>' + fmt(100 * j.result.p_any_loss, 0) + ' %</b>of waves cut some load<small>' + fmt(n, 0) + ' sampled waves</small></span></p>';
    if(j.result.run_id) h += '<p><a href="/runs/' + esc(j.result.run_id) + '/report">open the morning briefing</a></p>'; }
  el.innerHTML = h;
  if(j.status === 'queued' || j.status === 'running') setTimeout(() => poll(id), 700);
  else refreshRuns().catch(e => { document.getElementById('err').textContent = e.message; });
}
document.getElementById('runform').onsubmit = async (e) => {
  e.preventDefault();
  const err = document.getElementById('err'); err.textContent = '';
  try {
    const j = await postJSON('/api/runs', {scenario: document.getElementById('scenario').value, samples: +document.getElementById('samples').value,
      seed: +document.getElementById('seed').value, sampling: document.getElementById('sampling').value});
    poll(j.id);
  } catch(e){ err.textContent = e.message; document.getElementById('job').innerHTML = ''; }
};
"""
    return _page("runs", body, js)


def schedule_page(cases: list[dict[str, str]], default_start: str) -> str:
    """Build and download a rotating outage schedule; the deficit comes from the assessed damage and
    the city's supply (editable)."""
    names = [c["name"] for c in cases if c["source"] in ("builtin", "upload")] or ["synthetic-city"]
    options = "".join(f"<option{' selected' if n == 'synthetic-city' else ''}>{html.escape(n)}</option>" for n in names)
    body = f"""
<h1>Rotating outage schedule</h1>
<form id='defform'>
<fieldset><legend>1. The deficit, from the damage</legend>
 <label for='case'>case</label><select id='case'>{options}</select>
 <label for='sites'>destroyed (asset ids, comma separated)</label><input id='sites' size='44' value='site:S330-East, site:CHP-Aurora'>
 <br><label for='supply'>supply the city can get (MW; empty = what the grid serves)</label><input id='supply' type='number' min='0' step='any' style='width:7em'>
 <label for='hours'>hours</label><input id='hours' type='number' value='24' min='1' max='168' style='width:4em'>
 <label for='step'>step</label><select id='step'><option value='1'>1 h</option><option value='0.5'>30 min</option><option value='0.25'>15 min</option></select>
 <p><button type='submit' id='deficitbtn'>Compute the deficit</button> <span id='defmsg' class='muted' role='status' aria-live='polite'></span></p>
</fieldset>
</form>
<form id='schedform'>
<fieldset><legend>2. The schedule</legend>
 <label for='start'>start (local)</label><input id='start' type='datetime-local' value='{html.escape(default_start)}'>
 <label for='tz'>time zone</label><input id='tz' value='' placeholder='Europe/Kyiv' size='14'>
 <label for='block'>block hours</label><input id='block' type='number' value='4' min='0.5' max='12' step='0.5' style='width:4em'>
 <label for='split'>sub-queues per queue</label><input id='split' type='number' value='2' min='1' max='4' style='width:3em'>
 <label for='possible'>possible outages for a deficit larger by (%)</label><input id='possible' type='number' value='10' min='0' max='100' style='width:4em'>
 <p><label for='deficit'>Deficit per step, MW (comma separated, up to 672 values; edit freely):</label><br>
 <textarea id='deficit' rows='3'></textarea></p>
 <button type='submit' id='build'>Build schedule</button>
</fieldset>
</form>
<p id='err' class='error' role='alert' aria-live='assertive'></p><p id='warn' class='warn'></p>
<div id='dl'></div><div id='tt'></div>
"""
    js = """
function link(name, text, type){ const u = URL.createObjectURL(new Blob([text], {type})); return '<a class="dl" download="' + esc(name) + '" href="' + u + '">' + esc(name) + '</a> '; }
function damage(){ return document.getElementById('sites').value.split(',').map(x => x.trim()).filter(x => x); }
function fail(e){ clearAll(['dl', 'tt', 'warn']); document.getElementById('err').textContent = e.message; }
document.getElementById('defform').onsubmit = async (e) => {
  e.preventDefault(); document.getElementById('err').textContent = '';
  const msg = document.getElementById('defmsg'); msg.textContent = 'assessing ...';
  try {
    const sup = document.getElementById('supply').value;
    const st = document.getElementById('start').value;
    const r = await postJSON('/api/deficit', {case: document.getElementById('case').value, damage: damage(), hours: +document.getElementById('hours').value,
      step_h: +document.getElementById('step').value, start: st || null, tz: document.getElementById('tz').value || null, supply_mw: sup === '' ? null : +sup});
    document.getElementById('deficit').value = r.deficit_mw.join(', ');
    if(sup === '') document.getElementById('supply').value = Math.round(r.supply_mw);
    document.getElementById('start').value = r.start;
    msg.textContent = 'demand still connected ' + fmt(r.demand_mw, 0) + ' MW at the evening peak, supply ' + fmt(r.supply_mw, 0) + ' MW (the grid serves ' + fmt(r.grid_supply_mw, 0) + ' MW): peak deficit ' + fmt(Math.max(...r.deficit_mw), 0) + ' MW.';
  } catch(e){ msg.textContent = ''; fail(e); }
};
document.getElementById('schedform').onsubmit = async (e) => {
  e.preventDefault(); document.getElementById('err').textContent = '';
  const btn = document.getElementById('build'); btn.disabled = true;
  try {
    const vals = document.getElementById('deficit').value.split(',').map(x => x.trim()).filter(x => x).map(Number);
    if(!vals.length) throw new Error('no deficit: compute it from the damage (1.) or type MW per step');
    if(vals.some(v => !isFinite(v))) throw new Error('the deficit must be numbers (MW), separated by commas');
    const r = await postJSON('/api/schedule', {case: document.getElementById('case').value, damage: damage(), deficit_mw: vals,
      step_h: +document.getElementById('step').value, block_hours: +document.getElementById('block').value, split: +document.getElementById('split').value,
      possible_frac: +document.getElementById('possible').value / 100, start: document.getElementById('start').value || null,
      tz: document.getElementById('tz').value || null});
    let d = '<p>Download (schedule from ' + esc(r.start.replace('T', ' ')) + '): ';
    for(const [name, text] of Object.entries(r.files)) d += link(name, text, name.endsWith('.ics') ? 'text/calendar' : name.endsWith('.csv') ? 'text/csv' : 'application/json');
    document.getElementById('dl').innerHTML = d + '</p>';
    document.getElementById('dl').dataset.start = r.start;
    document.getElementById('warn').textContent = r.warning || '';
    const fr = document.createElement('iframe'); fr.title = 'timetable'; fr.style.width='100%'; fr.style.height='700px'; fr.srcdoc = r.html;
    const tt = document.getElementById('tt'); tt.innerHTML=''; tt.appendChild(fr);
  } catch(e){ fail(e); }
  btn.disabled = false;
};
"""
    return _page("schedule", body, js)
__all__ = ["DEFAULT_SCENARIO", "case_page", "index_page", "runs_page", "schedule_page"]
