// Checks that the JS tokenizer (@huggingface/tokenizers, as the engine uses it) gives the same ids as the
// Python `tokenizers` library did for the reference fixture (ENGINE.md §2: encode without special tokens,
// + eos, cut to max length keeping eos last), and that decode gives the text back.
//   node tools/tests/check_tokenizer_js.mjs [package] [dataset] [fixture]
import { Tokenizer } from '@huggingface/tokenizers';
import fs from 'node:fs';
import path from 'node:path';

const [pkg = 'public/models/tiny-pali-test', dataset = 'e2e/fixtures/tiny-captions',
  fixturePath = 'e2e/fixtures/reference-adamw.json'] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'manifest.json'), 'utf8'));
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(path.join(pkg, manifest.tokenizer), 'utf8')), {});
const rows = fs.readFileSync(path.join(dataset, 'metadata.jsonl'), 'utf8').split('\n').filter(Boolean).map(JSON.parse);
const fixture = JSON.parse(fs.readFileSync(fixturePath, 'utf8'));
const { eos_id: eos, max_prompt_tokens: maxPrompt, max_target_tokens: maxTarget } = manifest.text;

const ids = (text, max) => [...tokenizer.encode(text, { add_special_tokens: false }).ids.slice(0, max - 1), eos];
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
let bad = 0;
rows.forEach((row, i) => {
  const ex = fixture.examples[i];
  const p = ids(row.prompt ?? manifest.text.default_prompt, maxPrompt);
  const t = ids(row.text, maxTarget);
  if (ex.file_name !== row.file_name || !same(p, ex.prompt_ids) || !same(t, ex.target_ids)) {
    bad++;
    console.log('MISMATCH', row.file_name, { js: [p, t], python: [ex.prompt_ids, ex.target_ids] });
  }
  if (tokenizer.decode(t.slice(0, -1)) !== row.text) { bad++; console.log('DECODE', row.file_name); }
});
console.log(`${rows.length} examples, ${bad} mismatches`);
process.exit(bad ? 1 : 0);
