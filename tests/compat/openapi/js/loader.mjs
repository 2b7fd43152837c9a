// Node ESM hooks that load the OpenAPI-Generator `javascript` client straight from its generated
// ES-module sources (`src/`), which is what its `npm run build` (babel) would otherwise
// transpile to CommonJS. Two things stop Node from loading them as they are:
//   * relative imports have no extension (`import ApiClient from './ApiClient'`), and
//   * the generated package.json has no "type": "module", so `.js` would mean CommonJS.
// So, for files under OPENAPI_JS_CLIENT_DIR only: try `<specifier>.js` when a relative import
// is not found, load `.js` as ES modules, and resolve bare imports (`superagent`) from this
// harness's node_modules (the generated package is not npm-installed). Nothing else changes:
// the client's code runs exactly as generated.
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const clientDir = process.env.OPENAPI_JS_CLIENT_DIR;
if (!clientDir) throw new Error('OPENAPI_JS_CLIENT_DIR is not set (run tests/compat/run-openapi.sh)');
const clientUrl = pathToFileURL(path.resolve(clientDir) + path.sep).href;
const harnessUrl = new URL('./', import.meta.url).href;
const inClient = (url) => typeof url === 'string' && url.startsWith(clientUrl);

export async function resolve(specifier, context, next) {
  if (!inClient(context.parentURL)) return next(specifier, context);
  if (specifier.startsWith('.')) {
    try {
      return await next(specifier, context);
    } catch (err) {
      if (err?.code !== 'ERR_MODULE_NOT_FOUND' && err?.code !== 'ERR_UNSUPPORTED_DIR_IMPORT') throw err;
      return next(`${specifier}.js`, context);
    }
  }
  if (specifier.startsWith('node:') || specifier.includes(':')) return next(specifier, context);
  // Bare specifiers: node builtins resolve anywhere; packages from the harness.
  return next(specifier, { ...context, parentURL: harnessUrl });
}

export async function load(url, context, next) {
  if (inClient(url) && url.endsWith('.js')) {
    return next(url, { ...context, format: 'module' });
  }
  return next(url, context);
}
