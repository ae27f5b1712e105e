// The runtime of every generated node: it turns the n8n form of each input item into the flat
// item `nodehost run` reads, runs all of the execution's items through nodehost at once (the
// `nodehost` binary, or a running `nodehost serve`), and maps the run document back onto n8n:
// output items with their `pairedItem`, error items under continue-on-fail, and a failed run as
// a NodeApiError (an API answer, with its HTTP status) or a NodeOperationError (naming the item).
'use strict';

const { spawn } = require('node:child_process');

// The error classes of the n8n that loaded this package (its own copy of n8n-workflow), so n8n
// recognises them; this package's copy when run outside n8n (its tests).
function n8nWorkflow() {
  try {
    return require.main.require('n8n-workflow');
  } catch {
    return require('n8n-workflow');
  }
}

/** Where and how to run nodehost; read per execution, from the n8n process's environment. */
function settings(env = process.env) {
  const concurrency = env.NODEHOST_CONCURRENCY ? Number(env.NODEHOST_CONCURRENCY) : undefined;
  return {
    binary: env.NODEHOST_BIN || 'nodehost',
    serveUrl: env.NODEHOST_SERVE_URL ? env.NODEHOST_SERVE_URL.replace(/\/+$/, '') : undefined,
    serveToken: env.NODEHOST_SERVE_TOKEN || undefined,
    concurrency: Number.isInteger(concurrency) && concurrency > 0 ? concurrency : undefined,
  };
}

/** Whether a property is shown for the parameter values read so far (n8n's displayOptions). */
function isShown(property, values) {
  const { show, hide } = property.displayOptions || {};
  for (const [name, allowed] of Object.entries(show || {})) {
    if (!allowed.includes(values[name])) return false;
  }
  for (const [name, hidden] of Object.entries(hide || {})) {
    if (hidden.includes(values[name])) return false;
  }
  return true;
}

/**
 * The flat nodehost item for input item `index`: every property the form shows for it, with
 * the values of a collection ("Additional Fields", "Update Fields") spread into the item, so a
 * field the user never added is never sent.
 */
function itemParameters(context, properties, index) {
  const values = {};
  const item = {};
  for (const property of properties) {
    if (property.type === 'notice' || !isShown(property, values)) continue;
    const value = context.getNodeParameter(property.name, index, property.default);
    values[property.name] = value;
    if (property.type === 'collection') {
      Object.assign(item, value || {});
    } else {
      item[property.name] = value;
    }
  }
  return item;
}

/**
 * The execution's credentials, as nodehost's credential type reads them: only its own fields
 * (`fields`), since n8n adds members of its own (`allowedHttpRequestDomains`, ...) to the data.
 */
async function credentials(context, description, fields) {
  const [first] = description.credentials || [];
  if (!first) return undefined;
  const data = (await context.getCredentials(first.name)) || {};
  const names = fields[first.name] || Object.keys(data);
  const flat = {};
  for (const name of names) {
    const value = data[name];
    if (value !== undefined && value !== null && value !== '') flat[name] = value;
  }
  return flat;
}

/** Raised when nodehost itself could not be run or refused the invocation. */
class NodehostFailure extends Error {
  constructor(message, httpStatus) {
    super(message);
    this.httpStatus = httpStatus;
  }
}

/** Run the envelope through the `nodehost` binary: one process for all the items. */
function viaBinary(nodeName, envelope, config) {
  const args = ['run', nodeName, '--quiet'];
  if (config.concurrency) args.push('--concurrency', String(config.concurrency));
  return new Promise((resolve, reject) => {
    // The envelope, credentials included, goes on stdin: never in the arguments or the
    // environment, which other processes on the machine can list.
    const child = spawn(config.binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', (error) => {
      reject(
        new NodehostFailure(
          error.code === 'ENOENT'
            ? `nodehost is not installed where n8n looks for it (${config.binary}): put it on ` +
                "n8n's PATH or set NODEHOST_BIN to its path (or NODEHOST_SERVE_URL to a running nodehost serve)"
            : `cannot start nodehost (${config.binary}): ${error.message}`,
        ),
      );
    });
    child.stdin.on('error', () => {}); // an early exit is reported by 'close'
    child.on('close', (code) => {
      const text = Buffer.concat(stdout).toString('utf8');
      const messages = Buffer.concat(stderr)
        .toString('utf8')
        .split('\n')
        .map((line) => line.replace(/^nodehost: /, '').trim())
        .filter(Boolean);
      if (code === 0 || code === 1) {
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new NodehostFailure(`nodehost exited with status ${code} without a run document: ${messages.join('; ')}`));
        }
      } else {
        reject(new NodehostFailure(messages.join('; ') || `nodehost exited with status ${code}`));
      }
    });
    child.stdin.end(JSON.stringify(envelope));
  });
}

