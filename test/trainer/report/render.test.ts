import { describe, expect, it } from 'vitest';
import { sampleReport } from '../../fixtures/report.js';
import { PLOTS, renderReport } from '../../../trainer/report/render.js';

describe('round report', () => {
  it('renders every plot as inline SVG with marks, and the gate reasons', async () => {
    const html = await renderReport(sampleReport());
    for (const id of PLOTS) {
      const fig = html.match(new RegExp(`<figure id="plot-${id}"[^>]*>([\\s\\S]*?)</figure>`));
      expect(fig, id).not.toBeNull();
      expect(fig![1]!).toMatch(/^<svg /);
      // Marks are paths or symbols; an empty plot has only axes and a title.
      expect((fig![1]!.match(/<path /g) ?? []).length, id).toBeGreaterThan(2);
    }
    expect(html).toContain('overall +4.0 pts &gt;= margin 1.0');
    expect(html).toContain('grounded (guarded)');
    expect(html).toContain('+4.0 pts');
  });

  it('fetches nothing when viewed', async () => {
    const html = await renderReport(sampleReport());
    const refs = [...html.matchAll(/(?:src|href)\s*=\s*["']([^"']+)/g)].map((m) => m[1]);
    expect(refs).toEqual([]);
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]).filter((u) => !u.startsWith('http://www.w3.org/'));
    expect(urls).toEqual([]);
    expect(html).toContain("default-src 'none'");
  });

  it('escapes text from the round', async () => {
    const d = sampleReport();
    d.gate = { passed: false, reasons: ['<script>alert(1)</script>'] };
    const html = await renderReport(d);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;');
  });
});
