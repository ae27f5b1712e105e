// The generated Gestor Clientes Max node, driven as n8n drives it (`execute` with an execution
// context as `this`), against the real nodehost binary and a real sandbox.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { NodeApiError, NodeOperationError } = require('n8n-workflow');

const { GestorClientesMaxCliente } = require('../nodes/GestorClientesMaxCliente/GestorClientesMaxCliente.node.js');
const { GestorClientesMaxApi } = require('../credentials/GestorClientesMaxApi.credentials.js');
const { nodehostBinary, startSandbox, startServe, executionContext, recordingBinary, API_KEY } = require('./support');

let sandbox;
const node = new GestorClientesMaxCliente();
const env = () => ({ NODEHOST_BIN: nodehostBinary() });

before(async () => {
  sandbox = await startSandbox();
});
after(() => sandbox.stop());

/** Run the node as n8n would, with the given form, input items and environment. */
function execute(options, environment = env()) {
  const context = executionContext({ credentials: sandbox.credentials, ...options });
  const saved = { ...process.env };
  Object.assign(process.env, environment);
  for (const key of ['NODEHOST_SERVE_URL', 'NODEHOST_SERVE_TOKEN']) {
    if (!(key in environment)) delete process.env[key];
  }
  return node.execute.call(context).finally(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });
}

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('the execution should have failed');
}

test('the package loads as n8n loads it: the node and its credential type', () => {
  const pkg = require('../package.json');
  assert.deepEqual(pkg.n8n.nodes, ['nodes/GestorClientesMaxCliente/GestorClientesMaxCliente.node.js']);
  assert.deepEqual(pkg.n8n.credentials, ['credentials/GestorClientesMaxApi.credentials.js']);
  assert.ok(pkg.keywords.includes('n8n-community-node-package'));
  assert.equal(node.description.name, 'gestorClientesMaxCliente');
  assert.equal(node.description.parametersSchema, undefined, "nodehost's own members stay out");
  const credential = new GestorClientesMaxApi();
  assert.equal(credential.name, 'gestorClientesMaxApi');
  assert.deepEqual(
    credential.properties.map((p) => [p.name, p.typeOptions?.password === true]),
    [
      ['baseUrl', false],
      ['apiKey', true],
    ],
  );
  assert.deepEqual(credential.test.request, { baseURL: '={{$credentials.baseUrl}}', url: '/test-connection' });
  assert.equal(credential.authenticate.properties.headers.Authorization, '=Bearer {{$credentials.apiKey}}');
});

test("the credential's Test request, as n8n sends it, is accepted with the key and refused without", async () => {
  const credential = new GestorClientesMaxApi();
  // n8n resolves `={{$credentials.NAME}}` expressions against the credential's data.
  const resolve = (text, data) => text.replace(/^=/, '').replace(/\{\{\s*\$credentials\.(\w+)\s*\}\}/g, (_, name) => data[name]);
  const send = (data) =>
    fetch(resolve(credential.test.request.baseURL, data) + credential.test.request.url, {
      headers: { authorization: resolve(credential.authenticate.properties.headers.Authorization, data) },
    });
  assert.equal((await send(sandbox.credentials)).status, 200);
  assert.equal((await send({ ...sandbox.credentials, apiKey: 'gck_' + 'e5'.repeat(32) })).status, 401);
});

test('create without a userId sends only the fields the user added', async () => {
  const [items] = await execute({
    parameters: {
      operation: 'create',
      name: 'Ana Souza',
      additionalFields: { email: 'ana@example.com', cpf: '529.982.247-25', city: 'Recife' },
    },
  });
  assert.equal(items.length, 1);
  assert.deepEqual(items[0].pairedItem, { item: 0 });
  const created = items[0].json;
  assert.equal(created.name, 'Ana Souza');
  assert.equal(created.cpf, '52998224725');
  assert.equal(created.city, 'Recife');
  assert.equal(created.phone, null, 'a field never added is not sent');
  const stored = (await sandbox.clients()).find((c) => c.id === created.id);
  assert.equal(stored.email, 'ana@example.com');
});

test('Get Many returns one item per client, each paired with its input item', async () => {
  const all = (await sandbox.clients()).length;
  const [items] = await execute({ parameters: { operation: 'getAll', returnAll: true } });
  assert.equal(items.length, all);
  assert.ok(items.every((item) => item.pairedItem.item === 0 && typeof item.json.id === 'number'));

  // Limit only counts while Return All is off; it is not even read otherwise.
  const [limited] = await execute({ parameters: { operation: 'getAll', returnAll: false, limit: 2 } });
  assert.equal(limited.length, 2);
});

test('many Get items run in one nodehost process, in input order', async () => {
  const recording = recordingBinary();
  const ids = Array.from({ length: 40 }, (_, i) => (i % 3) + 1);
  const [items] = await execute(
    {
      parameters: (index) => ({ operation: 'get', clientId: ids[index] }),
      items: ids.map((id) => ({ id })),
    },
    { NODEHOST_BIN: recording.script },
  );
  assert.deepEqual(
    items.map((item) => [item.pairedItem.item, item.json.id]),
    ids.map((id, index) => [index, id]),
  );
  const calls = recording.calls();
  assert.equal(calls.split('\n').filter((line) => line.startsWith('ARGS ')).length, 1, calls);
  assert.ok(!calls.includes(API_KEY), 'the key is in neither the arguments nor the environment');
});

