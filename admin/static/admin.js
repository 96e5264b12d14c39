// The admin's script: only improvements over the server-rendered forms (which work without it).
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  // Times in the reader's own zone too, beside the site's.
  for (const el of document.querySelectorAll('time.local-time[datetime]')) {
    const d = new Date(el.getAttribute('datetime'));
    if (isNaN(d)) continue;
    const mine = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    const note = document.createElement('span');
    note.className = 'muted browser-time';
    note.textContent = ' (your time: ' + mine + ')';
    el.after(note);
  }
});

// The editor: autosave to the server (a separate record, never the saved story), a copy in this
// browser's localStorage as a backstop, the lock's heartbeat, and a guard against leaving with
// unsaved changes.
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('entry-form');
  if (!form) return;
  const csrf = form.querySelector('input[name=csrf]').value;
  const status = document.getElementById('autosave-status');
  const storeKey = 'quire-autosave:' + form.dataset.key;
  const AUTOSAVE_MS = 3000, HEARTBEAT_MS = 20000;
  let dirty = false, submitting = false, timer = null, lastSent = null;

  const snapshot = () => new URLSearchParams(new FormData(form)).toString();
  const initial = snapshot();

  function say(text) { if (status) status.textContent = text; }

  async function autosave() {
    timer = null;
    const body = snapshot();
    if (body === lastSent) return;
    try {
      const r = await fetch(form.dataset.autosave, {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': csrf },
        body,
      });
      const answer = await r.json();
      if (r.ok) {
        lastSent = body;
        say('Autosaved at ' + answer.human + ' (not yet saved to the story)');
      } else {
        say('Autosave failed: ' + (answer.error || r.status) + '. A copy is kept in this browser.');
      }
    } catch (e) {
      say('Autosave failed (offline?). A copy is kept in this browser.');
    }
  }

  form.addEventListener('input', () => {
    dirty = snapshot() !== initial;
    try { localStorage.setItem(storeKey, JSON.stringify({ at: Date.now(), base: initial, data: snapshot() })); } catch (e) { /* full or private mode */ }
    if (timer) clearTimeout(timer);
    timer = setTimeout(autosave, AUTOSAVE_MS);
  });
  form.addEventListener('submit', () => { submitting = true; });
  window.addEventListener('beforeunload', (ev) => {
    if (dirty && !submitting) { ev.preventDefault(); ev.returnValue = ''; }
  });

  // The backstop: a copy in this browser that differs from what the page shows, made from the
  // same starting point, is offered back (the server's autosave may not have been reached).
  try {
    const kept = JSON.parse(localStorage.getItem(storeKey) || 'null');
    if (kept && kept.data !== initial && kept.base === initial) {
      const box = document.createElement('div');
      box.className = 'flash flash-warn';
      box.setAttribute('role', 'status');
      box.textContent = 'This browser kept unsaved changes from ' + new Date(kept.at).toLocaleString() + '. ';
      const restore = document.createElement('button');
      restore.type = 'button';
      restore.className = 'secondary';
      restore.textContent = 'Restore them';
      restore.addEventListener('click', () => {
        const data = new URLSearchParams(kept.data);
        for (const el of form.elements) {
          if (!el.name || el.name === 'csrf' || el.type === 'hidden') continue;
          if (el.type === 'checkbox') el.checked = data.get(el.name) === el.value;
          else if (data.has(el.name)) el.value = data.get(el.name);
        }
        dirty = true;
        box.remove();
        form.dispatchEvent(new Event('input'));
      });
      box.append(restore);
      form.before(box);
    } else if (kept && kept.data === initial) {
      localStorage.removeItem(storeKey);
    }
  } catch (e) { /* unreadable copy: ignore */ }
  // A successful save lands on a page with ?ok=: the copy is no longer needed.
  if (new URLSearchParams(location.search).has('ok')) { try { localStorage.removeItem(storeKey); } catch (e) { /* */ } }

  // The soft lock's heartbeat: keeps it, or says who took it over.
  if (form.dataset.lock) {
    const lost = document.getElementById('lock-lost');
    const lostText = document.getElementById('lock-lost-text');
    const beat = async () => {
      try {
        const r = await fetch(form.dataset.lock, { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf } });
        const answer = await r.json();
        if (answer.held === false && lost && !document.getElementById('lock-banner')) {
          lostText.textContent = answer.by + ' took over editing this story at ' + answer.since + '. Saving now will be checked against their changes.';
          lost.hidden = false;
        }
      } catch (e) { /* next beat */ }
    };
    setInterval(beat, HEARTBEAT_MS);
    // Taking the story back keeps this page and its unsaved text: the takeover answers JSON here.
    const takeBack = document.getElementById('lock-take-back');
    if (takeBack) {
      takeBack.addEventListener('click', async () => {
        try {
          const r = await fetch(form.dataset.lock.replace(/\/lock$/, '/takeover'), { method: 'POST', credentials: 'same-origin',
            headers: { 'X-CSRF-Token': csrf, Accept: 'application/json' } });
          if (r.ok && (await r.json()).held) lost.hidden = true;
        } catch (e) { /* the notice stays; the next beat tells again */ }
      });
    }
  }
});

