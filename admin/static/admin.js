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
