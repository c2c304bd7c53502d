// The page of `splade serve`: searches through GET /search, lists the results with their scores,
// and draws the query's terms, and a chosen result's terms and explanation, as bar charts. Plain
// browser JavaScript, no build step, no libraries.

const $ = (sel) => document.querySelector(sel);
const form = $('#search-form');
const status = $('#status');
let currentQuery = '';

async function getJson(url) {
  const res = await fetch(url);
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`);
  return body;
}

function setStatus(text, isError = false) {
  status.textContent = text;
  status.classList.toggle('error', isError);
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** One bar a term: token, weight as a bar scaled to the chart's largest, and whether the text holds it. */
function drawChart(container, terms) {
  container.replaceChildren();
  const max = Math.max(...terms.map((t) => t.weight), 1e-9);
  for (const t of terms) {
    const row = el('div', 'bar-row');
    const kind = t.inText === null ? 'unknown' : t.inText ? 'in-text' : 'expansion';
    row.dataset.token = t.token ?? `#${t.term}`;
    row.dataset.weight = String(t.weight);
    row.dataset.inText = String(t.inText);
    row.title = `${row.dataset.token}: ${t.weight.toFixed(4)} (${kind === 'unknown' ? 'no text' : kind === 'in-text' ? 'in the text' : 'expansion term'})`;
    const track = el('div', 'bar-track');
    const bar = el('div', `bar ${kind}`);
    bar.style.width = `${(100 * t.weight) / max}%`;
    track.append(bar);
    row.append(el('span', 'bar-token', row.dataset.token), track, el('span', 'bar-weight', t.weight.toFixed(3)));
    container.append(row);
  }
  if (terms.length === 0) container.append(el('p', 'legend', 'no terms'));
}

async function showDocument(id, li) {
  for (const other of document.querySelectorAll('#results li.selected')) other.classList.remove('selected');
  li.classList.add('selected');
  $('#doc-title').textContent = `Document ${id}: terms`;
  try {
    const [doc, why] = await Promise.all([
      getJson(`/doc/${encodeURIComponent(id)}?terms=40`),
      getJson(`/explain?q=${encodeURIComponent(currentQuery)}&id=${encodeURIComponent(id)}`),
    ]);
    $('#doc-text').textContent = doc.text ?? '';
    drawChart($('#doc-chart'), doc.terms);
    const body = $('#explain tbody');
    body.replaceChildren();
    for (const t of why.terms) {
      const tr = el('tr');
      tr.append(el('td', '', t.token ?? `#${t.term}`), el('td', 'num', t.queryWeight.toFixed(3)),
        el('td', 'num', t.indexWeight.toFixed(3)), el('td', 'num', t.contribution.toFixed(3)));
      body.append(tr);
    }
    const total = el('tr');
    total.append(el('td', '', 'score'), el('td'), el('td'), el('td', 'num', why.score.toFixed(3)));
    body.append(total);
  } catch (err) {
    setStatus(`document ${id}: ${err.message}`, true);
  }
}

async function search(event) {
  event.preventDefault();
  const q = $('#q').value.trim();
  if (!q) return setStatus('type a query', true);
  currentQuery = q;
  setStatus('searching…');
  try {
    const r = await getJson(`/search?q=${encodeURIComponent(q)}&k=${encodeURIComponent($('#k').value || '10')}&terms=40`);
    const list = $('#results');
    list.replaceChildren();
    for (const hit of r.results) {
      const li = el('li');
      li.dataset.id = hit.id;
      li.dataset.score = String(hit.score);
      const head = el('div', 'result-head');
      head.append(el('span', 'result-id', hit.id), el('span', 'result-score', hit.score.toFixed(3)));
      li.append(head);
      if (hit.text) li.append(el('p', 'result-text', hit.text));
      li.addEventListener('click', () => showDocument(hit.id, li));
      list.append(li);
    }
    drawChart($('#query-chart'), r.query.terms);
    setStatus(`${r.results.length} results in ${r.tookMs.toFixed(1)} ms`);
  } catch (err) {
    setStatus(err.message, true);
  }
}

form.addEventListener('submit', search);
