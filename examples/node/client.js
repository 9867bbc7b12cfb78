// Calling Python from Node through pyrpoold, with msgpack-rpc-lite from npm
// (unchanged). Usage: node client.js [SOCKET]   (npm install first)
const rpc = require('msgpack-rpc-lite');

const client = new rpc.Client({ path: process.argv[2] || 'run/pyrpoold.sock' });

async function main() {
  const [root] = await client.request('math.sqrt', 16);                    // shorthand: params = args
  const [text] = await client.request('call', 'json', 'dumps', [{ b: 1, a: 2 }], { sort_keys: true });
  console.log(root, text);                                                  // 4 {"a": 2, "b": 1}
  try {
    await client.request('operator.truediv', 1, 0);
  } catch (err) {                                                           // the error map
    console.log(`${err.type}: ${err.message}`);                             // ZeroDivisionError: division by zero
  }
  client.close();
}

main().catch((err) => { console.error(err); process.exit(1); });
