/**
 * The scripts the web app benchmark (scenarios/web.ts) runs inside the page. They are strings: tsx would otherwise
 * compile functions passed to page.evaluate with helpers (__name) that exist only in Node.
 */

/** The newest message "on screen": laid out, not hidden, and inside the timeline's scroller. */
const SHOWN = `(el) => {
  const list = document.querySelector('.timeline-list');
  if (!el || !list || !el.checkVisibility({ visibilityProperty: true, opacityProperty: true })) return false;
  const r = el.getBoundingClientRect(), v = list.getBoundingClientRect();
  return r.height > 0 && r.bottom > v.top && r.top < v.bottom;
}`;

/**
 * Arms the timer: it starts at the next click (capture phase) and stops at the first frame showing `selector`. Beside
 * it, where that time went: the requests made after the click (Resource Timing) and the main thread's long tasks.
 */
export const armOpen = (selector: string, timeoutMs: number) => `(() => {
  const shown = ${SHOWN};
  const longTasks = [];
  new PerformanceObserver((l) => longTasks.push(...l.getEntries())).observe({ type: 'longtask' });
  performance.clearResourceTimings();
  window.__benchOpen = new Promise((resolve) => {
    document.addEventListener('click', () => {
      const t0 = performance.now();
      let listAt = null, articleAt = null, articleShown = null, renderedAt = null;
      const tick = () => {
        const ms = performance.now() - t0;
        if (listAt === null && document.querySelector('.timeline-list')) listAt = Math.round(ms);
        const first = articleAt === null && document.querySelector(${JSON.stringify(selector)});
        if (first) [articleAt, articleShown] = [Math.round(ms), shown(first)];
        const el = renderedAt === null && document.querySelector(${JSON.stringify(selector)});
        if (el && el.checkVisibility({ visibilityProperty: true, opacityProperty: true })) renderedAt = ms;
        if (shown(document.querySelector(${JSON.stringify(selector)})) || ms > ${timeoutMs}) {
          const rel = (v) => Math.round(v - t0);
          resolve({
            ms: ms > ${timeoutMs} ? -1 : ms,
            listAt,
            articleAt,
            articleShown,
            renderedAt,
            requests: performance.getEntriesByType('resource').filter((e) => e.startTime >= t0 && e.startTime <= t0 + ms)
              .map((e) => ({ url: e.name.replace(location.origin, ''), start: rel(e.startTime), end: rel(e.responseEnd) })),
            longTasks: longTasks.filter((e) => e.startTime + e.duration >= t0 && e.startTime <= t0 + ms)
              .map((e) => ({ start: rel(e.startTime), ms: Math.round(e.duration) })),
          });
        } else requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    }, { capture: true, once: true });
  });
})()`;

/** For a failure's message: where the newest message's article is, and the list around it. */
export const whyHidden = (selector: string) => `(() => {
  const el = document.querySelector(${JSON.stringify(selector)}), list = document.querySelector('.timeline-list');
  const box = (e) => { const r = e.getBoundingClientRect(); return Math.round(r.top) + '..' + Math.round(r.bottom); };
  if (!el) return 'no article for it in the DOM';
  if (!list) return 'no .timeline-list';
  const r = el.getBoundingClientRect(), v = list.getBoundingClientRect();
  const where = r.top >= v.bottom ? Math.round(r.top - v.bottom) + ' px below the bottom edge of the scroller'
    : r.bottom <= v.top ? Math.round(v.top - r.bottom) + ' px above its top edge' : 'inside the scroller';
  const end = Math.round(list.scrollHeight - list.clientHeight - list.scrollTop);
  return 'its article at y ' + box(el) + ', ' + where + ' (y ' + box(list) + ', ' +
    (end > 1 ? 'scrolled ' + end + ' px short of its end)' : 'scrolled to its end)') +
    (el.checkVisibility({ visibilityProperty: true, opacityProperty: true }) ? '' : ', hidden');
})()`;

export interface OpenTrace {
  ms: number;
  /** First frame with the timeline's list, and with the newest message's article in the DOM (shown or not yet). */
  listAt: number | null;
  articleAt: number | null;
  articleShown: boolean | null;
  /** First frame in which that article was laid out and not hidden, wherever it was (also below the scroller's fold). */
  renderedAt: number | null;
  /** Relative to the click, in ms. */
  requests: Array<{ url: string; start: number; end: number }>;
  longTasks: Array<{ start: number; ms: number }>;
}

/**
 * Scrolls the timeline to its top every frame (older pages load when the top is reached) until an article with
 * seq ≤ target is in the DOM, sampling the article elements and the timeline's element count at every frame.
 */
export const scrollBack = (target: number, timeoutMs: number) => `(async () => {
  const list = document.querySelector('.timeline-list');
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  performance.clearResourceTimings();
  const t0 = performance.now();
  let maxArticles = 0, maxTimelineNodes = 0, samples = 0, lowestSeq = null, reached = false;
  for (;;) {
    const articles = document.querySelectorAll('article');
    maxArticles = Math.max(maxArticles, articles.length);
    maxTimelineNodes = Math.max(maxTimelineNodes, list.getElementsByTagName('*').length);
    samples++;
    for (const a of articles) {
      const seq = Number(a.dataset.seq);
      if (Number.isFinite(seq) && (lowestSeq === null || seq < lowestSeq)) lowestSeq = seq;
    }
    if (lowestSeq !== null && lowestSeq <= ${target}) { reached = true; break; }
    if (performance.now() - t0 > ${timeoutMs}) break;
    list.scrollTop = 0;
    await frame();
  }
  const ms = performance.now() - t0;
  const pages = performance.getEntriesByType('resource').filter((e) => e.name.includes('/messages?before='));
  const inFlight = pages.reduce((a, e) => a + (e.responseEnd - e.startTime), 0);
  return { ms, reached, maxArticles, maxTimelineNodes, samples, lowestSeq, pages: pages.length, fetchMs: inFlight };
})()`;

export const restPage = (url: string, token: string, n: number) => `(async () => {
  const out = [];
  for (let i = 0; i < ${n}; i++) {
    const t0 = performance.now();
    const res = await fetch(${JSON.stringify(url)}, { headers: { authorization: ${JSON.stringify(`Bearer ${token}`)} } });
    await res.json();
    if (!res.ok) throw new Error('GET latest page: ' + res.status);
    out.push(performance.now() - t0);
  }
  return out;
})()`;
