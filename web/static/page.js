// The admin page: every text from the server is set with textContent,
// never as HTML. It polls the runs while any is active.
'use strict';

const PAGE = 50;
let runsOffset = 0;
let openRun = null;
let outputOffset = 0;
let errorsOffset = 0;
let pollTimer = null;
let runsActive = false;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function csrfToken() {
  const found = document.cookie.split('; ').find(c => c.startsWith('beam_jobs_csrf='));
  return found ? decodeURIComponent(found.split('=')[1]) : '';
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST', body: JSON.stringify(body),
    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken()},
  };
  const response = await fetch(path, init);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function say(text) { document.getElementById('message').textContent = text; }

function when(msec) {
  return msec ? new Date(msec).toISOString().replace('T', ' ').slice(0, 19) : '-';
}

function duration(run) {
  if (!run.time_started_msec) return '-';
  const end = run.time_finished_msec || Date.now();
  return ((end - run.time_started_msec) / 1000).toFixed(1) + 's';
}

// Adds a labelled input to form and returns the input; a number starts at 1.
function field(form, labelText, name, type) {
  const label = el('label', labelText);
  const input = el('input');
  input.name = name;
  if (type) input.type = type;
  if (type === 'number') input.min = '1';
  label.appendChild(input);
  form.appendChild(label);
  return input;
}

async function loadJobs() {
  const jobs = await api('/api/jobs');
  const box = document.getElementById('jobs');
  const filter = document.getElementById('filter-job');
  box.replaceChildren();
  for (const job of jobs) {
    filter.appendChild(el('option', job.name));
    const card = el('div', null, 'job');
    card.appendChild(el('h3', job.name));
    card.appendChild(el('p', job.doc));
    card.appendChild(el('p', 'Reads ' + job.kinds.join(', ') + '; shard count: ' + job.shard_count));
    const form = el('form');
    form.dataset.job = job.name;
    const inputs = {};
    for (const [name, param] of Object.entries(job.params || {})) {
      const input = field(form, name + ' (' + param.type + (param.required ? ', required' : '') + ') ', 'param-' + name);
      if (!param.required && param.default !== null) input.placeholder = String(param.default);
      inputs[name] = [input, param.type];
    }
    const json = job.params === null ? field(form, 'Parameters (JSON) ', 'params-json') : null;
    if (json) json.placeholder = '{}';
    const shards = field(form, 'Shards ', 'shard_count', 'number');
    const subset = field(form, 'At most N per kind ', 'limit', 'number');
    const dry = field(form, 'Dry run ', 'dry_run', 'checkbox');
    const start = el('button', 'Start');
    start.type = 'submit';
    start.name = 'start';
    form.appendChild(start);
    form.addEventListener('submit', async event => {
      event.preventDefault();
      const body = {job: job.name, params: {}, pipeline_args: []};
      try {
        for (const [name, [input, type]] of Object.entries(inputs)) {
          if (input.value === '') continue;
          body.params[name] = type === 'int' || type === 'float' ? Number(input.value) : input.value;
        }
        if (json && json.value.trim()) body.params = JSON.parse(json.value);
        if (shards.value) body.shard_count = Number(shards.value);
        if (subset.value) body.pipeline_args.push('--limit=' + subset.value);
        if (dry.checked) body.pipeline_args.push('--dry_run=True');
        const started = await api('/api/runs', body);
        say('Started ' + started.job_id);
        await loadRuns();
      } catch (error) {
        say('Not started: ' + error.message);
      }
    });
    card.appendChild(form);
    box.appendChild(card);
  }
}

