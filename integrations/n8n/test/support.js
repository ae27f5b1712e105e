// What the package's tests share: the real nodehost binary, a real sandbox (the local emulator
// of the Gestor Clientes Max API) started from it, and a stand-in for n8n's execution context.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const root = path.resolve(__dirname, '..', '..', '..');

/** The nodehost binary under test: NODEHOST_BIN, or the workspace's debug build. */
function nodehostBinary() {
  const binary = process.env.NODEHOST_BIN || path.join(root, 'target', 'debug', 'nodehost');
  if (!fs.existsSync(binary)) {
    throw new Error(`no nodehost binary at ${binary}: run \`cargo build -p nodehost-cli\` or set NODEHOST_BIN`);
  }
  return binary;
}

const API_KEY = 'gck_' + 'a1'.repeat(32);

/** Start a process and resolve with it and the first line of `stream` that matches `pattern`. */
function startAndRead(args, stream, pattern, env = {}) {
  const child = spawn(nodehostBinary(), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child[stream] });
    const seen = [];
    lines.on('line', (line) => {
      seen.push(line);
      const match = line.match(pattern);
      if (match) resolve({ child, match });
    });
    child.on('exit', (code) => reject(new Error(`nodehost ${args[0]} exited (${code}): ${seen.join('\n')}`)));
    child[stream === 'stdout' ? 'stderr' : 'stdout'].resume();
  });
}

/** A fresh in-memory sandbox with its three sample clients (ids 1 to 3). */
async function startSandbox() {
  const { child, match } = await startAndRead(
    ['sandbox', '--listen', '127.0.0.1:0', '--db', ':memory:', '--api-key', API_KEY, '--seed', '3'],
    'stderr',
    /sandbox listening on (\S+)/,
  );
  const baseUrl = match[1];
  const get = async (pathname) => {
    const response = await fetch(`${baseUrl}${pathname}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    return response.json();
  };
  return {
    baseUrl,
    credentials: { baseUrl, apiKey: API_KEY },
    /** Every client record. */
    clients: () => get('/clients'),
    /** Requests per `METHOD /path` since start. */
    requests: async () => (await get('/__sandbox/stats')).requests,
    stop: () => child.kill(),
  };
}

/** `nodehost serve` on a free loopback port, with a token. */
async function startServe(token) {
  const { child, match } = await startAndRead(
    ['serve', '--listen', '127.0.0.1:0'],
    'stdout',
    /"listening":"([^"]+)"/,
    { NODEHOST_TOKEN: token },
  );
  return { url: match[1], stop: () => child.kill() };
}

/**
 * A stand-in for n8n's execution context (`this` of `execute`): `parameters` is the node's
 * form, one object for every item or a function of the item index (as expressions give).
 */
function executionContext({ parameters, items = [{}], continueOnFail = false, credentials }) {
  const form = typeof parameters === 'function' ? parameters : () => parameters;
  const asked = [];
  return {
    asked,
    getNode: () => ({
      name: 'Gestor Clientes Max Cliente',
      type: 'n8n-nodes-nodehost.gestorClientesMaxCliente',
      typeVersion: 1,
      parameters: form(0),
    }),
    getInputData: () => items.map((json) => ({ json })),
    getNodeParameter: (name, index, fallback) => {
      asked.push(name);
      const values = form(index);
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : fallback;
    },
    continueOnFail: () => continueOnFail,
    getCredentials: async (name) => {
      if (name !== 'gestorClientesMaxApi') throw new Error(`unexpected credential type ${name}`);
      // n8n adds members of its own to a credential's data.
      return { ...credentials, allowedHttpRequestDomains: 'all' };
    },
  };
}

/** A script that records how it was started (arguments, environment) and runs nodehost. */
function recordingBinary() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodehost-n8n-'));
  const log = path.join(dir, 'calls.log');
  const script = path.join(dir, 'nodehost');
  fs.writeFileSync(
    script,
    `#!/bin/sh\n{ echo "ARGS $*"; env | sed 's/^/ENV /'; } >> '${log}'\nexec '${nodehostBinary()}' "$@"\n`,
    { mode: 0o755 },
  );
  return { script, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '') };
}

module.exports = { nodehostBinary, startSandbox, startServe, executionContext, recordingBinary, API_KEY };
