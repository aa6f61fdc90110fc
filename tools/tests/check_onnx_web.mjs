// Runs a package's vision.onnx and vjp.onnx in onnxruntime-web on the test vector written by the exporter
// (e2e/fixtures/tiny-pali-test-onnx-case.json, outputs from onnxruntime CPU in Python) and prints the errors.
//   node tools/tests/check_onnx_web.mjs wasm
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node tools/tests/check_onnx_web.mjs webgpu
// (webgpu: Dawn through the `webgpu` package; SwiftShader compiles slowly, about 2 minutes.) Add --verbose
// to see which nodes onnxruntime places on the CPU. When the package has the generation graphs (ENGINE.md §7)
// and e2e/fixtures/<package>-generation-case.json exists, encoder, decoder_init and decoder_step run too.
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const verbose = args.includes('--verbose');
const [ep = 'wasm', pkg = 'public/models/tiny-pali-test', casePath = 'e2e/fixtures/tiny-pali-test-onnx-case.json'] =
  args.filter((a) => a !== '--verbose');
let ort;
if (ep === 'webgpu') {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  globalThis.navigator = { gpu: create([]) };
  // Dawn's bindings reject views of a SharedArrayBuffer (which ORT's wasm heap is): copy them.
  const writeBuffer = GPUQueue.prototype.writeBuffer;
  GPUQueue.prototype.writeBuffer = function (buffer, offset, data, dataOffset, size) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const bpe = data.BYTES_PER_ELEMENT || 1;
      const copy = new Uint8Array(data.byteLength);
      copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      return writeBuffer.call(this, buffer, offset, copy, (dataOffset ?? 0) * bpe, size === undefined ? undefined : size * bpe);
    }
    return writeBuffer.call(this, buffer, offset, data, dataOffset, size);
  };
  ort = await import('onnxruntime-web/webgpu');
} else {
  ort = await import('onnxruntime-web');
}
ort.env.wasm.numThreads = 1;
ort.env.logLevel = verbose ? 'verbose' : 'warning';
const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'manifest.json'), 'utf8'));
const testCase = JSON.parse(fs.readFileSync(casePath, 'utf8'));
const toTensor = ({ dtype, dims, data }) => {
  if (dtype === 'int64') return new ort.Tensor('int64', BigInt64Array.from(data.map(BigInt)), dims);
  if (dtype === 'int32') return new ort.Tensor('int32', Int32Array.from(data), dims);
  return new ort.Tensor('float32', Float32Array.from(data), dims);
};

const genCasePath = casePath.replace(/onnx-case\.json$/, 'generation-case.json');
if (manifest.files.encoder && genCasePath !== casePath && fs.existsSync(genCasePath)) {
  Object.assign(testCase, JSON.parse(fs.readFileSync(genCasePath, 'utf8')));
}
const graphs = ['vision', 'vjp', 'encoder', 'decoder_init', 'decoder_step'].filter((g) => testCase[g] && manifest.files[g]);

let worst = 0;
for (const graph of graphs) {
  const file = manifest.files[graph];
  const session = await ort.InferenceSession.create(fs.readFileSync(path.join(pkg, file.path)),
    { executionProviders: [ep], logSeverityLevel: verbose ? 0 : 2 });
  const feeds = Object.fromEntries(Object.entries(testCase[graph].inputs).map(([role, t]) => [file.inputs[role], toTensor(t)]));
  const out = await session.run(feeds);
  for (const [role, expected] of Object.entries(testCase[graph].outputs)) {
    const got = out[file.outputs[role]];
    let err = 0, scale = 0;
    expected.data.forEach((x, i) => { err = Math.max(err, Math.abs(got.data[i] - x)); scale = Math.max(scale, Math.abs(x)); });
    worst = Math.max(worst, err / scale);
    console.log(`${ep} ${graph} ${role} [${got.dims.join(',')}]: max abs err ${err.toExponential(2)} (max |x| ${scale.toExponential(2)})`);
  }
}
console.log(worst < 1e-4 ? 'ok' : `MISMATCH ${worst}`);
process.exit(worst < 1e-4 ? 0 : 1);
