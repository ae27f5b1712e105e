// The n8n form of an item onto the flat item `nodehost run` reads: what is shown is read, a
// collection's fields are spread into the item, and what is hidden is neither read nor sent.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { itemParameters, isShown, settings } = require('../lib/nodehost');
const { GestorClientesMaxCliente } = require('../nodes/GestorClientesMaxCliente/GestorClientesMaxCliente.node.js');
const { executionContext } = require('./support');

const { properties } = new GestorClientesMaxCliente().description;

function flat(parameters) {
  const context = executionContext({ parameters });
  return { item: itemParameters(context, properties, 0), asked: context.asked };
}

test('a create sends its required fields and the Additional Fields the user added', () => {
  const { item, asked } = flat({
    operation: 'create',
    name: 'Ana',
    additionalFields: { email: 'ana@example.com', consultationPrice: 0 },
    clientId: 7,
    updateFields: { city: 'Recife' },
  });
  assert.deepEqual(item, { operation: 'create', name: 'Ana', email: 'ana@example.com', consultationPrice: 0 });
  assert.ok(!asked.includes('clientId') && !asked.includes('updateFields'), asked.join());
});

test('Limit is read only while Return All is off', () => {
  assert.deepEqual(flat({ operation: 'getAll', returnAll: true, limit: 5 }).item, { operation: 'getAll', returnAll: true });
  assert.deepEqual(flat({ operation: 'getAll', returnAll: false, limit: 5 }).item, {
    operation: 'getAll',
    returnAll: false,
    limit: 5,
  });
  assert.deepEqual(flat({ operation: 'search', q: 'souza', returnAll: false }).item, {
    operation: 'search',
    q: 'souza',
    returnAll: false,
    limit: 50,
  });
});

test('an update sends the Client ID and only the Update Fields', () => {
  assert.deepEqual(flat({ operation: 'update', clientId: '12', updateFields: { name: 'Bia' } }).item, {
    operation: 'update',
    clientId: '12',
    name: 'Bia',
  });
  assert.deepEqual(flat({ operation: 'delete', clientId: 3 }).item, { operation: 'delete', clientId: 3 });
});

test('an upsert sends its match key and its Additional Fields', () => {
  assert.deepEqual(
    flat({ operation: 'upsert', name: 'Ana', matchBy: 'email', additionalFields: { email: 'a@b.co' } }).item,
    { operation: 'upsert', name: 'Ana', matchBy: 'email', email: 'a@b.co' },
  );
});

test('displayOptions: show and hide', () => {
  const property = { displayOptions: { show: { operation: ['get'] }, hide: { returnAll: [true] } } };
  assert.equal(isShown(property, { operation: 'get' }), true);
  assert.equal(isShown(property, { operation: 'get', returnAll: true }), false);
  assert.equal(isShown(property, { operation: 'create' }), false);
  assert.equal(isShown({}, {}), true);
});

test('settings come from the n8n process environment', () => {
  assert.deepEqual(settings({}), { binary: 'nodehost', serveUrl: undefined, serveToken: undefined, concurrency: undefined });
  assert.deepEqual(
    settings({ NODEHOST_BIN: '/opt/nodehost', NODEHOST_SERVE_URL: 'http://h:5900/', NODEHOST_CONCURRENCY: '16' }),
    { binary: '/opt/nodehost', serveUrl: 'http://h:5900', serveToken: undefined, concurrency: 16 },
  );
  assert.equal(settings({ NODEHOST_CONCURRENCY: 'many' }).concurrency, undefined);
});
