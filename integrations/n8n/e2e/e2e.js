// End to end in a real n8n: run by e2e/run.sh once n8n and the package are installed.
// Starts a sandbox, imports the credential and the workflows in workflows/, runs each with
// `n8n execute` and checks what a user would see. Prints a line per workflow; exits 1 on the
// first failed check.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const { N8N, NODEHOST_BIN, E2E_WORK } = process.env;
const API_KEY = 'gck_' + 'c3'.repeat(32);
const SEEDED = 1000;

function startSandbox() {
  const child = spawn(
    NODEHOST_BIN,
    ['sandbox', '--listen', '127.0.0.1:0', '--db', ':memory:', '--api-key', API_KEY, '--seed', String(SEEDED)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stderr }).on('line', (line) => {
      const match = line.match(/sandbox listening on (\S+)/);
      if (match) resolve({ child, baseUrl: match[1] });
    });
    child.on('exit', (code) => reject(new Error(`the sandbox exited (${code})`)));
  });
}

/** `n8n ARGS`, with the time and peak memory of the process (from /usr/bin/time when present). */
function n8n(args) {
  const timed = fs.existsSync('/usr/bin/time');
  const started = process.hrtime.bigint();
  const result = timed
    ? spawnSync('/usr/bin/time', ['-f', 'PEAK_RSS_KIB=%M', N8N, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 })
    : spawnSync(N8N, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peak = (result.stderr.match(/PEAK_RSS_KIB=(\d+)/) || [])[1];
  return { ...result, seconds, peakMiB: peak ? Number(peak) / 1024 : undefined };
}

/** The items a node output in a successful `n8n execute --rawOutput`. */
function outputOf(result, nodeName) {
  const start = result.stdout.indexOf('{');
  assert.ok(start >= 0, `no execution document:\n${result.stdout}\n${result.stderr}`);
  const execution = JSON.parse(result.stdout.slice(start));
  const runs = execution.data.resultData.runData[nodeName];
  assert.ok(runs, `node "${nodeName}" did not run:\n${result.stdout.slice(0, 2000)}`);
  return runs[0].data.main[0];
}

async function clients(baseUrl) {
  const response = await fetch(`${baseUrl}/clients`, { headers: { authorization: `Bearer ${API_KEY}` } });
  return response.json();
}

const printed = [];

function execute(id) {
  const result = n8n(['execute', `--id=${id}`, '--rawOutput']);
  printed.push(result.stdout, result.stderr);
  return result;
}

function succeeded(result, what) {
  assert.equal(result.status, 0, `${what}: n8n execute failed:\n${result.stdout}\n${result.stderr}`);
}

async function main() {
  const { child: sandbox, baseUrl } = await startSandbox();
  const report = [];
  try {
    const credentials = path.join(E2E_WORK, 'credentials.json');
    fs.writeFileSync(
      credentials,
      JSON.stringify([
        {
          id: 'gcmSandboxCred01',
          name: 'Gestor Clientes Max sandbox',
          type: 'gestorClientesMaxApi',
          data: { baseUrl, apiKey: API_KEY },
        },
      ]),
    );
    let result = n8n(['import:credentials', `--input=${credentials}`]);
    assert.equal(result.status, 0, `import:credentials failed:\n${result.stdout}\n${result.stderr}`);
    fs.rmSync(credentials);
    result = n8n(['import:workflow', '--separate', `--input=${path.join(__dirname, 'workflows')}`]);
    assert.equal(result.status, 0, `import:workflow failed:\n${result.stdout}\n${result.stderr}`);

    // What `n8n execute` costs before any node runs (its own start-up), to read the next figure by.
    result = execute('nodehostE2e0000a');
    succeeded(result, 'trigger only');
    const startup = result;

    // 1,000 Get-By-ID items: Get Many gives one item per client, and Get reads each by its ID,
    // all 1,000 in one nodehost process, in input order, each paired with its input item.
    result = execute('nodehostE2e0001a');
    succeeded(result, 'get by id x1000');
    const listed = outputOf(result, 'Get Many');
    assert.equal(listed.length, SEEDED, 'Get Many: one item per client');
    const got = outputOf(result, 'Get by ID');
    assert.equal(got.length, SEEDED);
    got.forEach((item, index) => {
      assert.equal(item.json.id, listed[index].json.id, `item ${index} in input order`);
      assert.deepEqual(item.pairedItem, { item: index });
    });
    const timing = (r) => `${r.seconds.toFixed(2)} s` + (r.peakMiB ? `, peak RSS ${r.peakMiB.toFixed(0)} MiB` : '');
    report.push(`1,000 Get-By-ID items: ok (n8n execute ${timing(result)}; a trigger alone ${timing(startup)})`);

    result = execute('nodehostE2e0002a');
    succeeded(result, 'create');
    const [created] = outputOf(result, 'Create');
    assert.equal(created.json.name, 'Ana Souza');
    assert.equal(created.json.cpf, '52998224725');
    // The workflow gives no userId (the original node refused to create without one); the API
    // assigns the key's own user.
    assert.equal(typeof created.json.userId, 'string');
    assert.ok((await clients(baseUrl)).some((c) => c.id === created.json.id), 'stored');
    report.push(`create without userId: ok (client ${created.json.id})`);

    result = execute('nodehostE2e0003a');
    succeeded(result, 'get many');
    const many = outputOf(result, 'Get Many');
    assert.equal(many.length, 25, 'Limit 25 with Return All off');
    assert.ok(many.every((item) => typeof item.json.id === 'number' && !Array.isArray(item.json)));
    report.push('Get Many: ok (one item per client)');

    result = execute('nodehostE2e0004a');
    succeeded(result, 'get');
    assert.equal(outputOf(result, 'Get')[0].json.id, 2);
    report.push('get: ok');

    result = execute('nodehostE2e0005a');
    succeeded(result, 'update');
    const [updated] = outputOf(result, 'Update');
    assert.equal(updated.json.city, 'Olinda');
    assert.equal(updated.json.paymentStatus, 'pago');
    report.push('update: ok');

    result = execute('nodehostE2e0006a');
    succeeded(result, 'delete');
    assert.deepEqual(outputOf(result, 'Delete')[0].json, { deleted: true, id: 3 });
    assert.ok(!(await clients(baseUrl)).some((c) => c.id === 3), 'client 3 is gone');
    report.push('delete: ok ({"deleted": true, "id": 3})');

    const before = (await clients(baseUrl)).length;
    result = execute('nodehostE2e0007a');
    assert.notEqual(result.status, 0, 'a validation error fails the execution');
    const said = result.stdout + result.stderr;
    assert.match(said, /item 0: field `cpf`: expected an 11-digit CPF/);
    assert.equal((await clients(baseUrl)).length, before, 'nothing was sent');
    report.push('validation error: ok (names item 0 and field `cpf`; nothing sent)');

    result = execute('nodehostE2e0008a');
    succeeded(result, '404 under continue-on-fail');
    const [failed] = outputOf(result, 'Get');
    assert.match(failed.json.error, /404 Not Found: Cliente não encontrado/);
    assert.equal(failed.json.httpStatus, 404);
    report.push('API 404 under continue-on-fail: ok (an error item)');

    assert.ok(!printed.some((text) => text.includes(API_KEY)), 'the API key appears in no output');
    report.push('the API key appears in no output of n8n');
  } finally {
    sandbox.kill();
    for (const line of report) console.log(`e2e: ${line}`);
  }
}

main().catch((error) => {
  console.error(`e2e: FAILED: ${error.message}`);
  process.exit(1);
});