async function loadRuns() {
  const job = document.getElementById('filter-job').value;
  const state = document.getElementById('filter-state').value;
  const query = new URLSearchParams({offset: runsOffset, limit: PAGE});
  if (job) query.set('job', job);
  if (state) query.set('state', state);
  const page = await api('/api/runs?' + query);
  const body = document.querySelector('#runs tbody');
  body.replaceChildren();
  let active = false;
  for (const run of page.runs) {
    active = active || run.state === 'queued' || run.state === 'started';
    const row = el('tr', null, 'run-row');
    row.dataset.jobId = run.job_id;
    row.appendChild(el('td', run.job_id));
    row.appendChild(el('td', run.job));
    row.appendChild(el('td', run.state + (run.dry_run ? ' (dry run)' : ''), 'state-' + run.state));
    row.appendChild(el('td', when(run.time_queued_msec)));
    row.appendChild(el('td', duration(run)));
    const progress = el('td');
    if (run.state === 'started') {
      const bar = el('progress');
      if (run.models_total) {
        bar.max = run.models_total;
        bar.value = run.models_read || 0;
      }
      progress.appendChild(bar);
      progress.appendChild(el('span', ' ' + (run.models_read || 0) + ' of ' + (run.models_total || '?') +
        ', ' + run.stage + ', ' + run.rate_per_second + '/s' +
        (run.seconds_left !== undefined ? ', ' + run.seconds_left + 's left' : '')));
    } else {
      progress.textContent = run.models_read === null ? '-' : run.models_read + ' read';
    }
    row.appendChild(progress);
    row.appendChild(el('td', run.error_count === null ? '-' : run.error_count));
    row.appendChild(el('td', Object.entries(run.counters).map(([k, v]) => k + '=' + v).join(', ')));
    row.appendChild(el('td', run.canceled_by || ''));
    row.addEventListener('click', () => showRun(run.job_id));
    body.appendChild(row);
  }
  document.getElementById('runs-older').disabled = !page.more;
  document.getElementById('runs-newer').disabled = runsOffset === 0;
  runsActive = active;
  schedulePoll();
}

// Polls once a second while a listed run or the open run is active; a
// failed poll is reported and the next one still comes.
function schedulePoll() {
  clearTimeout(pollTimer);
  if (runsActive || (openRun && openRun.active)) {
    pollTimer = setTimeout(poll, 1000);
  }
}

async function poll() {
  try {
    await loadRuns();
    if (openRun) await refreshRun();
  } catch (error) {
    say(error.message);
  } finally {
    schedulePoll();
  }
}

async function showRun(jobId) {
  openRun = {jobId: jobId, active: true};
  document.getElementById('run-section').hidden = false;
  document.getElementById('run-id').textContent = jobId;
  document.getElementById('output-search').value = '';
  await refreshRun();
  document.getElementById('run-section').scrollIntoView();
}

async function refreshRun() {
  const run = await api('/api/runs/' + encodeURIComponent(openRun.jobId));
  openRun.active = run.state === 'queued' || run.state === 'started';
  openRun.job = run.job;
  const list = document.getElementById('run-details');
  list.replaceChildren();
  const rows = [
    ['Job', run.job], ['State', run.state + (run.dry_run ? ' (dry run)' : '')],
    ['Parameters', JSON.stringify(run.params || {})],
    ['Pipeline options', (run.pipeline_args || []).join(' ') || '-'],
    ['Subset', run.subset ? JSON.stringify(run.subset) : '-'],
    ['Shard count', run.shard_count], ['Runner', run.runner],
    ['Created', when(run.time_created_msec)], ['Queued', when(run.time_queued_msec)],
    ['Started', when(run.time_started_msec)], ['Finished', when(run.time_finished_msec)],
    ['Duration', duration(run)], ['Models read', run.models_read === null ? '-' : run.models_read],
    ['Output lines', run.output_lines === null ? '-' : run.output_lines],
    ['Errors', run.error_total], ['Counters', JSON.stringify(run.counters)],
    ['Canceled by', run.canceled_by || '-'],
  ];
  if (run.stage) rows.push(['Stage', run.stage]);
  for (const [name, value] of rows) {
    list.appendChild(el('dt', name));
    list.appendChild(el('dd', value));
  }
  if (run.dataflow_console) {
    list.appendChild(el('dt', 'Dataflow'));
    const dd = el('dd');
    const link = el('a', 'Open in the Dataflow console');
    link.href = run.dataflow_console;
    link.rel = 'noopener noreferrer';
    dd.appendChild(link);
    list.appendChild(dd);
  }
  document.getElementById('run-error').textContent = run.error;
  document.getElementById('run-traceback').textContent = run.error_traceback;
  document.getElementById('run-traceback-box').hidden = !run.error_traceback;
  document.getElementById('run-cancel').disabled = !openRun.active;
  document.getElementById('output-download').href =
    '/api/runs/' + encodeURIComponent(openRun.jobId) + '/output.txt';
  errorsOffset = 0;
  outputOffset = 0;
  document.querySelector('#run-errors tbody').replaceChildren();
  document.getElementById('run-output').replaceChildren();
  await loadErrors();
  await loadOutput();
}