// The editor's image fields: upload a new image without leaving the story (the Admin API's upload
// route, with the page's CSRF token); it joins the list, chosen, with its preview. Without
// JavaScript the media library's link does the same in another tab.
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('entry-form');
  if (!form) return;
  const csrf = form.querySelector('input[name=csrf]').value;
  for (const box of form.querySelectorAll('.media-library-link[data-upload]')) {
    const select = document.getElementById(box.dataset.for);
    if (!select) continue;
    const wrap = document.createElement('div');
    wrap.className = 'media-upload-inline';
    const input = document.createElement('input');
    input.type = 'file';
    input.accept = 'image/jpeg,image/png,image/webp';
    input.id = box.dataset.for + '-upload';
    const label = document.createElement('label');
    label.htmlFor = input.id;
    label.textContent = 'Upload a new image';
    const status = document.createElement('span');
    status.className = 'muted';
    status.setAttribute('role', 'status');
    wrap.append(label, input, status);
    box.before(wrap);
    input.addEventListener('change', async () => {
      const file = input.files[0];
      if (!file) return;
      const body = new FormData();
      body.append('file', file, file.name);
      status.textContent = 'Uploading ' + file.name + '…';
      try {
        const r = await fetch(box.dataset.upload, { method: 'POST', credentials: 'same-origin',
          headers: { 'X-CSRF-Token': csrf, Accept: 'application/json' }, body });
        const answer = await r.json();
        const m = answer.media && answer.media[0];
        if (!r.ok || !m) {
          const why = (answer.errors && answer.errors[0] && answer.errors[0].message) || (answer.error && answer.error.message) || ('error ' + r.status);
          status.textContent = 'Not uploaded: ' + why;
          return;
        }
        let option = [...select.options].find((o) => o.value === String(m.id));
        if (!option) {
          option = new Option('#' + m.id + ' ' + (m.title || m.alt || ''), String(m.id));
          select.add(option, 1);
        }
        select.value = String(m.id);
        const field = select.closest('.form-field');
        let preview = field.querySelector('.hero-preview');
        if (!preview) {
          preview = document.createElement('div');
          preview.className = 'hero-preview';
          preview.append(document.createElement('img'));
          field.append(preview);
        }
        const img = preview.querySelector('img');
        img.src = (m.variants[0] && m.variants[0].webp) || m.url;
        img.alt = m.alt || '';
        img.width = 240;
        status.textContent = 'Uploaded and chosen: #' + m.id + (m.alt ? '' : '. Describe it (alt text) before publishing.');
        input.value = '';
        form.dispatchEvent(new Event('input'));
      } catch (e) {
        status.textContent = 'Not uploaded: the server could not be reached.';
      }
    });
  }
});