/** Run the envelope through a running `nodehost serve`. */
async function viaServe(nodeName, envelope, config) {
  const url = new URL(`${config.serveUrl}/v1/nodes/${encodeURIComponent(nodeName)}/run`);
  if (config.concurrency) url.searchParams.set('concurrency', String(config.concurrency));
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (config.serveToken) headers.authorization = `Bearer ${config.serveToken}`;
  let response;
  try {
    response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(envelope) });
  } catch (error) {
    throw new NodehostFailure(`cannot reach nodehost serve at ${config.serveUrl}: ${error.cause?.message || error.message}`);
  }
  const body = await response.json().catch(() => undefined);
  // 200 completed, 422 invalid items, 424 stopped on an item failure: all three are run documents.
  if ([200, 422, 424].includes(response.status) && body && Array.isArray(body.items)) return body;
  const message = body?.error?.message || `answered ${response.status}`;
  throw new NodehostFailure(`nodehost serve: ${message}`, response.status);
}

function ranges(list) {
  return (list || []).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ');
}

/** What a stopped run did, for the error's description. */
function accounting(error) {
  const parts = [];
  if (error.applied?.length) parts.push(`applied: items ${ranges(error.applied)}`);
  if (error.failed?.length) parts.push(`failed: ${ranges(error.failed)}`);
  if (error.notRun?.length) parts.push(`not run: ${ranges(error.notRun)}`);
  if (error.maybeApplied?.length) {
    parts.push(`maybe applied (check before re-running): ${ranges(error.maybeApplied)}`);
  }
  return parts.join('; ');
}

/** The n8n error for a run document's `error` (the run stopped). */
function stopError(node, error) {
  const { NodeApiError, NodeOperationError } = n8nWorkflow();
  if (error.reason === 'invalidItems') {
    const invalid = error.invalidItems || [];
    const first = invalid[0];
    const description =
      invalid.map((item) => item.message).join('\n') + '\nNothing was sent: fix these items and run again.';
    return new NodeOperationError(node, first ? first.message : error.message, {
      itemIndex: first ? first.item : undefined,
      description,
    });
  }
  const description = accounting(error);
  if (error.httpStatus) {
    const httpCode = String(error.httpStatus);
    return new NodeApiError(
      node,
      { message: error.message, httpCode, ...(error.details ? { details: error.details } : {}) },
      { message: error.message, description, httpCode, itemIndex: error.item },
    );
  }
  return new NodeOperationError(node, error.message, { itemIndex: error.item, description });
}

/**
 * The `execute` of every generated node. `context` is n8n's execution context (the `this` of
 * `execute`), `nodeName` the nodehost node, `description` its n8n description,
 * `credentialFields` the fields of each of its credential types, `env` where settings are read.
 */
async function runNode(context, nodeName, description, { credentialFields = {}, env = process.env } = {}) {
  const { NodeOperationError } = n8nWorkflow();
  const node = context.getNode();
  const inputs = context.getInputData();
  const envelope = {
    items: inputs.map((_, index) => itemParameters(context, description.properties, index)),
    continueOnFail: context.continueOnFail(),
  };
  const given = await credentials(context, description, credentialFields);
  if (given) envelope.credentials = given;
  const config = settings(env);
  let document;
  try {
    document = config.serveUrl
      ? await viaServe(nodeName, envelope, config)
      : await viaBinary(nodeName, envelope, config);
  } catch (error) {
    if (!(error instanceof NodehostFailure)) throw error;
    throw new NodeOperationError(node, error.message);
  }
  if (document.error) throw stopError(node, document.error);
  return [document.items.map((item) => toN8nItem(item))];
}

/** An output item; a continue-on-fail error item in n8n's shape, `{error: message, ...}`. */
function toN8nItem(item) {
  const error = item.json && item.json.error;
  if (error && typeof error === 'object' && typeof error.message === 'string') {
    const { message, ...rest } = error;
    return { json: { error: message, ...rest }, pairedItem: item.pairedItem };
  }
  return { json: item.json, pairedItem: item.pairedItem };
}

module.exports = { runNode, itemParameters, isShown, settings };
