// report.html in headless Chromium (Debian's, driven by playwright-core):
// at 1400 and 800 px wide, with every <details> open, no element reaches
// past the viewport, no table needs a scroll bar, and no chart's text
// leaves its chart (a label cut at the frame). Screenshots of both widths
// go to OUTDIR. Prints "ok ..." / "FAIL ..." lines and exits 1 on a fail.
// usage: node report_check.js REPORT.html OUTDIR
const path = require('path');
const { chromium } = require('playwright-core');

const [file, outdir] = process.argv.slice(2);

function check() {
	for (const d of document.querySelectorAll('details'))
		d.open = true;
	const vw = document.documentElement.clientWidth;
	const past = [], cut = [], scroll = [];
	const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
		(el.textContent ? ' "' + el.textContent.trim().slice(0, 40) + '"' : '');
	for (const el of document.body.querySelectorAll('*')) {
		const b = el.getBoundingClientRect();
		if (b.width === 0 && b.height === 0)
			continue;
		if (b.right > vw + 0.5 || b.left < -0.5)
			past.push(name(el) + ' spans ' + b.left.toFixed(0) + '..' + b.right.toFixed(0));
	}
	for (const w of document.querySelectorAll('.wide'))
		if (w.scrollWidth > w.clientWidth + 1)
			scroll.push(name(w.firstElementChild || w) + ': ' + w.scrollWidth + ' in ' + w.clientWidth);
	for (const t of document.querySelectorAll('svg text')) {
		const s = t.ownerSVGElement.getBoundingClientRect(), b = t.getBoundingClientRect();
		if (b.width === 0)
			continue;
		if (b.left < s.left - 0.5 || b.right > s.right + 0.5 || b.top < s.top - 0.5 || b.bottom > s.bottom + 0.5)
			cut.push('"' + t.textContent + '" in ' + (t.ownerSVGElement.id || 'a chart'));
	}
	return { vw, page: document.documentElement.scrollWidth, charts: document.querySelectorAll('svg').length,
		past, cut, scroll };
}

(async () => {
	let fails = 0;
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	for (const width of [1400, 800]) {
		const page = await browser.newPage({ viewport: { width, height: 900 } });
		await page.goto('file://' + path.resolve(file));
		const r = await page.evaluate(check);
		const report = (good, what, detail) => {
			console.log((good ? 'ok   ' : 'FAIL ') + `report.html at ${width} px: ${what}` +
				(good ? '' : ': ' + detail.slice(0, 5).join('; ') + (detail.length > 5 ? ` (${detail.length} in all)` : '')));
			fails += !good;
		};
		report(r.charts > 0, `${r.charts} charts drawn`, ['none']);
		report(r.page <= r.vw && r.past.length === 0, 'no element past the viewport',
			[`page ${r.page} px wide in ${r.vw}`].concat(r.past));
		report(r.scroll.length === 0, 'every table fits', r.scroll);
		report(r.cut.length === 0, "no chart's text cut at its edge", r.cut);
		await page.screenshot({ path: path.join(outdir, `report-${width}.png`), fullPage: true });
		await page.close();
	}
	await browser.close();
	process.exit(fails ? 1 : 0);
})().catch((e) => { console.log('FAIL report.html in Chromium: ' + e.message); process.exit(1); });
