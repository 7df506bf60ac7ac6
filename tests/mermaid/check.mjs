// Parse and render Mermaid diagrams with Mermaid itself, in jsdom.
// stdin: a JSON list of diagram texts. stdout: a JSON list, one entry each:
// {ok, type, error, bars}: `bars` counts the rects of each bar series of the
// rendered SVG (`[[8, 8]]` is two series of 8 bars), or null if it did not render.
// Used by tests/render/test_chart.py; install with `npm ci --prefix tests/mermaid`.
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>', { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
// jsdom has no layout: text is measured as 7px a character, enough to lay the chart out.
const box = (el) => ({ x: 0, y: 0, width: (el.textContent || '').length * 7, height: 14 });
dom.window.SVGElement.prototype.getBBox = function () { return box(this); };
dom.window.SVGElement.prototype.getComputedTextLength = function () { return box(this).width; };
globalThis.CSSStyleSheet ??= class { cssRules = []; insertRule() { return 0; } replaceSync() {} };

const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });

const texts = JSON.parse(readFileSync(0, 'utf8'));
const out = [];
for (const [i, text] of texts.entries()) {
  const entry = { ok: false, type: null, error: null, bars: null };
  try {
    entry.type = (await mermaid.parse(text)).diagramType;
    entry.ok = true;
    const { svg } = await mermaid.render(`chart${i}`, text);
    const doc = new dom.window.DOMParser().parseFromString(svg, 'image/svg+xml');
    const groups = [...doc.querySelectorAll('g')].filter((g) => /^bar-plot-\d+$/.test(g.getAttribute('class') || ''));
    entry.bars = groups.map((g) => g.querySelectorAll('rect').length);
  } catch (e) {
    entry.error = String((e && e.message) || e);
  }
  out.push(entry);
}
process.stdout.write(JSON.stringify(out));