test('update sends only the Update Fields, and delete confirms', async () => {
  const [[created]] = await execute({ parameters: { operation: 'create', name: 'Bia', additionalFields: { city: 'Natal' } } });
  const id = created.json.id;
  const [[updated]] = await execute({
    parameters: { operation: 'update', clientId: id, updateFields: { paymentStatus: 'pago' } },
  });
  assert.equal(updated.json.paymentStatus, 'pago');
  assert.equal(updated.json.city, 'Natal', 'fields not in Update Fields are left alone');

  const [deleted] = await execute({ parameters: { operation: 'delete', clientId: id } });
  assert.deepEqual(deleted, [{ json: { deleted: true, id }, pairedItem: { item: 0 } }]);
  assert.ok(!(await sandbox.clients()).some((c) => c.id === id));
});

test('an invalid item is a NodeOperationError naming the item and the field, and nothing is sent', async () => {
  const before = await sandbox.requests();
  const error = await rejection(
    execute({
      parameters: (index) => ({
        operation: 'create',
        name: `Client ${index}`,
        additionalFields: index === 1 ? { cpf: '123.456.789-00' } : {},
      }),
      items: [{}, {}, {}],
    }),
  );
  assert.ok(error instanceof NodeOperationError, error);
  assert.equal(error.context.itemIndex, 1);
  assert.match(error.message, /item 1: field `cpf`: expected an 11-digit CPF/);
  assert.match(error.description, /Nothing was sent/);
  const afterwards = await sandbox.requests();
  assert.equal(afterwards['POST /api/clients'] ?? 0, before['POST /api/clients'] ?? 0);
});

test('an API 404 is a NodeApiError with the status and the API message, and says what was applied', async () => {
  const error = await rejection(
    execute({ parameters: (index) => ({ operation: 'get', clientId: [1, 999999][index] }), items: [{}, {}] }),
  );
  assert.ok(error instanceof NodeApiError, error);
  assert.equal(error.httpCode, '404');
  assert.equal(error.context.itemIndex, 1);
  assert.match(error.message, /Cliente não encontrado/);
  assert.match(error.description, /applied: items 0; failed: 1/);
  assert.ok(!JSON.stringify(error).includes(API_KEY));
});

test('under continue-on-fail a 404 becomes an error item in its place', async () => {
  const [items] = await execute({
    parameters: (index) => ({ operation: 'get', clientId: [999999, 2][index] }),
    items: [{}, {}],
    continueOnFail: true,
  });
  assert.equal(items.length, 2);
  assert.deepEqual(items[0].pairedItem, { item: 0 });
  assert.match(items[0].json.error, /404 Not Found: Cliente não encontrado/);
  assert.equal(items[0].json.httpStatus, 404);
  assert.equal(items[1].json.id, 2);
});

test('a missing binary says how to point n8n at nodehost', async () => {
  const error = await rejection(
    execute({ parameters: { operation: 'getAll', returnAll: true } }, { NODEHOST_BIN: path.join(__dirname, 'no-such-nodehost') }),
  );
  assert.ok(error instanceof NodeOperationError, error);
  assert.match(error.message, /set NODEHOST_BIN/);
});

test('wrong credentials are reported without the key', async () => {
  const error = await rejection(
    execute({
      parameters: { operation: 'get', clientId: 1 },
      credentials: { baseUrl: sandbox.baseUrl, apiKey: 'gck_' + 'b2'.repeat(32) },
    }),
  );
  assert.ok(error instanceof NodeApiError, error);
  assert.equal(error.httpCode, '401');
  assert.ok(!error.message.includes('b2b2b2'));
});

test('with NODEHOST_SERVE_URL the items run through a running nodehost serve', async () => {
  const token = 'serve-token-for-the-n8n-tests';
  const serve = await startServe(token);
  try {
    const environment = { NODEHOST_SERVE_URL: serve.url, NODEHOST_SERVE_TOKEN: token };
    const [items] = await execute(
      { parameters: (index) => ({ operation: 'get', clientId: index + 1 }), items: [{}, {}, {}] },
      environment,
    );
    assert.deepEqual(
      items.map((item) => item.json.id),
      [1, 2, 3],
    );
    const error = await rejection(execute({ parameters: { operation: 'get', clientId: 999999 } }, environment));
    assert.ok(error instanceof NodeApiError, error);
    assert.equal(error.httpCode, '404');

    const refused = await rejection(
      execute({ parameters: { operation: 'get', clientId: 1 } }, { ...environment, NODEHOST_SERVE_TOKEN: 'wrong-token-wrong-token' }),
    );
    assert.ok(refused instanceof NodeOperationError, refused);
    assert.match(refused.message, /nodehost serve/);
  } finally {
    serve.stop();
  }
});
