// murmur's page, made quicker with a little script. Every feature here has a
// plain HTML fallback that the server renders; this file only enhances it.
(function () {
  'use strict';

  const parse = (html) => new DOMParser().parseFromString(html, 'text/html');

  // Search as you type: wait for a pause, cancel the search still running,
  // and keep the address bar on a URL that gives the same page.
  const form = document.getElementById('search');
  if (form) {
    const box = form.querySelector('#q');
    let timer = 0;
    let running = null;
    const pageURL = (q, sort) => (q.trim() ? '/?' + new URLSearchParams({ q, sort }) : '/');
    const sortValue = () => (form.querySelector('input[name=sort]:checked') || {}).value || 'top';

    async function search(push) {
      clearTimeout(timer);
      const q = box.value;
      const sort = sortValue();
      if (running) running.abort();
      const results = document.getElementById('results');
      const url = pageURL(q, sort);
      if (!q.trim()) {
        results.replaceChildren();
        history.replaceState(null, '', url);
        return;
      }
      const mine = new AbortController();
      running = mine;
      results.setAttribute('aria-busy', 'true');
      try {
        const resp = await fetch(url + '&fragment=1', { signal: mine.signal });
        const fresh = parse(await resp.text()).getElementById('results');
        if (mine.signal.aborted || !fresh) return;
        document.getElementById('results').replaceWith(fresh);
        followResults();
        // Tell screen readers what came back, once per search.
        const status = document.getElementById('search-status');
        const summary = fresh.querySelector('.summary, .error');
        if (status && summary) status.textContent = summary.textContent.replace(/\s+/g, ' ').trim();
        (push ? history.pushState : history.replaceState).call(history, null, '', url);
        document.title = q + ' · murmur';
        // Results take the room of an untouched composer.
        const compose = document.querySelector('details.compose');
        if (compose && !compose.querySelector('textarea').value) compose.open = false;
      } catch (err) {
        if (err.name !== 'AbortError') {
          results.textContent = 'The node did not answer: ' + err.message;
        }
      } finally {
        if (running === mine) {
          running = null;
          const r = document.getElementById('results');
          if (r) r.removeAttribute('aria-busy');
        }
      }
    }

    box.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => search(false), 250);
    });
    form.addEventListener('change', (e) => {
      if (e.target.name === 'sort') search(false);
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      search(true);
    });
    window.addEventListener('popstate', () => {
      const p = new URLSearchParams(location.search);
      box.value = p.get('q') || '';
      const r = form.querySelector('input[name=sort][value=' + (p.get('sort') === 'latest' ? 'latest' : 'top') + ']');
      if (r) r.checked = true;
      search(false);
    });
  }

  // Live results: the matches written after the search arrive over
  // Server-Sent Events and wait behind a "N new posts" notice at the top;
  // pressing it puts them at the top of the list.
  let live = null;
  function followResults() {
    if (live) {
      live.close();
      live = null;
    }
    const results = document.getElementById('results');
    const url = results && results.dataset.live;
    if (!url || !window.EventSource) return;
    const pending = [];
    const row = document.createElement('p');
    row.className = 'new-posts-row';
    row.setAttribute('role', 'status');
    const notice = document.createElement('button');
    notice.type = 'button';
    notice.className = 'new-posts-notice';
    notice.hidden = true;
    row.append(notice);
    const list = results.querySelector('#hits');
    if (!list) return;
    list.before(row);
    const known = (id) => document.getElementById(id) || pending.some((li) => li.querySelector('#' + CSS.escape(id)));
    const source = new EventSource(url);
    live = source;
    source.addEventListener('post', (e) => {
      const item = parse(e.data).querySelector('li');
      const article = item && item.querySelector('article');
      if (!article || known(article.id)) return;
      pending.unshift(item); // newest first
      notice.textContent = pending.length === 1 ? '1 new post — show' : pending.length + ' new posts — show';
      notice.hidden = false;
    });
    // A query that cannot be followed is refused once; the browser then
    // stops trying. A dropped stream is resumed by the browser itself.
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED && live === source) live = null;
    };
    notice.addEventListener('click', () => {
      const l = document.getElementById('hits');
      for (const t of pending) {
        for (const el of t.querySelectorAll('time[datetime]')) {
          const d = new Date(el.getAttribute('datetime'));
          if (!isNaN(d)) el.title = d.toLocaleString();
        }
      }
      l.prepend(...pending);
      pending.length = 0;
      notice.hidden = true;
      const first = l.querySelector('li article');
      if (first) {
        first.tabIndex = -1;
        first.focus();
      }
    });
  }
  followResults();

  // "More results" in place: append the next page under the current one.
  document.addEventListener('click', async (e) => {
    const more = e.target.closest && e.target.closest('a#more');
    if (!more || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    more.setAttribute('aria-disabled', 'true');
    more.textContent = 'Loading…';
    try {
      const resp = await fetch(more.href + '&fragment=1');
      const doc = parse(await resp.text());
      const items = doc.querySelectorAll('#hits > li');
      const list = document.getElementById('hits');
      const first = items[0];
      list.append(...items);
      const next = doc.getElementById('more');
      const row = more.closest('.more-row');
      if (next) row.replaceWith(next.closest('.more-row'));
      else row.remove();
      const article = first && first.querySelector('article');
      if (article) {
        article.tabIndex = -1;
        article.focus();
      }
    } catch (err) {
      more.textContent = 'More results (failed: ' + err.message + '; try again)';
      more.removeAttribute('aria-disabled');
    }
  });

  // The composer: a live count against the limit, and posting without
  // leaving the page. The count is in code points, as the node counts.
  for (const f of document.querySelectorAll('form.composer')) {
    const text = f.querySelector('textarea');
    const count = f.querySelector('.count');
    const error = f.querySelector('.error');
    const list = f.parentElement.querySelector('.new-posts');
    const max = Number(text.dataset.max);
    const update = () => {
      const n = Array.from(text.value.replace(/\r\n/g, '\n')).length;
      count.textContent = n + ' / ' + max + (n > max ? ' — ' + (n - max) + ' too many' : '');
      count.classList.toggle('over', n > max);
    };
    text.addEventListener('input', update);
    update();
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      const button = f.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        const resp = await fetch(f.action, {
          method: 'POST',
          body: new URLSearchParams(new FormData(f)),
          headers: { 'X-Murmur-Fragment': '1' },
        });
        const body = await resp.text();
        if (!resp.ok) {
          error.textContent = body;
          text.setAttribute('aria-invalid', 'true');
          text.focus();
          return;
        }
        const item = parse(body).querySelector('li');
        if (item) list.prepend(item);
        error.textContent = '';
        text.removeAttribute('aria-invalid');
        text.value = '';
        update();
        text.focus();
      } catch (err) {
        error.textContent = 'The node did not answer: ' + err.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  // Copy buttons next to the node's peer ID and addresses.
  for (const b of document.querySelectorAll('button.copy')) {
    if (!navigator.clipboard) continue;
    b.hidden = false;
    b.addEventListener('click', async () => {
      const el = document.getElementById(b.dataset.copy);
      try {
        await navigator.clipboard.writeText(el.textContent.trim());
        b.textContent = 'Copied';
      } catch (err) {
        window.getSelection().selectAllChildren(el);
        b.textContent = 'Selected: press Ctrl+C';
      }
      setTimeout(() => { b.textContent = 'Copy'; }, 2000);
    });
  }

  // The node page's charts refresh while the page is open and in view.
  const activity = document.getElementById('activity');
  if (activity) {
    setInterval(async () => {
      if (document.hidden) return;
      try {
        const resp = await fetch('/node?fragment=activity');
        const fresh = parse(await resp.text()).getElementById('activity');
        if (fresh) document.getElementById('activity').replaceWith(fresh);
      } catch (err) { /* the next tick tries again */ }
    }, 5000);
  }

  // Times in the reader's own zone, as a tooltip.
  for (const t of document.querySelectorAll('time[datetime]')) {
    const d = new Date(t.getAttribute('datetime'));
    if (!isNaN(d)) t.title = d.toLocaleString();
  }
})();