async function loadErrors() {
  const page = await api('/api/runs/' + encodeURIComponent(openRun.jobId) +
    '/errors?' + new URLSearchParams({offset: errorsOffset, limit: PAGE}));
  const body = document.querySelector('#run-errors tbody');
  for (const error of page.errors) {
    const row = el('tr');
    row.appendChild(el('td', error.stage));
    row.appendChild(el('td', error.kind));
    row.appendChild(el('td', error.entity));
    row.appendChild(el('td', error.error_type + ': ' + error.message));
    body.appendChild(row);
  }
  errorsOffset += page.errors.length;
  document.getElementById('errors-more').hidden = !page.more;
}

async function loadOutput() {
  const query = new URLSearchParams({offset: outputOffset, limit: PAGE});
  const search = document.getElementById('output-search').value;
  if (search) query.set('q', search);
  const page = await api('/api/runs/' + encodeURIComponent(openRun.jobId) + '/output?' + query);
  const list = document.getElementById('run-output');
  for (const line of page.lines) list.appendChild(el('li', line));
  outputOffset += page.lines.length;
  document.getElementById('output-more').hidden = !page.more;
}

async function cancelOpenRun() {
  if (!openRun || !window.confirm('Cancel run ' + openRun.jobId + '?')) return;
  try {
    await api('/api/runs/' + encodeURIComponent(openRun.jobId) + '/cancel', {});
    say('Canceled ' + openRun.jobId);
    await refreshRun();
    await loadRuns();
  } catch (error) { say('Not canceled: ' + error.message); }
}

async function cancelAllOfJob() {
  if (!openRun || !window.confirm('Cancel every unfinished run of ' + openRun.job + '?')) return;
  try {
    const done = await api('/api/jobs/' + encodeURIComponent(openRun.job) + '/cancel_all', {});
    say('Canceled ' + done.canceled.length + ' runs');
    await loadRuns();
  } catch (error) { say('Not canceled: ' + error.message); }
}

document.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('filter-job').addEventListener('change', () => { runsOffset = 0; loadRuns(); });
  document.getElementById('filter-state').addEventListener('change', () => { runsOffset = 0; loadRuns(); });
  document.getElementById('runs-older').addEventListener('click', () => { runsOffset += PAGE; loadRuns(); });
  document.getElementById('runs-newer').addEventListener('click', () => { runsOffset = Math.max(0, runsOffset - PAGE); loadRuns(); });
  document.getElementById('run-cancel').addEventListener('click', cancelOpenRun);
  document.getElementById('run-cancel-all').addEventListener('click', cancelAllOfJob);
  document.getElementById('run-close').addEventListener('click', () => {
    openRun = null;
    document.getElementById('run-section').hidden = true;
  });
  document.getElementById('errors-more').addEventListener('click', loadErrors);
  document.getElementById('output-more').addEventListener('click', loadOutput);
  let searchTimer = null;
  document.getElementById('output-search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      outputOffset = 0;
      document.getElementById('run-output').replaceChildren();
      loadOutput();
    }, 300);
  });
  try {
    await loadJobs();
    await loadRuns();
  } catch (error) { say(error.message); }
});
