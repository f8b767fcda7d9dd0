// onnx_check.js - a pofa model exported to ONNX, run by ONNX Runtime on real
// inputs, against pofa's own logits for the same inputs (test/onnx.sh).
// usage: node onnx_check.js POFA POFA_LOGITS MODEL_DIR MODEL.onnx TEXTS T [--fp32]
// TEXTS: one input a line (a pair tab-separated). Prints the largest
// difference and exits 1 when it is above TOL (environment; default 1e-4,
// relative to the logit's size), or when a classifier's predicted class
// differs anywhere.
'use strict';
const fs = require('fs');
const { execFileSync } = require('child_process');
const ort = require('onnxruntime-node');

const [pofa, pofaLogits, dir, onnxPath, texts, Targ, fp32] = process.argv.slice(2);
const T = parseInt(Targ, 10);
const vocab = fs.readFileSync(dir + '/vocab.txt', 'utf8').split('\n');
const SEP = vocab.indexOf('[SEP]'), PAD = vocab.indexOf('[PAD]');
const lines = fs.readFileSync(texts, 'utf8').split('\n').filter((l) => l.length);
const pair = lines.some((l) => l.includes('\t'));
// pofa's tokenizer gives the ids; type 1 after the first [SEP]
const tok = execFileSync(pofa, ['tokenize', '--vocab', dir + '/vocab.txt', '--max-len', String(T)]
	.concat(pair ? ['--pair'] : []), { input: lines.join('\n') + '\n' }).toString().trim().split('\n');
const B = tok.length;
const ids = [], mask = [], types = [];
for (const row of tok) {
	const t = row.trim().split(/\s+/).map(Number);
	let seg = 0;
	for (let i = 0; i < T; i++) {
		const on = i < t.length;
		ids.push(on ? t[i] : PAD);
		mask.push(on ? 1 : 0);
		types.push(on ? seg : 0);
		if (on && t[i] === SEP)
			seg = 1;
	}
}
// pofa's logits
const input = [B + ' ' + T, ids.join(' '), mask.join(' '), types.join(' ')].join('\n') + '\n';
const out = execFileSync(pofaLogits, [dir].concat(fp32 ? ['--fp32'] : []), { input, maxBuffer: 1 << 28 })
	.toString().trim().split('\n');
(async () => {
	const s = await ort.InferenceSession.create(onnxPath);
	const i64 = (a) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [B, T]);
	const r = await s.run({ input_ids: i64(ids), attention_mask: i64(mask), token_type_ids: i64(types) });
	let worst = 0, n = 0;
	const cmp = (a, b) => {
		const d = Math.abs(a - b) / Math.max(1, Math.abs(b));
		if (!(d <= worst))
			worst = Number.isNaN(d) ? Infinity : d;
		n++;
	};
	if (r.start_logits) {            // span: B*T rows "start end"
		out.forEach((l, k) => {
			const [a, b] = l.trim().split(/\s+/).map(Number);
			cmp(r.start_logits.data[k], a);
			cmp(r.end_logits.data[k], b);
		});
	} else if (r.logits.dims.length === 3) {   // masked LM: "pos: V values" per real token
		const V = r.logits.dims[2];
		for (const l of out) {
			const [p, rest] = l.split(':');
			rest.trim().split(/\s+/).map(Number).forEach((v, j) => cmp(r.logits.data[Number(p) * V + j], v));
		}
	} else {                         // classification: B rows of labels, the same argmax
		const L = r.logits.dims[1];
		out.forEach((l, b) => {
			const row = l.trim().split(/\s+/).map(Number);
			row.forEach((v, j) => cmp(r.logits.data[b * L + j], v));
			const o = Array.from(r.logits.data.slice(b * L, b * L + L));
			if (o.indexOf(Math.max(...o)) !== row.indexOf(Math.max(...row)))
				worst = Infinity;   // another class predicted
		});
	}
	console.log(`${onnxPath}: ${n} logits of ${B} inputs, largest difference ${worst.toExponential(2)}`);
	const tol = parseFloat(process.env.TOL || '1e-4');
	process.exit(n > 0 && worst <= tol ? 0 : 1);
})().catch((e) => { console.error(String(e)); process.exit(1); });
