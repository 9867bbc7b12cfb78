// An off-the-shelf MessagePack-RPC client in Node: msgpack-rpc-lite from
// npm, used unchanged, over TCP with the listener's token (auth is just its
// first request). Run by tests/e2e/test_offtheshelf.py.
// Usage: node node_msgpackrpc.js PORT TOKEN
// Prints one JSON line per step for the test to check.
const rpc = require('msgpack-rpc-lite');

const [port, token] = [Number(process.argv[2]), process.argv[3]];
const client = rpc.createClient(port, '127.0.0.1');
const report = (step, result, error) => console.log(JSON.stringify({ step, result, error }));

async function step(name, method, ...params) {
  try {
    const [result] = await client.request(method, ...params);
    report(name, result, null);
  } catch (err) {
    report(name, null, err);
  }
}

async function main() {
  await step('auth', 'auth', token);
  await step('hello', 'hello', 'msgpack-rpc-lite', '1.0.2');
  await step('sqrt', 'math.sqrt', 16);
  // an empty object and an empty array for kwargs and opts
  await step('kwargs', 'call', 'json', 'dumps', [[1, 2]], {}, []);
  await step('error', 'operator.truediv', 1, 0);
  await step('daemon_error', 'call', 'math', 'sqrt', [1], null, { pool: 'nope' });
  await step('after', 'math.sqrt', 25);
  // many in flight on the one connection after the errors
  const all = await Promise.all([...Array(100).keys()].map((i) => client.request('math.sqrt', i * i)));
  report('pipelined', all.reduce((sum, [r]) => sum + r, 0), null);
  client.close();
}

main().catch((err) => { console.error(err); process.exit(1); });
