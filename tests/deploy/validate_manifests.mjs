// Validates Kubernetes manifests against the API schema with the npm package
// kubernetes-models (JSON-schema validation generated from Kubernetes'
// OpenAPI): types, quantity and other formats, required fields, enums.
//   node validate_manifests.mjs MODULES_DIR FILE...
// MODULES_DIR holds node_modules/ with kubernetes-models and js-yaml
// (scripts/install-deps.sh installs them). Prints one line per document;
// exits 1 if any document fails.
import fs from 'fs';
import path from 'path';
import { pathToFileURL } from 'url';

const [modulesDir, ...files] = process.argv.slice(2);
const load = (rel) => import(pathToFileURL(path.join(modulesDir, 'node_modules', rel)).href);
const yaml = (await load('js-yaml/dist/js-yaml.mjs')).default;
let failed = 0;
for (const file of files) {
  const docs = yaml.loadAll(fs.readFileSync(file, 'utf8'));
  docs.forEach((doc, i) => {
    if (doc === null) return;
    const where = `${file} document ${i + 1} (${doc.kind} ${doc.metadata && doc.metadata.name})`;
    docs[i] = { where, doc };
  });
  for (const entry of docs) {
    if (!entry || !entry.where) continue;
    const { where, doc } = entry;
    const group = doc.apiVersion.includes('/') ? doc.apiVersion : `v1`;
    let model;
    try {
      model = await load(`kubernetes-models/${group}/${doc.kind}.js`);
    } catch (e) {
      console.log(`FAIL ${where}: no schema for ${doc.apiVersion} ${doc.kind}`);
      failed++;
      continue;
    }
    try {
      new model[doc.kind](doc).validate();
      console.log(`ok   ${where}`);
    } catch (e) {
      console.log(`FAIL ${where}: ${e.message}`);
      failed++;
    }
  }
}
process.exit(failed ? 1 : 0);
