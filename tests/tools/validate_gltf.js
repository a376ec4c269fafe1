// Validate one glTF/GLB file with the Khronos validator and print its JSON report on stdout.
// Usage: node validate_gltf.js FILE.glb
const fs = require("fs");
const validator = require("gltf-validator");

const file = process.argv[2];
const data = new Uint8Array(fs.readFileSync(file));
validator
  .validateBytes(data, { uri: file, maxIssues: 100 })
  .then((report) => {
    process.stdout.write(JSON.stringify(report, null, 1));
  })
  .catch((error) => {
    process.stderr.write(`validator failed: ${error}\n`);
    process.exit(2);
  });
